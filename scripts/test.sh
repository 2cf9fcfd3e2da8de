#!/usr/bin/env bash
# The test command: build with -Werror, run every CUnit suite under ctest,
# then the same suites in an AddressSanitizer + UndefinedBehaviorSanitizer
# build. Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh build
ctest --test-dir build --output-on-failure -j2
if [ "${TTML_SKIP_SANITIZERS:-0}" != 1 ]; then
  scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTTML_SANITIZE=address,undefined
  # LeakSanitizer stays on; plugins are never dlclosed so their frames symbolize.
  # -j1: LeakSanitizer's exit-time tracer (gcc 12's libsanitizer) crashed with
  # "Tracer caught signal 11" in 2 of the last CI runs, only while another
  # sanitized suite ran beside it (0 of 68 runs alone); one suite at a time.
  # OMP_NUM_THREADS=1: LeakSanitizer's exit-time tracer crashes (SIGSEGV in
  # its thread suspender) on libgomp's worker threads, which oneDNN starts for
  # the precision bf16 tests; with one OpenMP thread there are none.
  OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j1 -E 'test_install'
fi
