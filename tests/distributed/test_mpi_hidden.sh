#!/usr/bin/env bash
# The mpi communicator plugin without libmpi: in a private mount namespace an
# empty file is bind-mounted over libmpi, so the plugin's dlopen fails. The
# loader must reject it with the dynamic loader's reason, a single-device
# run must still work, and ttml-doctor must explain the fix.
#   test_mpi_hidden.sh BUILD_DIR SOURCE_DIR          (exit 77 = skipped)
set -uo pipefail
build=$(cd "$1" && pwd -P)
src=$(cd "$2" && pwd -P)
if [ "${3:-}" != "--inside" ]; then
  lib=$(ldd "$build/lib/ttml/plugins/libttml_comm_mpi.so" | awk '/libmpi\.so/ {print $3}')
  [ -n "$lib" ] || { echo "SKIP: the mpi plugin does not resolve libmpi"; exit 77; }
  real=$(readlink -f "$lib")
  if ! unshare -m true 2>/dev/null; then echo "SKIP: unshare -m is not permitted here"; exit 77; fi
  exec unshare -m bash -c "empty=\$(mktemp) && mount --bind \"\$empty\" '$real' && bash '$0' '$build' '$src' --inside"
fi
fail=0
check() { if grep -Eq -- "$2" <<<"$out"; then echo "ok: $1"; else echo "FAIL: $1: no line matches /$2/"; echo "$out" | sed 's/^/    /'; fail=1; fi; }
export XDG_CACHE_HOME=$(mktemp -d) TTML_PLUGIN_PATH=
out=$("$build/bin/ttml-inspect" 2>&1)
check "inspect rejects the mpi plugin with the loader's reason" \
      'comm_mpi\.so|dlopen failed.*libttml_comm_mpi\.so'
out=$("$build/bin/ttml-inspect" "$build/lib/ttml/plugins/libttml_comm_mpi.so" 2>&1)
check "the reason names libmpi" 'libmpi\.so\.40'
out=$("$build/bin/ttml-inspect" 2>&1)
check "the local communicator still loads" '^  comm +local$'
out=$("$build/bin/ttml-doctor" 2>&1)
check "doctor explains the fix" 'PROBLEM: .*libttml_comm_mpi\.so.*fix: .*(openmpi-bin libopenmpi-dev|Open MPI).*LD_LIBRARY_PATH'
# a single-device training run still works
out=$("$build/bin/ttml-run" "$src/configs/linear_regression.yaml" 2>&1); rc=$?
[ $rc -eq 0 ] && echo "ok: single-device run (exit 0)" || { echo "FAIL: single-device run exit $rc"; echo "$out" | tail -5; fail=1; }
check "the run trained" 'Prediction for \[1, 1\]'
exit $fail
