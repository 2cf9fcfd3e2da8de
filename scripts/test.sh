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
  # intercept_tls_get_addr=0: LeakSanitizer's exit-time tracer crashed ("Tracer
  # caught signal 11") in 2 CI runs. gcc 12's libsanitizer (fixed upstream after
  # GCC 13 / LLVM 16) takes a dynamic TLS block (the _Thread_local state of the
  # dlopen'ed plugins) whose start is 16 bytes past a page boundary for a glibc
  # 2.19 TLS header and reads garbage as its bounds: a coincidence of addresses,
  # hence a flake. Without the interceptor the suite still has no leak report.
  # -j1 kept as well (the crash was only ever seen beside another suite).
  # OMP_NUM_THREADS=1: LeakSanitizer's exit-time tracer crashes (SIGSEGV in
  # its thread suspender) on libgomp's worker threads, which oneDNN starts for
  # the precision bf16 tests; with one OpenMP thread there are none.
  OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:intercept_tls_get_addr=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j1 -E 'test_install'
fi
