#!/usr/bin/env bash
# Install the Debian packages vmlua needs to build, build the guest kit, test
# and run its demo (make deps; ./bootstrap runs it first).
#
#   tests/deps.sh              every package below
#   tests/deps.sh PACKAGE...   only these (a spec checks the error paths)
#
# Runs apt-get only when something is missing; uses sudo when not root.
set -eu
# build: gcc make pkg-config liblua5.4-dev libjson-c-dev libbsd-dev
# tests: lua5.4 lua-busted (brings lua-yaml, lua-dkjson) lua-check luarocks socat
#        hyperfine valgrind procps (pgrep: the guest kit's spec looks for leftovers)
# guest kit and demo: qemu-system-x86 (with its virtiofsd) busybox-static cpio
#        xz-utils (unxz of the kernel payload: busybox's rejects it)
#        ca-certificates (https: apt mirrors, luarocks)
# disks and networking: qemu-utils (qemu-img: disk overlays), e2fsprogs (mkfs.ext4,
#        debugfs: the disk tests' images) iproute2 (ip)
# (make fuzz installs clang libclang-rt-14-dev itself: libFuzzer; the replay
# of the fuzz corpus in make test needs neither)
pkgs="gcc make pkg-config lua5.4 liblua5.4-dev libjson-c-dev libbsd-dev
lua-busted lua-check luarocks socat hyperfine valgrind procps
qemu-system-x86 busybox-static cpio xz-utils ca-certificates
qemu-utils e2fsprogs iproute2"
[ $# -eq 0 ] || pkgs="$*"

missing=
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
# The guest kit downloads the kernel package with apt-get download, which
# needs package lists.
lists=yes
ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || lists=
sudo=
if [ "$(id -u)" -ne 0 ]; then
  if { [ -n "$missing" ] || [ -z "$lists" ]; } && ! command -v sudo >/dev/null; then
    [ -z "$missing" ] || echo "deps: missing packages:$missing" >&2
    [ -n "$lists" ] || echo "deps: no apt package lists (apt-get update)" >&2
    echo "deps: apt-get needs root: run this again as root, or install sudo" >&2
    exit 1
  fi
  sudo=sudo
fi
if [ -n "$missing" ]; then
  echo "deps: installing$missing"
  $sudo apt-get update
  # env: sudo's env_reset would drop a DEBIAN_FRONTEND set in front of it
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
elif [ -z "$lists" ]; then
  $sudo apt-get update
else
  echo "deps: all packages present"
fi
