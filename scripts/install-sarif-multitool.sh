#!/usr/bin/env bash
# Install Microsoft's SARIF Multitool (the SARIF SDK's validator: the SARIF 2.1.0 schema plus
# GitHub code-scanning ingestion rules) from the npm registry, for the SARIF tests.
# Idempotent; installs into /usr/local/lib and links /usr/local/bin/sarif-multitool.
set -euo pipefail
VERSION=5.7.0
dest=/usr/local/lib/sarif-multitool-$VERSION
if [ -x "$dest/Sarif.Multitool" ] && command -v sarif-multitool >/dev/null 2>&1; then exit 0; fi
command -v npm >/dev/null || { echo "npm is needed to fetch the SARIF Multitool: apt-get install -y npm"; exit 1; }
tmp=$(mktemp -d /tmp/bakery-sarif.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@microsoft/sarif-multitool-linux@$VERSION" >/dev/null)
mkdir -p "$tmp/x" && tar -xzf "$tmp"/microsoft-sarif-multitool-linux-$VERSION.tgz -C "$tmp/x"
rm -rf "$dest" && mv "$tmp/x/package" "$dest" && chmod 0755 "$dest/Sarif.Multitool"
ln -sf "$dest/Sarif.Multitool" /usr/local/bin/sarif-multitool
echo "installed sarif-multitool $VERSION into $dest"
