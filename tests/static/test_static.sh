#!/usr/bin/env bash
# The static build (-DBUILD_SHARED_LIBS=OFF): configure the source tree into a
# temporary directory, build the tools, and check that
#   - libttml.a is produced and the tools do not load any libttml.so;
#   - the drivers and core plugins are built in (ttml-inspect: origin
#     "built-in") and train configs/linear_regression.yaml (prediction ~1.0);
#   - an external plugin (examples/third_party_op, compiled with cc against
#     the source headers and WITHOUT -lttml) loads by path and resolves ttml's
#     symbols from the executable (-rdynamic), and trains by name from YAML;
#   - a plugin file named like a built-in (the shared build's libttml_cpu.so,
#     when the optional second argument names that build) is shadowed.
# Slow (a full second build): label "static"; `ctest -LE static` skips it.
set -euo pipefail
# like grep -q, but reads all its input (with pipefail an early exit would SIGPIPE the writer)
has() { grep "$@" >/dev/null; }
src=$1 shared_build=${2:-}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
unset TTML_PLUGIN_PATH
b=$tmp/b
cmake -S "$src" -B "$b" -DBUILD_SHARED_LIBS=OFF -DTTML_BUILD_TESTS=OFF -DTTML_WERROR=ON \
  -DCMAKE_BUILD_TYPE=Release >"$tmp/cfg.log" 2>&1 || { cat "$tmp/cfg.log"; fail "configure"; }
cmake --build "$b" -j2 --target ttml-run ttml-inspect >"$tmp/build.log" 2>&1 || { tail -50 "$tmp/build.log"; fail "build"; }
[ -f "$b/lib/libttml.a" ] || fail "no lib/libttml.a"
if ls "$b"/lib/*.so* "$b"/lib/ttml/*/*.so >/dev/null 2>&1; then fail "shared objects in a static build: $(ls -R "$b/lib")"; fi
ldd "$b/bin/ttml-run" | has libttml && fail "ttml-run loads a libttml: $(ldd "$b/bin/ttml-run")"
grep -q '^library_type=static$' "$b/ttml.pc" || fail "ttml.pc: library_type"
grep -q '^plugin_ldflags=$' "$b/ttml.pc" || fail "ttml.pc: plugin_ldflags must not link libttml in a static build"

out=$("$b/bin/ttml-run" "$src/configs/linear_regression.yaml" 2>&1) || fail "ttml-run: $out"
pred=$(echo "$out" | sed -n 's/^Prediction for \[1, 1\]: //p')
awk -v p="$pred" 'BEGIN { exit !(p != "" && p > 0.95 && p < 1.05) }' || fail "prediction '$pred': $out"

out=$("$b/bin/ttml-inspect")
echo "$out" | has -E "^  cpu +driver .* ok +built-in +$b/bin/ttml-inspect" || fail "cpu driver not built in: $out"
for p in core_ops basic_models optimizers schedulers; do
  echo "$out" | has -E "^  $p .* ok +built-in " || fail "$p not built in: $out"
done

# an external plugin, loaded by path; its ttml symbols come from the tool
mkdir "$tmp/x"
cc -shared -fPIC -fvisibility=hidden -Wall -Wextra -Werror -I"$src/include" $(pkg-config --cflags glib-2.0) \
  -o "$tmp/x/libttml_sqrelu.so" "$src/examples/third_party_op/sqrelu.c" || fail "compiling the external plugin"
readelf -d "$tmp/x/libttml_sqrelu.so" | has 'NEEDED.*libttml' && fail "external plugin links libttml"
out=$("$b/bin/ttml-inspect" --plugin-path "$tmp/x" sqrelu) || fail "ttml-inspect sqrelu: $out"
echo "$out" | has "status: *ok" || fail "external plugin not loaded: $out"
echo "$out" | has "kernel *cpu/sqrelu_fwd" || fail "external kernel not registered: $out"
out=$("$b/bin/ttml-run" "$src/examples/third_party_op/mlp_sqrelu.yaml" --plugin-path "$tmp/x" 2>&1) \
  || fail "training with the external plugin: $out"
echo "$out" | awk '/^Epoch [0-9]+\/[0-9]+, Loss: / { l = $NF; if (!n++) f = l }
                   END { exit !(n >= 2 && l < 0.5 * f) }' || fail "loss does not fall: $out"
# a plugin file with a built-in's basename is shadowed, not registered twice
if [ -n "$shared_build" ] && [ -f "$shared_build/lib/ttml/drivers/libttml_cpu.so" ]; then
  mkdir "$tmp/dup" && cp "$shared_build/lib/ttml/drivers/libttml_cpu.so" "$tmp/dup/"
  out=$("$b/bin/ttml-inspect" --plugin-path "$tmp/dup" --rejected)
  echo "$out" | has "$tmp/dup/libttml_cpu.so: shadowed: shadowed by the built-in cpu plugin" \
    || fail "a libttml_cpu.so file beside the built-in cpu driver: $out"
fi
echo "static build OK: libttml.a, built-in plugins, no libttml.so, external plugin by path"
