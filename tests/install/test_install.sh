#!/usr/bin/env bash
# Install to a temporary prefix, move the tree, and check that it still runs
# (RUNPATH $ORIGIN), that every ELF file has the expected RUNPATH, and that
# with RUNPATH stripped it runs through LD_LIBRARY_PATH alone.
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/p" >/dev/null
mv "$tmp/p" "$tmp/q"
q=$tmp/q
fail() { echo "FAIL: $*"; exit 1; }
runpath() { readelf -d "$1" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p'; }
[ -e "$q/lib/libttml.so.1" ] || fail "lib/libttml.so.1 missing"
[ "$(runpath "$q/bin/ttml-run")" = '$ORIGIN/../lib' ] || fail "bin/ttml-run RUNPATH is '$(runpath "$q/bin/ttml-run")'"
[ "$(runpath "$q/lib/libttml.so.1")" = '$ORIGIN' ] || fail "libttml RUNPATH"
for so in "$q"/lib/ttml/drivers/*.so "$q"/lib/ttml/plugins/*.so; do
  [ "$(runpath "$so")" = '$ORIGIN/../..' ] || fail "$so RUNPATH is '$(runpath "$so")'"
  readelf -d "$so" | grep -q 'NEEDED.*libttml.so.1' || fail "$so does not NEED libttml.so.1"
  readelf -d "$so" | grep -q '(RPATH)' && fail "$so has DT_RPATH instead of DT_RUNPATH"
  syms=$(nm -D --defined-only "$so" | awk '$2 ~ /[TD]/ {print $3}' | grep -v '^_' || true)
  [ "$(echo "$syms" | grep -c .)" = 1 ] || fail "$so exports more than its entry: $syms"
done
cfg=$src/configs/linear_regression.yaml
out=$(env -u TTML_PLUGIN_PATH "$q/bin/ttml-run" "$cfg")
echo "$out" | grep -q "Prediction for \[1, 1\]" || fail "moved tree did not train: $out"
"$q/bin/ttml-inspect" | grep -q "beside libttml.*$q/lib/ttml/drivers" || fail "ttml-inspect does not search the moved tree"
# strip RUNPATH: only LD_LIBRARY_PATH can find libttml now
for f in "$q"/bin/* "$q"/lib/libttml.so.1 "$q"/lib/ttml/*/*.so; do patchelf --remove-rpath "$(readlink -f "$f")"; done
if env -u LD_LIBRARY_PATH "$q/bin/ttml-run" "$cfg" >/dev/null 2>&1; then fail "runs without RUNPATH and LD_LIBRARY_PATH?"; fi
LD_LIBRARY_PATH=$q/lib "$q/bin/ttml-run" "$cfg" | grep -q "Prediction for \[1, 1\]" || fail "LD_LIBRARY_PATH deployment"
echo "install tree OK: moved, RUNPATHs, exports, LD_LIBRARY_PATH"
