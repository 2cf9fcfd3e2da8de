#!/usr/bin/env bash
# The third-party op SDK, as a newcomer uses it (docs/writing-plugins.md):
# install ttml to a temporary prefix and MOVE the tree; copy
# examples/third_party_op out of the source tree; build it against the moved
# install with CMake (find_package + ttml_add_plugin_module) and with the
# pkg-config one-liner; check the plugin file (RUNPATH, NEEDED, one export);
# run its gradient check; find it with ttml-inspect; train mlp_sqrelu.yaml
# with --plugin-path and TTML_PLUGIN_PATH (the loss must fall); and install it
# into the ttml prefix, where it is found with no flags at all.
set -euo pipefail
# like grep -q, but reads all its input (with pipefail an early exit would SIGPIPE the writer)
has() { grep "$@" >/dev/null; }
build=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
unset TTML_PLUGIN_PATH PKG_CONFIG_PATH
cmake --install "$build" --prefix "$tmp/p" >/dev/null
mv "$tmp/p" "$tmp/q"
q=$tmp/q
cp -r "$src/examples/third_party_op" "$tmp/ex"
# the example may only use the installed SDK: no path into the source tree
if grep -rnE '\.\./\.\./|include/ttml/|/core/|/plugins/' "$tmp/ex"/*.c "$tmp/ex/CMakeLists.txt"; then
  fail "the example refers to the ttml source tree"
fi
# a sanitizer build's libttml needs its runtime first in programs linking it
san=
if readelf -d "$q/lib/libttml.so.1" | has 'NEEDED.*libasan'; then san="-fsanitize=address,undefined"; fi
runpath() { readelf -d "$1" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p'; }
exports() { nm -D --defined-only "$1" | awk '$2 ~ /[TDBR]/ {print $3}' | grep -v '^_' || true; }

# ---- 1. CMake: find_package(ttml) from the moved tree ----
cmake -S "$tmp/ex" -B "$tmp/b1" -DCMAKE_PREFIX_PATH="$q" -DCMAKE_C_FLAGS="-Wall -Wextra -Werror $san" \
  >"$tmp/cfg.log" 2>&1 || { cat "$tmp/cfg.log"; fail "cmake configure of the example"; }
cmake --build "$tmp/b1" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "cmake build of the example"; }
so1=$tmp/b1/libttml_sqrelu.so
[ -f "$so1" ] || fail "ttml_add_plugin_module did not produce libttml_sqrelu.so"
[ "$(runpath "$so1")" = '$ORIGIN/../..' ] || fail "plugin RUNPATH is '$(runpath "$so1")'"
readelf -d "$so1" | has '(RPATH)' && fail "plugin has DT_RPATH instead of DT_RUNPATH"
readelf -d "$so1" | has 'NEEDED.*\[libttml.so.1\]' || fail "plugin does not NEED libttml.so.1"
[ "$(exports "$so1")" = ttml_plugin_sqrelu_get_desc ] || fail "plugin exports: $(exports "$so1")"
ctest --test-dir "$tmp/b1" -V >"$tmp/check.log" 2>&1 || { cat "$tmp/check.log"; fail "sqrelu_check"; }
grep -q "finite differences agree" "$tmp/check.log" || fail "sqrelu_check did not run its checks"
grep -q "device ttsim: sqrelu kernel missing (cpu fallback)" "$tmp/check.log" || fail "fallback not exercised"

# ---- 2. the pkg-config one-liner ----
export PKG_CONFIG_PATH=$q/lib/pkgconfig
[ "$(readlink -f "$(pkg-config --variable=pluginsdir ttml)")" = "$q/lib/ttml/plugins" ] || fail "pluginsdir"
[ "$(readlink -f "$(pkg-config --variable=driversdir ttml)")" = "$q/lib/ttml/drivers" ] || fail "driversdir"
major=$(sed -n 's/^#define TTML_ABI_MAJOR \([0-9]*\)/\1/p' "$q/include/ttml/plugin.h")
minor=$(sed -n 's/^#define TTML_ABI_MINOR \([0-9]*\)/\1/p' "$q/include/ttml/plugin.h")
[ "$(pkg-config --variable=plugin_abi_major ttml)" = "$major" ] || fail "plugin_abi_major"
[ "$(pkg-config --variable=plugin_abi_minor ttml)" = "$minor" ] || fail "plugin_abi_minor"
[ "$(pkg-config --modversion ttml)" = "$(sed -n 's/^project(ttml VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")" ] \
  || fail "ttml.pc version"
mkdir "$tmp/b2"
(cd "$tmp/b2" && cc -shared -fPIC -fvisibility=hidden -Wall -Wextra -Werror -o libttml_sqrelu.so \
  "$tmp/ex/sqrelu.c" $(pkg-config --cflags --libs ttml)) || fail "pkg-config one-liner"
so2=$tmp/b2/libttml_sqrelu.so
[ "$(exports "$so2")" = ttml_plugin_sqrelu_get_desc ] || fail "one-liner plugin exports: $(exports "$so2")"
unset PKG_CONFIG_PATH

# ---- 3. ttml-inspect finds it ----
out=$("$q/bin/ttml-inspect" --plugin-path "$tmp/b2" sqrelu) || fail "ttml-inspect sqrelu: $out"
echo "$out" | has "status: *ok" || fail "sqrelu not loaded: $out"
echo "$out" | has "from: *--plugin-path" || fail "not from --plugin-path: $out"
for f in "op *sqrelu" "kernel *cpu/sqrelu_fwd" "kernel *cpu/sqrelu_bwd"; do
  echo "$out" | has "$f" || fail "ttml-inspect does not list '$f': $out"
done

# ---- 4. train with it from YAML, by name ----
cfg=$tmp/ex/mlp_sqrelu.yaml
loss_falls() {  # stdin: ttml-run output; the last epoch's loss below half the first's
  awk '/^Epoch [0-9]+\/[0-9]+, Loss: / { l = $NF; if (!n++) f = l } END {
         if (n < 2) { print "no epochs"; exit 1 }
         if (!(l < 0.5 * f)) { printf "loss %g -> %g does not fall\n", f, l; exit 1 }
         printf "loss %g -> %g\n", f, l }'
}
out=$("$q/bin/ttml-run" "$cfg" --plugin-path "$tmp/b1" 2>&1) || fail "ttml-run --plugin-path: $out"
echo "$out" | loss_falls || fail "training with --plugin-path: $out"
out=$(TTML_PLUGIN_PATH=$tmp/b2 "$q/bin/ttml-run" "$cfg" 2>&1) || fail "ttml-run with TTML_PLUGIN_PATH: $out"
echo "$out" | loss_falls >/dev/null || fail "training with TTML_PLUGIN_PATH: $out"
# without the plugin: a config error naming the key and what is available
if out=$("$q/bin/ttml-run" "$cfg" 2>&1); then fail "trained without the plugin?"; fi
echo "$out" | has "mlp_sqrelu.yaml:[0-9]*:[0-9]*: activation 'sqrelu' is not a registered op; available one-input ops: .*relu" \
  || fail "missing-plugin error: $out"

# ---- 5. installed beside ttml's own plugins: found with no flags ----
cmake --install "$tmp/b1" --prefix "$q" >/dev/null
inst=$q/lib/ttml/plugins/libttml_sqrelu.so
[ -f "$inst" ] || fail "cmake --install did not put the plugin in lib/ttml/plugins"
found=$(ldd "$inst" | sed -n 's/.*libttml.so.1 => \(.*\) (.*/\1/p')
[ -n "$found" ] && [ "$(readlink -f "$found")" = "$(readlink -f "$q/lib/libttml.so.1")" ] \
  || fail "installed plugin's RUNPATH does not find the install's libttml: $(ldd "$inst")"
"$q/bin/ttml-inspect" sqrelu | has "from: *beside libttml" || fail "installed plugin not found beside libttml"
"$q/bin/ttml-run" "$cfg" 2>&1 | loss_falls >/dev/null || fail "training with the installed plugin"
echo "SDK OK: CMake and pkg-config builds against a moved install, gradient check, inspect, YAML training"
