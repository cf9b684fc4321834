#!/usr/bin/env bash
# shellcheck disable=SC2054  # commas inside QEMU arguments are intended
# Boot the guest kit once under QEMU (TCG) with virtiofsd, by hand, the plain
# way: start virtiofsd, start QEMU, poll the serial log for the marker, check
# the file the guest wrote into the share, stop the guest (QMP
# system_powerdown through socat, or a poweroff-request file in the share)
# and report the times. This is also the baseline the benchmarks compare
# vmlua against: "a plain shell script that waits on the serial log".
#
#   tests/guest/smoke.sh [--machine q35|microvm] [--stop qmp|share]
#                        [--kernel vmlinux|vmlinuz] [--kit DIR]
#                        [--timeout SEC] [--append PARAMS] [--print] [--keep]
#
# Prints "smoke: MACHINE boot_to_marker=S stop_to_exit=S" on success and
# exits 0; exits 1 on any failure, 2 on bad usage. Everything it started is
# stopped and its temp dir removed on every path (--keep keeps the dir).
# Env: QEMU (qemu-system-x86_64), VIRTIOFSD (/usr/lib/qemu/virtiofsd),
# TMPDIR (/tmp; keep it short: socket paths must fit in 107 bytes).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
machine=q35 stop=qmp kernel=vmlinux kit=$here/../../build/guest timeout=120 extra='' print=0 keep=0
usage() { echo "usage: $0 [--machine q35|microvm] [--stop qmp|share] [--kernel vmlinux|vmlinuz] [--kit DIR] [--timeout SEC] [--append PARAMS] [--print] [--keep]" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--machine) machine=${2:-}; shift 2 || usage ;;
	--stop) stop=${2:-}; shift 2 || usage ;;
	--kernel) kernel=${2:-}; shift 2 || usage ;;
	--kit) kit=${2:-}; shift 2 || usage ;;
	--timeout) timeout=${2:-}; shift 2 || usage ;;
	--append) extra=${2:-}; shift 2 || usage ;;
	--print) print=1; shift ;;
	--keep) keep=1; shift ;;
	*) usage ;;
	esac
done
case $machine in q35|microvm) ;; *) usage ;; esac
case $stop in qmp|share) ;; *) usage ;; esac
case $kernel in vmlinux|vmlinuz) ;; *) usage ;; esac
case $timeout in ''|*[!0-9]*) usage ;; esac

qemu=${QEMU:-qemu-system-x86_64}
virtiofsd=${VIRTIOFSD:-/usr/lib/qemu/virtiofsd}
fail() { echo "smoke: $machine: error: $*" >&2; exit 1; }
for f in "$kernel" initrd.gz kernel-version; do
	[ -f "$kit/$f" ] || fail "no $kit/$f: build the guest kit first (make guest)"
done
command -v "$qemu" >/dev/null || fail "$qemu not found"
[ -x "$virtiofsd" ] || fail "$virtiofsd not found"
command -v socat >/dev/null || fail "socat not found"
kit=$(cd "$kit" && pwd)
# The host's TSC frequency in kHz: x86 Linux derives BogoMIPS from it
# (loops_per_jiffy = tsc_khz * 1000 / HZ, BogoMIPS = tsc_khz / 500).
host_tsc_khz() {
	awk '/^bogomips/ { printf "%d", $3 * 500; found = 1; exit }
		END { if (!found) exit 1 }' /proc/cpuinfo ||
		fail "cannot read the host TSC frequency from /proc/cpuinfo"
}

# Short paths: unix socket names are limited to 107 bytes.
dir=$(mktemp -d "${TMPDIR:-/tmp}/vmlua-smoke.XXXXXX") || fail "cannot make a temp dir"
vfs_pid='' qemu_pid='' watchdog=''
cleanup() {
	local st=$?
	trap - EXIT INT TERM
	for p in $watchdog $qemu_pid; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $watchdog $qemu_pid; do wait "$p" 2>/dev/null || true; done
	# virtiofsd runs its worker in a child; once QEMU has gone the worker
	# ends and the parent reaps it. Killing the parent first would orphan it.
	if [ -n "$vfs_pid" ]; then
		poll 2 vfs_gone || kill -TERM "$vfs_pid" 2>/dev/null || true
		wait "$vfs_pid" 2>/dev/null || true
	fi
	if [ $keep = 1 ]; then echo "smoke: kept $dir" >&2; else rm -rf "$dir"; fi
	exit $st
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir "$dir/share"
tag=vmlua
marker=VMLUA-GUEST-READY
append="console=ttyS0 quiet cryptomgr.notests vmlua.share=$tag"

# ---- the command lines -------------------------------------------------------
vfs_argv=("$virtiofsd" --socket-path="$dir/vfs.sock" -o source="$dir/share" -o cache=auto)
# Where / is not a mount point (a plain chroot), virtiofsd's namespace
# sandbox cannot make it a slave mount: use its chroot sandbox, as vmlua does
# (vmlua.virtiofsd.default_sandbox).
awk '$5 == "/" { found = 1 } END { exit !found }' /proc/self/mountinfo 2>/dev/null ||
	vfs_argv+=(-o sandbox=chroot)
qemu_argv=("$qemu")
case $machine in
q35)
	qemu_argv+=(-machine q35,accel=tcg
		-object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem)
	fs_device=vhost-user-fs-pci ;;
microvm)
	# virtio-mmio is legacy (v1) by default; vhost-user needs virtio 1.0.
	qemu_argv+=(-machine microvm,accel=tcg,memory-backend=mem
		-object memory-backend-memfd,id=mem,size=256M,share=on
		-global virtio-mmio.force-legacy=false)
	fs_device=vhost-user-fs-device
	# microvm's ACPI is hardware-reduced: no PIT interrupts until the local
	# APIC timer is calibrated, which needs the TSC frequency. Under TCG the
	# guest's TSC is the host's; calibrating it against the PIT fails now and
	# then on a busy host and the guest hangs, so tell the kernel instead.
	tsc_khz=$(host_tsc_khz) || exit 1
	append+=" tsc_early_khz=$tsc_khz" ;;
esac
append+="${extra:+ $extra}"
for word in $extra; do   # the guest prints the last vmlua.marker= given
	case $word in vmlua.marker=*) marker=${word#*=} ;; esac
done
qemu_argv+=(-smp 1 -m 256M
	-kernel "$kit/$kernel" -initrd "$kit/initrd.gz" -append "$append"
	-chardev socket,id=vfs,path="$dir/vfs.sock" -device "$fs_device,chardev=vfs,tag=$tag"
	-serial file:"$dir/serial.log" -display none -no-reboot -nodefaults
	-qmp unix:"$dir/qmp.sock",server=on,wait=off)
# An argv as one line a shell reads back the same (for --print).
shell_words() {
	local a sep=
	for a; do
		if [[ $a =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then printf '%s%s' "$sep" "$a"
		else printf "%s'%s'" "$sep" "${a//\'/\'\\\'\'}"; fi
		sep=' '
	done
}
if [ $print = 1 ]; then
	echo "virtiofsd: $(shell_words "${vfs_argv[@]}")"
	echo "qemu: $(shell_words "${qemu_argv[@]}")"
fi

since() { echo "${EPOCHREALTIME/./} $1" | awk '{ printf "%.3f", ($1 - $2) / 1e6 }'; }
# Poll for a condition (a shell command) every 50 ms for up to SEC seconds.
poll() {
	local sec=$1 t0=${EPOCHREALTIME/./}; shift
	until "$@"; do
		[ $(( ${EPOCHREALTIME/./} - t0 )) -lt $((sec * 1000000)) ] || return 1
		sleep 0.05
	done
}
alive() { kill -0 "$1" 2>/dev/null; }
vfs_gone() { ! alive $vfs_pid; }
tail_logs() {
	echo "--- serial.log (last lines)" >&2; tail -n 15 "$dir/serial.log" >&2 2>/dev/null || true
	echo "--- qemu.log" >&2; tail -n 15 "$dir/qemu.log" >&2 2>/dev/null || true
	echo "--- virtiofsd.log" >&2; tail -n 15 "$dir/virtiofsd.log" >&2 2>/dev/null || true
}

# ---- virtiofsd ---------------------------------------------------------------
"${vfs_argv[@]}" >"$dir/virtiofsd.log" 2>&1 &
vfs_pid=$!
vfs_ready() { grep -qs 'Waiting for vhost-user socket connection' "$dir/virtiofsd.log" || ! alive $vfs_pid; }
poll 10 vfs_ready && alive $vfs_pid || { tail_logs; fail "virtiofsd did not start"; }

# ---- QEMU, up to the marker --------------------------------------------------
t_launch=${EPOCHREALTIME/./}
"${qemu_argv[@]}" >"$dir/qemu.log" 2>&1 </dev/null &
qemu_pid=$!
booted() { grep -qF -- "$marker" "$dir/serial.log" 2>/dev/null || ! alive $qemu_pid; }
poll "$timeout" booted || { tail_logs; fail "no marker within ${timeout}s"; }
alive $qemu_pid || { tail_logs; fail "QEMU exited before the marker"; }
boot_time=$(since "$t_launch")

hello=$dir/share/hello-from-guest.txt
grep -q '^hello from the vmlua guest$' "$hello" 2>/dev/null || { tail_logs; fail "no greeting in the share"; }
grep -qx "kernel: $(cat "$kit/kernel-version")" "$hello" || fail "wrong kernel in $hello: $(cat "$hello")"

# ---- stop and wait for QEMU to exit -----------------------------------------
t_stop=${EPOCHREALTIME/./}
case $stop in
qmp)
	printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"system_powerdown"}' |
		socat -t 5 - UNIX-CONNECT:"$dir/qmp.sock" >"$dir/qmp.log" 2>&1 ||
		{ tail_logs; fail "QMP: socat failed: $(cat "$dir/qmp.log")"; }
	[ "$(grep -c '"return": {}' "$dir/qmp.log")" -eq 2 ] ||
		fail "QMP: system_powerdown not accepted: $(cat "$dir/qmp.log")" ;;
share)
	touch "$dir/share/poweroff-request" ;;
esac
# Wait for QEMU to exit or the watchdog timer to run out, whichever first.
sleep "$timeout" &
watchdog=$!
rc=0 first=
wait -n -p first $qemu_pid $watchdog || rc=$?
stop_time=$(since "$t_stop")
[ "$first" = "$qemu_pid" ] || { tail_logs; fail "QEMU still running ${timeout}s after the $stop stop"; }
qemu_pid=
kill $watchdog 2>/dev/null || true
wait $watchdog 2>/dev/null || true
watchdog=
[ $rc -eq 0 ] || { tail_logs; fail "QEMU exited with status $rc after the $stop stop"; }
grep -q 'vmlua-guest: powering off' "$dir/serial.log" || { tail_logs; fail "the guest did not power itself off"; }

# virtiofsd ends by itself once QEMU has gone.
poll 10 vfs_gone || fail "virtiofsd still running after QEMU exited"
wait $vfs_pid 2>/dev/null || true
vfs_pid=

echo "smoke: $machine boot_to_marker=$boot_time stop_to_exit=$stop_time"
