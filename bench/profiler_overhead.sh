#!/usr/bin/env bash
# bench/profiler_overhead.sh - what the profiler layer costs (issue 5, item 5):
# the nanogpt case of bench/run.sh on plain cpu and on profiler:cpu (summary
# only: no --trace), alternated REPS times, median ms per step of each.
#
# Usage: bench/profiler_overhead.sh         (BUILD, STEPS, WARMUP as in run.sh)
#   REPS=N   alternations (default 3)
# Output:
#   bench case=nanogpt impl=ttml device=cpu ms_per_step=...      (one per rep)
#   bench case=nanogpt impl=ttml device=profiler:cpu ms_per_step=...
#   bench case=profiler_overhead cpu_ms=... profiler_ms=... overhead_pct=...
set -u
here=$(cd "$(dirname "$0")" && pwd)
REPS=${REPS:-3}
STEPS=${STEPS:-20}
export STEPS
cpu=() prof=()
for ((r = 0; r < REPS; r++)); do
    for dev in cpu profiler:cpu; do
        line=$(IMPLS=ttml TTML_ARGS="--device $dev" "$here/run.sh" nanogpt | grep '^bench case=nanogpt impl=ttml')
        echo "${line/impl=ttml/impl=ttml device=$dev}"
        ms=$(echo "$line" | sed -n 's/.* ms_per_step=\([0-9.]*\).*/\1/p')
        [ -n "$ms" ] || { echo "bench case=profiler_overhead error=no-measurement ($line)"; exit 1; }
        if [ "$dev" = cpu ]; then cpu+=("$ms"); else prof+=("$ms"); fi
    done
done
/usr/bin/python3 - "${cpu[*]}" "${prof[*]}" <<'PY'
import statistics, sys
c = statistics.median(float(x) for x in sys.argv[1].split())
p = statistics.median(float(x) for x in sys.argv[2].split())
print(f"bench case=profiler_overhead cpu_ms={c:.3f} profiler_ms={p:.3f} overhead_pct={(p / c - 1) * 100:.2f}")
PY
