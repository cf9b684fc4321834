#!/bin/sh
# The plain shell launcher the benchmarks compare `vmlua run --detach` with,
# as quickemu-style scripts do it: start the VMM in the background, then
# poll for its socket with `sleep 0.05` and return, leaving it running.
#
#   bench/baselines/shell-launch.sh SOCKET COMMAND [ARGS...]
#
# Prints "pid N" (the VMM's), then "ready" once SOCKET exists. Exits 1 (and
# kills the VMM) when the socket has not appeared after 10 s.
sock=$1
shift
"$@" </dev/null >/dev/null 2>&1 &
pid=$!
echo "pid $pid"
n=0
until [ -S "$sock" ]; do
	n=$((n + 1))
	if [ $n -gt 200 ]; then
		kill -KILL $pid
		echo "shell-launch: $sock did not appear" >&2
		exit 1
	fi
	sleep 0.05
done
echo ready
