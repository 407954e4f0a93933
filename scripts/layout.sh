# Where Brindle installs and what its package tree (/usr/lib/brindle) holds, shared by install.sh and
# package.sh so the service installed from a checkout and the Debian package hold the same files.
# Sourced, not run: the caller sets SRC (the checkout, after `npm ci`).

readonly LIB=/usr/lib/brindle
readonly UNIT_DIR=/usr/lib/systemd/system
readonly UNITS=(brindle-node.service brindle-reflector.service)
readonly SYSUSERS=/usr/lib/sysusers.d/brindle.conf
readonly CONFIG=/etc/brindle/brindle.yaml
readonly RT_PROTOS_DIR=/etc/iproute2/rt_protos.d
readonly RT_PROTOCOL=205
# The same text as src/fib/rt-protos.ts writes, so neither rewrites the other's file.
readonly RT_PROTOS_TEXT=$'# Written by Brindle: the rtm_protocol of its kernel routes (fib.protocol).\n205\tbrindle\n'

# What of the checkout runs, besides the compiled JavaScript of dist/, the native addon and the
# production node_modules. No TypeScript and no tsx: bin/* run dist/ with plain node.
readonly TREE=(bin systemd config package.json package-lock.json README.md)
readonly ADDON=build/Release/brindle_native.node
readonly ENTRY=dist/main/brindle.js

# node_modules entries of the production dependency tree (`npm ls --omit=dev`), one a line. The
# tree is read from package-lock.json, not from node_modules: npm trusts its record of node_modules
# only while nothing there is newer than it, and walks the folders otherwise. Optional packages for
# other platforms are in the lock but not on disk; only what is installed is listed.
production_modules() {
  command -v npm >/dev/null 2>&1 || return 0
  local listing line
  listing="$(cd "$SRC" && npm ls --omit=dev --all --parseable --package-lock-only 2>/dev/null)" || return 0
  while read -r line; do
    line="${line#"$SRC/"}"
    # Top-level entries only: a package's nested node_modules comes with it.
    if [[ "$line" =~ ^node_modules/(@[^/]+/)?[^/]+$ ]] && [ -e "$SRC/$line" ]; then echo "$line"; fi
  done <<<"$listing" | sort -u
}

# Copies what the daemon runs into $1 (a new directory): the TREE entries, dist/*.js of the folder $2
# (default: the checkout; not the declarations, source maps or build info), the addon when built, and
# the node_modules entries named in the array MODULES.
copy_tree() {
  local staging="$1" built="${2:-$SRC}" entry
  mkdir -p "$staging/node_modules" "$staging/build/Release"
  for entry in "${TREE[@]}"; do
    [ -e "$SRC/$entry" ] && cp -R -P --preserve=mode,timestamps "$SRC/$entry" "$staging/"
  done
  (cd "$built" && find dist -type f -name '*.js' -exec cp --parents --preserve=mode,timestamps -t "$staging" {} +)
  [ -f "$SRC/$ADDON" ] && cp -P --preserve=mode,timestamps "$SRC/$ADDON" "$staging/$ADDON"
  for entry in "${MODULES[@]}"; do
    mkdir -p "$staging/$(dirname "$entry")"
    cp -R -P --preserve=mode,timestamps "$SRC/$entry" "$staging/$entry"
  done
  # Whoever owns the checkout, nobody but root may change what the service runs.
  chmod -R u+rwX,go+rX,go-w "$staging"
}
