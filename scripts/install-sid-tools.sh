#!/usr/bin/env bash
# Install cosign, crane, oras and docker-compose (v2) from Debian's unstable suite without adding
# it to the system's apt sources: a private apt state dir lists only sid, `apt-get download`
# fetches the .deb and `dpkg -x` unpacks its binary into /usr/local/bin. Idempotent; needs root and the Debian mirror.
set -euo pipefail

declare -A PACKAGE=([cosign]=cosign [crane]=crane [oras]=oras [docker-compose]=docker-compose)
wanted=()
for tool in "$@"; do
  command -v "$tool" >/dev/null 2>&1 || wanted+=("$tool")
done
[ ${#wanted[@]} -eq 0 ] && exit 0

mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
mirror=${mirror:-http://deb.debian.org/debian}
state=$(mktemp -d /tmp/bakery-sid-apt.XXXXXX)
trap 'rm -rf "$state"' EXIT
mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/debs"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror sid main" >"$state/sources.list"
apt_opts=(-o "Dir::State::Lists=$state/lists" -o "Dir::Etc::SourceList=$state/sources.list"
          -o "Dir::Etc::SourceParts=-" -o "Dir::Cache::Archives=$state/cache/archives"
          -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "APT::Get::List-Cleanup=0" -o "APT::Sandbox::User=root")
apt-get "${apt_opts[@]}" update -qq
for tool in "${wanted[@]}"; do
  (cd "$state/debs" && apt-get "${apt_opts[@]}" download -qq "${PACKAGE[$tool]}")
done
for deb in "$state"/debs/*.deb; do
  dpkg -x "$deb" "$state/root"
done
for tool in "${wanted[@]}"; do
  install -m 0755 "$state/root/usr/bin/$tool" /usr/local/bin/"$tool"
  echo "installed $tool into /usr/local/bin"
done
