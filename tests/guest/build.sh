#!/usr/bin/env bash
# Build the vmlua test guest: Debian's kernel and a busybox initramfs.
#
#   tests/guest/build.sh OUTDIR          (make guest: OUTDIR=build/guest)
#
# Writes OUTDIR/vmlinuz (Debian's bzImage), OUTDIR/vmlinux (the same kernel
# uncompressed, booted through PVH: 3 s faster under TCG), OUTDIR/initrd.gz,
# OUTDIR/kernel-version and OUTDIR/stamp, and keeps the kernel .deb in OUTDIR/cache. A run with the
# same kernel package, the same busybox and the same kit sources (every file
# in tests/guest but README.md, smoke.sh and the specs) does nothing. See README.md.
set -euo pipefail

die() { echo "guest kit: error: $*" >&2; exit 1; }
say() { echo "guest kit: $*"; }

[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
out=$1
kit=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
busybox=/bin/busybox
meta=linux-image-amd64
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo

for tool in apt-get apt-cache dpkg-deb dpkg-query cpio gzip tar sha256sum flock; do
	command -v "$tool" >/dev/null || die "'$tool' not found (run 'make deps')"
done
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' &&
	[ -x "$busybox" ] ||
	die "busybox-static is not installed (apt-get install busybox-static, or 'make deps')"

mkdir -p "$out/cache" || die "cannot create $out"
out=$(cd "$out" && pwd)
cache=$out/cache
exec 9>"$out/.lock"
flock 9                          # one build at a time per OUTDIR

# ---- which kernel ------------------------------------------------------------
# The package linux-image-amd64 depends on, e.g. linux-image-6.1.0-56-amd64,
# at its candidate version. Without package lists, try apt-get update.
# (apt-config, so that APT_CONFIG is honoured like apt-cache honours it.)
lists=$(apt-config shell d Dir::State::Lists/d | sed -n "s/^d='\(.*\)'$/\1/p")
have_lists() { compgen -G "${lists:-/var/lib/apt/lists/}*_Packages*" >/dev/null; }
if ! have_lists; then
	say "no apt package lists, running apt-get update"
	$sudo apt-get update -q >&2 || true
fi
pkg='' ver=''
if have_lists; then
	pkg=$(apt-cache show --no-all-versions "$meta" 2>/dev/null |
		sed -n 's/^Depends:.*\(linux-image-[^ ,|]*\).*/\1/p' | head -n1)
	[ -z "$pkg" ] ||
		ver=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null |
			sed -n 's/^Version: //p' | head -n1)
fi
if [ -z "$pkg" ] || [ -z "$ver" ]; then
	# No lists (no network) or no such package: a cached .deb still works.
	cached=$(ls -t "$cache"/linux-image-*.deb 2>/dev/null | head -n1 || true)
	[ -n "$cached" ] ||
		die "cannot find the kernel package that $meta depends on: no apt package lists (apt-get update failed: no network?) and no cached kernel in $cache"
	pkg=$(dpkg-deb -f "$cached" Package) && ver=$(dpkg-deb -f "$cached" Version) ||
		die "cannot read $cached"
	say "warning: apt does not know $meta; using the cached $pkg $ver"
fi

# ---- up to date? -------------------------------------------------------------
kit_hash=$(cd "$kit" && find . -maxdepth 1 -type f ! -name README.md ! -name smoke.sh ! -name '*_spec.lua' |
	LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
stamp="kernel-package: $pkg $ver
busybox: $(sha256sum "$busybox" | cut -d' ' -f1)
kit: $kit_hash"
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ] &&
	[ -f "$out/vmlinuz" ] && [ -f "$out/vmlinux" ] && [ -f "$out/initrd.gz" ] && [ -f "$out/kernel-version" ]; then
	echo "guest kit up to date ($pkg $ver, $out)"
	exit 0
fi
rm -f "$out/stamp"

# ---- the kernel package ------------------------------------------------------
deb=
for f in "$cache/${pkg}"_*.deb; do
	[ -f "$f" ] && [ "$(dpkg-deb -f "$f" Version 2>/dev/null)" = "$ver" ] && deb=$f
done
if [ -z "$deb" ]; then
	say "downloading $pkg $ver"
	dl=$(mktemp -d "$cache/.download.XXXXXX")
	apt_opts=()
	[ "$(id -u)" -ne 0 ] || apt_opts=(-o APT::Sandbox::User=root)
	if ! (cd "$dl" && apt-get -q "${apt_opts[@]}" download "$pkg=$ver" >&2); then
		rm -rf "$dl"
		die "apt-get download $pkg=$ver failed (no network?)"
	fi
	deb=$(ls "$dl"/*.deb) && mv "$dl"/*.deb "$cache/" && rm -rf "$dl"
	deb=$cache/$(basename "$deb")
	for f in "$cache"/linux-image-*.deb; do     # keep one kernel in the cache
		[ "$f" = "$deb" ] || rm -f "$f"
	done
fi

work=$(mktemp -d "$out/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Extract only the members named by the patterns (GNU tar wildcards match
# across '/'); a pattern that matches nothing is not an error here.
extract() {
	dpkg-deb --fsys-tarfile "$deb" |
		tar -x -C "$work/deb" --wildcards "$@" 2>/dev/null || true
}
mkdir -p "$work/deb"

# ---- modules: the listed ones and everything they depend on -----------------
wanted=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$kit/modules")
[ -n "$wanted" ] || die "$kit/modules lists no module"
norm() { echo "${1//-/_}"; }
pattern() { local n; n=$(norm "$1"); echo "*/${n//_/[-_]}.ko*"; }
declare -A path=()       # module name -> extracted .ko file
find_modules() {
	local f n
	while IFS= read -r f; do
		n=$(basename "$f"); n=${n%%.ko*}
		path[$(norm "$n")]=$f
	done < <(find "$work/deb/lib/modules" -name '*.ko*' 2>/dev/null)
}
deps_of() {   # the depends= field of a module, one name a line
	local f=${path[$1]}
	case $f in
	*.ko) cat "$f" ;;
	*.ko.xz) "$busybox" unxz -c "$f" ;;
	*.ko.gz) gzip -dc "$f" ;;
	*.ko.zst) zstd -dc "$f" || die "zstd is needed for $f" ;;
	esac | tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' '\n' | sed '/^$/d'
}

pats=('./boot/vmlinuz-*')
for m in $wanted; do pats+=("$(pattern "$m")"); done
extract "${pats[@]}"
find_modules
# Pull in missing dependencies until the set is closed.
while :; do
	missing=()
	for m in "${!path[@]}"; do
		for d in $(deps_of "$m"); do
			[ -n "${path[$(norm "$d")]:-}" ] || missing+=("$(norm "$d")")
		done
	done
	[ ${#missing[@]} -gt 0 ] || break
	mpats=()
	for d in $(printf '%s\n' "${missing[@]}" | sort -u); do mpats+=("$(pattern "$d")"); done
	before=${#path[@]}
	extract "${mpats[@]}"
	find_modules
	[ ${#path[@]} -gt "$before" ] || die "$pkg lacks modules: ${missing[*]}"
done
for m in $wanted; do
	[ -n "${path[$(norm "$m")]:-}" ] || die "$pkg has no module $m (built in, or gone?)"
done

vmlinuz=$(ls "$work"/deb/boot/vmlinuz-* 2>/dev/null | head -n1)
[ -n "$vmlinuz" ] || die "$deb has no boot/vmlinuz-*"
kver=${vmlinuz##*/vmlinuz-}

# Load order: depth first, dependencies before the module, first mention wins.
declare -A placed=()
order=()
place() {
	local m d
	m=$(norm "$1")
	[ -z "${placed[$m]:-}" ] || return 0
	placed[$m]=1
	for d in $(deps_of "$m"); do place "$d"; done
	order+=("$m")
}
for m in $wanted; do place "$m"; done

# ---- the initramfs -----------------------------------------------------------
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,mnt,tmp,run,lib/modules,etc/acpi/PWRF}
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list-full); do
	[ "$applet" = bin/busybox ] || [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
install -m 0755 "$kit/init" "$root/init"
install -m 0755 "$kit/poweroff" "$root/sbin/vmlua-poweroff"
install -m 0755 "$kit/acpi-power-button" "$root/etc/acpi/PWRF/00000080"
install -m 0755 "$kit/udhcpc.script" "$root/etc/udhcpc.script"
for m in "${order[@]}"; do
	f=${path[$m]}
	case $f in
	*.ko) cp "$f" "$root/lib/modules/$m.ko" ;;
	*.ko.xz) "$busybox" unxz -c "$f" >"$root/lib/modules/$m.ko" ;;
	*.ko.gz) gzip -dc "$f" >"$root/lib/modules/$m.ko" ;;
	*.ko.zst) zstd -qdc "$f" >"$root/lib/modules/$m.ko" || die "zstd is needed for $f" ;;
	esac
	echo "$m" >>"$root/lib/modules/load-order"
done
echo "$kver" >"$root/etc/vmlua-guest-kernel"
find "$root" -exec touch -h -d @0 {} +

# A newc cpio member for a device node, so /init has /dev/console from the
# first instruction without mknod (and without root) here: NAME MODE MAJ MIN.
newc() {
	local name=$1 mode=$2 maj=$3 min=$4 hdr pad
	hdr=$(printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
		0 "$mode" 0 0 1 0 0 0 0 "$maj" "$min" $((${#name} + 1)) 0)
	printf '%s%s\0' "$hdr" "$name"
	pad=$(((4 - (110 + ${#name} + 1) % 4) % 4))
	head -c "$pad" /dev/zero
}
{
	(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --reproducible --quiet)
	newc dev/console $((0020600)) 5 1
	newc TRAILER!!! 0 0 0
} | gzip -9 -n >"$work/initrd.gz"

# ---- vmlinux: the uncompressed kernel, bootable through PVH ----------------
# Under TCG, decompressing the bzImage costs about 3 s of every boot. The
# payload sits at (setup_sects + 1) * 512 + payload_offset, payload_length
# bytes long (boot protocol >= 2.08); the ELF inside carries the Xen PVH
# entry note (CONFIG_PVH), which QEMU's -kernel (q35 and microvm) and
# cloud-hypervisor boot directly.
extract_vmlinux() {
	local bz=$1 sects off len start size
	sects=$(od -An -tu1 -j $((0x1f1)) -N1 "$bz" | tr -d ' ')
	[ "$sects" != 0 ] || sects=4
	read -r off len < <(od -An -tu4 -j $((0x248)) -N8 "$bz")
	start=$(((sects + 1) * 512 + off))
	tail -c +$((start + 1)) "$bz" | head -c "$len" >"$work/payload"
	# xz and zstd payloads end with the decompressed size (4 bytes, LE).
	size=$(tail -c 4 "$work/payload" | od -An -tu4 | tr -d ' ')
	case $(od -An -tx1 -N4 "$work/payload" | tr -d ' ') in
	fd377a58) head -c $((len - 4)) "$work/payload" |
		if command -v xz >/dev/null; then xz -dc; else "$busybox" unxz -c; fi ;;
	28b52ffd) head -c $((len - 4)) "$work/payload" | zstd -qdc ;;
	1f8b*) size=; gzip -dc <"$work/payload" ;;
	*) echo "guest kit: unknown kernel compression" >&2; false ;;
	esac >"$work/vmlinux" || return 1
	rm -f "$work/payload"
	[ "$(od -An -c -N4 "$work/vmlinux" | tr -d ' ')" = '177ELF' ] || return 1
	[ -z "$size" ] || [ "$(stat -c %s "$work/vmlinux")" = "$size" ]
}
extract_vmlinux "$vmlinuz" || die "cannot extract the ELF kernel from $vmlinuz"
LC_ALL=C grep -qaP '\x04\x00\x00\x00[\x04\x08]\x00\x00\x00\x12\x00\x00\x00Xen\x00' "$work/vmlinux" ||
	die "the kernel in $pkg has no PVH entry note (CONFIG_PVH): vmlinux would not boot"

cp "$vmlinuz" "$work/vmlinuz"
echo "$kver" >"$work/kernel-version"
mv -f "$work/vmlinuz" "$work/vmlinux" "$work/initrd.gz" "$work/kernel-version" "$out/"
echo "$stamp" >"$out/stamp"
say "built $out (kernel $kver from $pkg $ver; modules: ${order[*]}; initrd $(($(stat -c %s "$out/initrd.gz") / 1024)) KiB)"
