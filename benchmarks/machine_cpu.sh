#!/usr/bin/env bash
# Run a command and print the machine-wide CPU it cost: busy core-seconds (user + nice + system + irq + softirq +
# steal, from /proc/stat, so jobs that run under other parents, such as slurmd's, count too), idle core-seconds and
# wall seconds. The command's exit status is kept.
#   benchmarks/machine_cpu.sh pytest -q -n 2 -p pytest_cpu_time
set -u
read -r _ u n s i w q sq st _ < /proc/stat
busy0=$((u + n + s + q + sq + st)) idle0=$((i + w)) t0=$(date +%s.%N)
"$@"
rc=$?
read -r _ u n s i w q sq st _ < /proc/stat
busy1=$((u + n + s + q + sq + st)) idle1=$((i + w)) t1=$(date +%s.%N)
hz=$(getconf CLK_TCK)
awk -v b=$((busy1 - busy0)) -v i=$((idle1 - idle0)) -v hz="$hz" -v t0="$t0" -v t1="$t1" 'BEGIN {
    printf "machine CPU: %.0f busy core-s, %.0f idle core-s, %.0f s wall\n", b / hz, i / hz, t1 - t0 }' >&2
exit $rc
