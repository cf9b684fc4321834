#!/usr/bin/env bash
# Install the Debian packages vmlua needs to build, test and run its demo.
# Runs apt-get only when something is missing; uses sudo when not root.
set -eu
pkgs="gcc make pkg-config lua5.4 liblua5.4-dev libjson-c-dev libbsd-dev lua-busted lua-check
luarocks qemu-system-x86 busybox-static cpio socat hyperfine valgrind ca-certificates clang libclang-rt-14-dev"
missing=
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
if [ -n "$missing" ]; then
  echo "deps: installing$missing"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends $missing
else
  echo "deps: all packages present"
fi
# The guest kit downloads the kernel package with apt-get download, which
# needs package lists.
if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then
  $sudo apt-get update
fi
