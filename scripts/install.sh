#!/usr/bin/env bash
# Installs this checkout as a system service; run as root after `npm ci`
# (`sudo npm run install:system -- --mode node`). It puts:
#   the package tree (bin, the compiled dist/, systemd, config, the production node_modules, the
#     native addon, as scripts/layout.sh lists them) in /usr/lib/brindle, replaced whole so no stale file
#     survives an upgrade;
#   /usr/local/bin/brindle and brindlectl, relative symlinks into it;
#   in node mode, the CNI plugin /opt/cni/bin/brindle-ipam, a relative symlink to its native front
#     (build/Release/brindle-ipam; the Node plugin bin/brindle-ipam when the front was not built);
#   the systemd units in /usr/lib/systemd/system and the sysusers file in /usr/lib/sysusers.d, and
#     creates the brindle user, when systemd is installed (nothing is started without --enable);
#   /etc/brindle/brindle.yaml from config/node.yaml or config/reflector.yaml (--mode); an existing
#     config is never overwritten: the shipped one goes to brindle.yaml.new;
#   /etc/iproute2/rt_protos.d/brindle.conf, "205 brindle" (fib.protocol's default), so `ip route`
#     shows `proto brindle`.
# Running it twice changes nothing the second time. With --prefix DIR (or DESTDIR=DIR) everything
# lands under DIR instead of / and no user, unit or service is touched: for packaging and tests.
# --dry-run prints what would change and changes nothing.
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The install layout (LIB, CONFIG, the units, the tree's contents), shared with package.sh.
# shellcheck source=scripts/layout.sh
source "$SRC/scripts/layout.sh"
readonly BIN=/usr/local/bin
# The directories systemd puts on a service's PATH: bin/brindle's `exec node` and the
# other programs' `#!/usr/bin/env node` must find node in one.
readonly SYSTEMD_PATH=(/usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin)

usage() {
  cat <<'EOF'
usage: scripts/install.sh --mode node|reflector [--prefix DIR] [--enable] [--dry-run]

  --mode MODE    node       a node speaker: brindle-node.service, config from config/node.yaml
                 reflector  a route-reflector VM: brindle-reflector.service, config/reflector.yaml
  --prefix DIR   install under DIR instead of / (DESTDIR=DIR does the same); no user is created
                 and no unit or service is touched
  --enable       then `systemctl enable --now brindle-MODE` (only when installing to /)
  --dry-run      print what would change, change nothing
  -h, --help     this help

Run as root from a checkout after `npm ci`. Idempotent; an existing /etc/brindle/brindle.yaml is
never overwritten (the shipped config goes to brindle.yaml.new).
EOF
}

die() {
  echo "install.sh: $*" >&2
  exit 1
}
usage_error() {
  echo "install.sh: $*" >&2
  usage >&2
  exit 2
}
warn() { echo "warning: $*" >&2; }

MODE=''
ROOT="${DESTDIR:-}"
ENABLE=false
DRY=false
while [ $# -gt 0 ]; do
  case "$1" in
    --mode) MODE="${2:-}"; shift 2 || usage_error '--mode needs a value' ;;
    --mode=*) MODE="${1#--mode=}"; shift ;;
    --prefix) ROOT="${2:-}"; shift 2 || usage_error '--prefix needs a value' ;;
    --prefix=*) ROOT="${1#--prefix=}"; shift ;;
    --enable) ENABLE=true; shift ;;
    --dry-run) DRY=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument \"$1\"" ;;
  esac
done
case "$MODE" in
  node | reflector) ;;
  '') usage_error 'give --mode node or --mode reflector' ;;
  *) usage_error "--mode must be node or reflector, not \"$MODE\"" ;;
esac
if [ -n "$ROOT" ]; then
  ROOT="$(realpath -m -- "$ROOT")"
  [ "$ROOT" = / ] && ROOT=''
fi
if [ -n "$ROOT" ] && $ENABLE; then usage_error '--enable starts a service: not with --prefix or DESTDIR'; fi

UNIT="brindle-$MODE.service"

# ---------------------------------------------------------------------------------------------------
# Output: one line per item, "would ..." under --dry-run.

# Past tense normally, "would be ..." under --dry-run; "unchanged" either way.
outcome() {
  if [ "$1" = unchanged ] || ! $DRY; then echo "$1"; else echo "would be $1"; fi
}
report() { printf '  %-9s %s: %s\n' "$1" "$2" "$3"; }
# Runs a command that changes the system, or prints it under --dry-run.
act() {
  if $DRY; then
    printf '    would run:'
    printf ' %q' "$@"
    printf '\n'
  else
    "$@"
  fi
}

# ---------------------------------------------------------------------------------------------------
# Checks before anything changes.

preflight() {
  grep -qs '"name": "brindle"' "$SRC/package.json" || die "$SRC is not a Brindle checkout"
  [ -d "$SRC/node_modules/rxjs" ] || die "no node_modules in $SRC: run \`npm ci\` first"
  [ -f "$SRC/$ENTRY" ] || die "no $ENTRY in $SRC: run \`npm ci\` (or \`npm run build\`) first"
  if [ -z "$ROOT" ] && ! $DRY && [ "$(id -u)" -ne 0 ]; then
    die 'run as root (sudo npm run install:system -- --mode ...), or pass --prefix DIR or --dry-run'
  fi
  local node
  node="$(command -v node || true)"
  [ -n "$node" ] || die 'node is not on PATH (Node.js >= 20.19 is needed)'
  "$node" -e 'const [a, b] = process.versions.node.split(".").map(Number);
    process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' ||
    die "Node.js >= 20.19 is needed; $node is $("$node" --version)"
  local dir found=false
  for dir in "${SYSTEMD_PATH[@]}"; do [ -x "$dir/node" ] && found=true; done
  $found || warn "node ($node) is in none of ${SYSTEMD_PATH[*]}: the units' \`node\`" \
    'will not be found; link it into /usr/local/bin'
  if [ ! -f "$SRC/$ADDON" ]; then
    if [ "$MODE" = node ]; then
      warn "no $ADDON (npm run build:native): node mode needs it for the kernel FIB, TCP MD5 and GTSM"
    else
      echo "note: no $ADDON; reflector mode runs without it (no TCP MD5 or GTSM)"
    fi
  fi
}

have_systemd() { command -v systemctl >/dev/null 2>&1 || [ -d /run/systemd/system ]; }
# systemd runs as PID 1 here and we install to /: units may be reloaded and started.
systemd_running() { [ -z "$ROOT" ] && [ -d /run/systemd/system ]; }

# ---------------------------------------------------------------------------------------------------
# The package tree

install_tree() {
  local target="$ROOT$LIB" what
  mapfile -t MODULES < <(production_modules)
  [ ${#MODULES[@]} -gt 0 ] || die "no production packages found in $SRC/package-lock.json and node_modules"
  what="${TREE[*]} dist $ADDON $CNI_SHIM, ${#MODULES[@]} production packages"
  if $DRY; then
    report tree "$LIB" "$(outcome "$([ -d "$target" ] && echo replaced || echo installed)") ($what)"
    return
  fi
  local staging="$ROOT/usr/lib/.brindle.new" old="$ROOT/usr/lib/.brindle.old"
  rm -rf "$staging" "$old"
  mkdir -p "$ROOT/usr/lib"
  copy_tree "$staging"
  if [ -d "$target" ] && diff -r -q --no-dereference "$target" "$staging" >/dev/null 2>&1; then
    rm -rf "$staging"
    report tree "$LIB" unchanged
    return
  fi
  # Swapped in by renames: a running daemon never sees a half-copied tree.
  local verb=installed
  if [ -e "$target" ]; then
    mv "$target" "$old"
    verb=updated
  fi
  mv "$staging" "$target"
  rm -rf "$old"
  TREE_CHANGED=true
  report tree "$LIB" "$verb ($what)"
}

# ---------------------------------------------------------------------------------------------------
# Files outside the tree

# Installs $1 as $2 (mode 0644) unless it already has exactly that content.
install_file() {
  local source="$1" target="$ROOT$2" label="$3"
  if [ -f "$target" ] && cmp -s "$source" "$target"; then
    report "$label" "$2" unchanged
    return
  fi
  local verb
  verb="$(outcome "$([ -e "$target" ] && echo updated || echo installed)")"
  act install -D -m 0644 "$source" "$target"
  report "$label" "$2" "$verb"
}

# Makes $1 (a path under the install root) a symlink to $2, unless it already is one, or is a file.
install_link() {
  local path="$1" target="$2" link="$ROOT$1"
  if [ -L "$link" ] && [ "$(readlink "$link")" = "$target" ]; then
    report link "$path" unchanged
  elif [ -e "$link" ] && [ ! -L "$link" ]; then
    warn "$path exists and is not a symlink: left as it is"
  else
    act mkdir -p "$(dirname "$link")"
    act ln -sfn "$target" "$link"
    report link "$path" "$(outcome created) (-> $target)"
  fi
}

install_links() {
  local name
  for name in brindle brindlectl; do install_link "$BIN/$name" "../../lib/brindle/bin/$name"; done
}

# Where container runtimes look for plugins (CNI_PATH's default). A node only: pods run there.
install_cni_link() {
  install_link "$CNI_LINK" "$(cni_link_target)"
  [ -f "$SRC/$CNI_SHIM" ] ||
    warn "no $CNI_SHIM (npm run build:native): $CNI_LINK runs the Node plugin, about 80 ms more per call"
}

install_config() {
  local source="$SRC/config/$MODE.yaml" target="$ROOT$CONFIG"
  if [ ! -e "$target" ]; then
    act install -D -m 0644 "$source" "$target"
    report config "$CONFIG" "$(outcome installed) from config/$MODE.yaml: edit it before starting"
  elif cmp -s "$source" "$target"; then
    report config "$CONFIG" "unchanged (the shipped config/$MODE.yaml)"
  else
    if [ -f "$target.new" ] && cmp -s "$source" "$target.new"; then
      report config "$CONFIG" "kept; the shipped config/$MODE.yaml is in $CONFIG.new"
    else
      act install -m 0644 "$source" "$target.new"
      report config "$CONFIG" "kept (not overwritten); the shipped config/$MODE.yaml $(outcome written) to $CONFIG.new"
    fi
    local running
    running="$(sed -n 's/^mode:[[:space:]]*\([a-z]*\).*/\1/p' "$target" | head -1)"
    [ -z "$running" ] || [ "$running" = "$MODE" ] ||
      warn "$CONFIG says mode: $running, but --mode $MODE was given"
  fi
}

# Other rt_protos files naming our number differently (for example another daemon's file claiming 205).
rt_protos_conflicts() {
  local file
  for file in "$ROOT/etc/iproute2/rt_protos" "$ROOT$RT_PROTOS_DIR"/*.conf \
    "$ROOT/usr/share/iproute2/rt_protos" "$ROOT/usr/share/iproute2/rt_protos.d"/*.conf; do
    if [ ! -f "$file" ] || [ "$file" = "$ROOT$RT_PROTOS_DIR/brindle.conf" ]; then continue; fi
    awk -v n="$RT_PROTOCOL" -v f="${file#"$ROOT"}" \
      '$1 == n && $2 != "brindle" { print f " names " n " \"" $2 "\"" }' "$file"
  done
}

install_rt_protos() {
  local target="$ROOT$RT_PROTOS_DIR/brindle.conf" conflict
  if [ -f "$target" ] && [ "$(cat "$target"; echo x)" = "${RT_PROTOS_TEXT}x" ]; then
    report protocol "$RT_PROTOS_DIR/brindle.conf" "unchanged ($RT_PROTOCOL brindle)"
  else
    local verb
    verb="$(outcome "$([ -e "$target" ] && echo updated || echo installed)")"
    act mkdir -p "$ROOT$RT_PROTOS_DIR"
    $DRY || printf '%s' "$RT_PROTOS_TEXT" >"$target"
    $DRY || chmod 0644 "$target"
    report protocol "$RT_PROTOS_DIR/brindle.conf" "$verb ($RT_PROTOCOL brindle)"
  fi
  while read -r conflict; do
    [ -n "$conflict" ] && warn "$conflict: \`ip route\` may show that name for Brindle's routes"
  done < <(rt_protos_conflicts)
}

install_systemd() {
  if ! have_systemd; then
    report units "$UNIT_DIR" 'skipped: no systemd here; run /usr/local/bin/brindle --config /etc/brindle/brindle.yaml under your supervisor'
    return
  fi
  local unit
  for unit in "${UNITS[@]}"; do install_file "$SRC/systemd/$unit" "$UNIT_DIR/$unit" unit; done
  install_file "$SRC/systemd/brindle.sysusers.conf" "$SYSUSERS" sysusers
  [ -z "$ROOT" ] || return 0
  if id brindle >/dev/null 2>&1; then
    report user brindle unchanged
  elif command -v systemd-sysusers >/dev/null 2>&1; then
    act systemd-sysusers "$SYSUSERS"
    report user brindle "$(outcome created)"
  else
    act useradd --system --user-group --home-dir /var/lib/brindle --no-create-home \
      --shell /usr/sbin/nologin --comment 'Brindle routing daemon' brindle
    report user brindle "$(outcome created)"
  fi
  if systemd_running; then act systemctl daemon-reload; fi
}

enable_service() {
  systemd_running || die '--enable: systemd is not running here'
  local other=brindle-reflector.service
  [ "$MODE" = reflector ] && other=brindle-node.service
  if systemctl is-enabled --quiet "$other" 2>/dev/null || systemctl is-active --quiet "$other"; then
    warn "$other is enabled or running too: both use port 179 and /run/brindle"
  fi
  if ! $DRY; then
    "$ROOT$LIB/bin/brindle" --config "$CONFIG" --check-config >/dev/null ||
      die "not enabling $UNIT: $CONFIG is invalid (brindle --config $CONFIG --check-config)"
  fi
  act systemctl enable --now "$UNIT"
  report service "$UNIT" "$(outcome enabled) and started"
}

# A daemon that ran before the install runs the code it started with (`enable --now` leaves it be).
restart_hint() {
  if $WAS_ACTIVE && $TREE_CHANGED; then
    echo "note: $UNIT is running the previous version: brindlectl restart --graceful (peers keep forwarding), or systemctl restart $UNIT"
  fi
}

next_steps() {
  cat <<EOF

Next:
  1. Edit $CONFIG (nodeName, node.ipv4Address, datastore); check it:
       brindle --config $CONFIG --check-config
  2. systemctl enable --now $UNIT
  3. Apply the cluster's resources, e.g. brindlectl apply -f $LIB/config/examples/bgp-configuration.yaml
  4. brindlectl status
Operators in the brindle group may use brindlectl against the control socket: usermod -aG brindle USER
EOF
}

preflight
echo "Installing Brindle ($MODE) from $SRC into ${ROOT:-/}$($DRY && echo ' (dry run: nothing changes)')"
TREE_CHANGED=false
WAS_ACTIVE=false
if systemd_running && systemctl is-active --quiet "$UNIT"; then WAS_ACTIVE=true; fi
install_tree
install_links
if [ "$MODE" = node ]; then install_cni_link; fi
install_config
install_rt_protos
install_systemd
if $ENABLE; then enable_service; elif [ -z "$ROOT" ]; then next_steps; fi
restart_hint
