#!/usr/bin/env bash
# The plain shell launcher the real-guest benchmark compares vmlua with: the
# same virtiofsd and QEMU command lines (from `vmlua plan --json`, one
# argument per NUL-terminated entry in the argv files), started the way
# tests/guest/smoke.sh does it: start virtiofsd and poll its log for its
# ready line, start QEMU and poll the serial log for the marker, both with
# `sleep 0.05`; check the greeting the guest wrote into the share.
#
#   guest-launch.sh CWD VFS_ARGV VFS_LOG VFS_READY QEMU_ARGV QEMU_LOG SERIAL MARKER GREETING QMP_SOCKET
#
# Prints "ready" once the marker is there, then waits for a line on stdin
# and stops the guest as smoke.sh does (QMP system_powerdown through socat,
# wait for QEMU, then for virtiofsd), prints "stopped" and exits 0. Exits 1
# on any failure, stopping what it started.
set -euo pipefail
[ $# -eq 10 ] || { echo "usage: $0 CWD VFS_ARGV VFS_LOG VFS_READY QEMU_ARGV QEMU_LOG SERIAL MARKER GREETING QMP_SOCKET" >&2; exit 2; }
cwd=$1 vfs_argv_file=$2 vfs_log=$3 vfs_ready=$4 qemu_argv_file=$5 qemu_log=$6 serial=$7 marker=$8 greeting=$9 qmp=${10}
mapfile -d '' -t vfs_argv <"$vfs_argv_file"
mapfile -d '' -t qemu_argv <"$qemu_argv_file"
cd "$cwd"

vfs_pid='' qemu_pid=''
cleanup() {
	local st=$?
	trap - EXIT
	[ -z "$qemu_pid" ] || { kill -KILL "$qemu_pid" 2>/dev/null || true; wait "$qemu_pid" 2>/dev/null || true; }
	[ -z "$vfs_pid" ] || { kill -KILL "$vfs_pid" 2>/dev/null || true; wait "$vfs_pid" 2>/dev/null || true; }
	exit $st
}
trap cleanup EXIT
fail() { echo "guest-launch: $*" >&2; exit 1; }
alive() { kill -0 "$1" 2>/dev/null; }
# Poll for a condition every 50 ms for up to SEC seconds.
poll() {
	local n=$(( $1 * 20 )); shift
	until "$@"; do
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 0.05
	done
}

"${vfs_argv[@]}" >"$vfs_log" 2>&1 </dev/null &
vfs_pid=$!
vfs_up() { grep -qsF -- "$vfs_ready" "$vfs_log" || ! alive $vfs_pid; }
poll 10 vfs_up && alive $vfs_pid || fail "virtiofsd did not start"

"${qemu_argv[@]}" >"$qemu_log" 2>&1 </dev/null &
qemu_pid=$!
booted() { grep -qsF -- "$marker" "$serial" || ! alive $qemu_pid; }
poll 120 booted && alive $qemu_pid || fail "no marker"
grep -q '^hello from the vmlua guest$' "$greeting" || fail "no greeting in $greeting"
echo ready

read -r _ || true
printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"system_powerdown"}' |
	socat -t 5 - UNIX-CONNECT:"$qmp" >/dev/null
wait $qemu_pid || fail "QEMU exited with status $?"
qemu_pid=
vfs_gone() { ! alive $vfs_pid; }
poll 10 vfs_gone || fail "virtiofsd still running"
wait $vfs_pid || true
vfs_pid=
echo stopped
