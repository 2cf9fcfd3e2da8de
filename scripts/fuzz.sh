#!/usr/bin/env bash
# Run a fuzzing campaign on one parser: scripts/fuzz.sh TARGET SECONDS
#   TARGET: config | checkpoint | tokenizer | lm_data | plugin_desc (tests/fuzz/fuzz_TARGET.c)
# Builds build-fuzz/ with AFL++ (afl-clang-fast, AFL_USE_ASAN=1 AFL_USE_UBSAN=1,
# the harness linked with AFL++'s LLVMFuzzerTestOneInput driver), then fuzzes from the
# seed corpus tests/fuzz/corpus/TARGET/ for SECONDS on one core (nice'd).
# Findings land in build-fuzz/findings/TARGET/ (AFL++: default/crashes,
# default/hangs, default/fuzzer_stats); the script prints the executions,
# coverage and any crash or hang. Fix each, then add the input to
# tests/fuzz/crashes/TARGET/ so ctest replays it on every run.
set -euo pipefail
cd "$(dirname "$0")/.."
targets="config checkpoint tokenizer lm_data plugin_desc"
if [ $# -ne 2 ] || [[ " $targets " != *" $1 "* ]] || ! [[ $2 =~ ^[0-9]+$ ]]; then
  echo "usage: $0 TARGET SECONDS   (TARGET: ${targets// / | })" >&2
  exit 2
fi
target=$1 seconds=$2
dir=build-fuzz
exe=$dir/tests/fuzz/fuzz_$target
extra_targets=""
[ "$target" = checkpoint ] && extra_targets="ttml_driver_cpu"   # the harness loads tensors on cpu

command -v afl-clang-fast >/dev/null || { echo "afl-clang-fast not found: apt-get install afl++" >&2; exit 1; }
export AFL_USE_ASAN=1 AFL_USE_UBSAN=1 AFL_QUIET=1
cmake -S . -B "$dir" -DCMAKE_C_COMPILER=afl-clang-fast -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DTTML_FUZZ_ENGINE=afl >/dev/null
nice cmake --build "$dir" -j"$(nproc)" --target "fuzz_$target" $extra_targets

out=$dir/findings/$target
mkdir -p "$out"
export TTML_PLUGIN_PATH= G_DEBUG= ASAN_OPTIONS=abort_on_error=1:detect_leaks=0:symbolize=0
# one core: afl-fuzz runs one target process at a time; no CPU pinning on a shared machine
export AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
resume=tests/fuzz/corpus/$target
[ -f "$out/default/fuzzer_stats" ] && resume=-   # continue an earlier campaign
nice afl-fuzz -i "$resume" -o "$out" -m none -t 2000 -V "$seconds" -- "$exe" >"$out/afl.log" 2>&1 || {
  tail -20 "$out/afl.log" >&2
  exit 1
}
grep -E '^(run_time|execs_done|execs_per_sec|corpus_count|bitmap_cvg|edges_found|total_edges|saved_crashes|saved_hangs) ' \
  "$out/default/fuzzer_stats"
found=$(find "$out/default/crashes" "$out/default/hangs" -type f -name 'id:*' 2>/dev/null | wc -l)
if [ "$found" -gt 0 ]; then
  echo "fuzz_$target: $found crash/hang input(s) in $out; replay one with: $exe FILE" >&2
  exit 1
fi
echo "fuzz_$target: no crash or hang in ${seconds}s"
