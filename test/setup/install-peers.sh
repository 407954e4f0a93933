#!/usr/bin/env bash
# Installs the Debian packages that the interop tests and test tools need: real BGP peers (BIRD 2,
# GoBGP, FRR; OpenBGPD for the reflector benchmark), tshark/text2pcap for golden decoding, etcd,
# Prometheus, iproute2, the CNI plugins, ping (the end-to-end cluster test pings between pods) and systemd-analyze (to verify the unit files
# offline; no systemd needs to run), and chromium for the web console's browser test.
# Only missing packages are installed; with everything present it prints nothing and changes nothing.
# It never starts a service: the tests run every daemon themselves in the foreground.
set -euo pipefail

# package -> a file or command that proves it is usable (dpkg's own status is checked first).
declare -A PROVIDES=(
  [bird2]=bird
  [gobgpd]=gobgpd
  [frr]=/usr/lib/frr/bgpd
  [openbgpd]=/usr/sbin/bgpd
  [tshark]=tshark
  [etcd-server]=etcd
  [etcd-client]=etcdctl
  [prometheus]=prometheus
  [iproute2]=ip
  [containernetworking-plugins]=/usr/lib/cni/bridge
  [iputils-ping]=ping
  [systemd]=systemd-analyze
  [chromium]=/usr/bin/chromium
)
PACKAGES=(bird2 gobgpd frr openbgpd tshark etcd-server etcd-client prometheus iproute2 containernetworking-plugins
  iputils-ping systemd chromium)

is_present() {
  local package=$1 probe=${PROVIDES[$1]}
  if dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    return 0
  fi
  if [[ $probe == /* ]]; then [[ -x $probe ]]; else command -v "$probe" >/dev/null 2>&1; fi
}

missing=()
for package in "${PACKAGES[@]}"; do
  is_present "$package" || missing+=("$package")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-peers: need root to install: ${missing[*]}" >&2; exit 1; }
  SUDO=(sudo)
fi

# Debian starts a package's service on install unless policy-rc.d says no (exit 101). Add one for
# the duration of the install when the machine has none, and remove only the one added here.
POLICY=/usr/sbin/policy-rc.d
added_policy=0
cleanup() {
  if [[ $added_policy -eq 1 ]]; then "${SUDO[@]}" rm -f "$POLICY"; fi
}
trap cleanup EXIT
if [[ ! -e $POLICY ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod 755 "$POLICY"
  added_policy=1
fi

echo "install-peers: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no so the install never prompts.
echo 'wireshark-common wireshark-common/install-setuid boolean false' | "${SUDO[@]}" debconf-set-selections
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-peers: done"
