#!/usr/bin/env bash
# Builds the Debian package brindle_VERSION_ARCH.deb (`npm run package`) from this checkout after
# `npm ci`. It holds the package tree in /usr/lib/brindle (scripts/layout.sh: bin, dist/ compiled
# afresh so no stale file ships, systemd, config, the production node_modules, the native addon and the
# CNI plugin's native front — which make the package architecture-specific), /usr/bin/brindle and
# brindlectl, the CNI plugin /opt/cni/bin/brindle-ipam (a link to the front), the systemd units, the
# sysusers file, the rt_protos entry (a conffile) and the docs; the maintainer scripts in scripts/deb/ do what install.sh does after copying. Nothing is
# fetched: every file comes from the checkout and its node_modules, so it builds without a network.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/package.sh [--out DIR]

  --out DIR   where to write brindle_VERSION_ARCH.deb (default: the checkout)
  -h, --help  this help

Run after `npm ci` (which builds the native addon). Prints the path of the package last.
USAGE
}

die() {
  echo "package.sh: $*" >&2
  exit 1
}

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/layout.sh
source "$SRC/scripts/layout.sh"
OUT="$SRC"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="${2:-}"; shift 2 || die '--out needs a value' ;;
    --out=*) OUT="${1#--out=}"; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done

preflight() {
  command -v dpkg-deb >/dev/null 2>&1 || die 'dpkg-deb is not installed'
  [ -x "$SRC/node_modules/.bin/tsc" ] || die "no node_modules in $SRC: run \`npm ci\` first"
  [ -f "$SRC/$ADDON" ] || die "no $ADDON: build it (npm run build:native); node mode needs it"
  [ -f "$SRC/$CNI_SHIM" ] || die "no $CNI_SHIM: build it (npm run build:native); the CNI plugin runs it"
  mkdir -p "$OUT"
}

# A clean build of src/ (JavaScript only) into $1/dist, leaving the checkout's dist/ alone; the web
# console's bundle (src/ui, browser code) is bundled by esbuild as `npm run build:ui` does.
compile() {
  (cd "$SRC" && node_modules/.bin/tsc -p tsconfig.build.json --outDir "$1/dist" \
    --tsBuildInfoFile "$1/tsbuildinfo" --declaration false --declarationMap false --sourceMap false)
  (cd "$SRC" && node_modules/.bin/esbuild src/ui/app.ts src/ui/app.css --bundle --minify --format=esm \
    --target=es2022,chrome110,firefox110,safari16 --outdir="$1/dist/ui" --log-level=warning)
}

stage_files() {
  local root="$1" built="$2" unit
  mapfile -t MODULES < <(production_modules)
  [ ${#MODULES[@]} -gt 0 ] || die "no production packages found in $SRC/package-lock.json and node_modules"
  copy_tree "$root$LIB" "$built"
  install_cli_docs "$root" "$root$LIB"
  mkdir -p "$root/usr/bin" "$root/opt/cni/bin"
  ln -s ../lib/brindle/bin/brindle "$root/usr/bin/brindle"
  ln -s ../lib/brindle/bin/brindlectl "$root/usr/bin/brindlectl"
  # A symlink, not a copy: the native front finds the Node plugin, and that dist/ and node_modules,
  # from its real path.
  ln -s "$(cni_link_target)" "$root$CNI_LINK"
  for unit in "${UNITS[@]}"; do install -D -m 0644 "$SRC/systemd/$unit" "$root$UNIT_DIR/$unit"; done
  install -D -m 0644 "$SRC/systemd/brindle.sysusers.conf" "$root$SYSUSERS"
  mkdir -p "$root$RT_PROTOS_DIR"
  printf '%s' "$RT_PROTOS_TEXT" >"$root$RT_PROTOS_DIR/brindle.conf"
  install -D -m 0644 "$SRC/README.md" "$root/usr/share/doc/brindle/README.md"
  install -D -m 0644 "$SRC/systemd/README.md" "$root/usr/share/doc/brindle/systemd.md"
  printf 'Brindle\nLicense: %s (/usr/share/common-licenses/%s)\n' "$LICENSE" "$LICENSE" \
    >"$root/usr/share/doc/brindle/copyright"
}

control() {
  local size
  size="$(du -sk --apparent-size "$1" | cut -f1)"
  cat <<CONTROL
Package: brindle
Version: $VERSION
Architecture: $ARCH
Maintainer: Brindle maintainers <maintainers@brindle.invalid>
Installed-Size: $size
Depends: nodejs (>= 20.19)
Recommends: systemd, iproute2
Section: net
Priority: optional
Description: BGP route reflector and routing control plane for bare-metal clusters
 Brindle does the routing half of Calico in one daemon: pure L3 routing with no
 overlay, each node announcing its address blocks over BGP to a node-to-node
 mesh, route reflectors or top-of-rack routers, driven by Calico's v3
 resources. Ships the daemon (brindle-node and brindle-reflector units),
 brindlectl and the brindle-ipam CNI plugin.
CONTROL
}

stage_debian() {
  local root="$1" script
  mkdir -p "$root/DEBIAN"
  control "$root" >"$root/DEBIAN/control"
  echo "$RT_PROTOS_DIR/brindle.conf" >"$root/DEBIAN/conffiles"
  for script in postinst prerm postrm; do install -m 0755 "$SRC/scripts/deb/$script" "$root/DEBIAN/$script"; done
}

preflight
VERSION="$(node -p "require('$SRC/package.json').version")"
LICENSE="$(node -p "require('$SRC/package.json').license")"
ARCH="$(dpkg --print-architecture)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
compile "$WORK/build"
stage_files "$WORK/root" "$WORK/build"
stage_debian "$WORK/root"
chmod -R u+rwX,go+rX,go-w "$WORK/root"
DEB="$(realpath "$OUT")/brindle_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group --build "$WORK/root" "$DEB" >&2
echo "$DEB"
