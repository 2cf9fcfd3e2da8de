#!/usr/bin/env bash
# ttml-doctor against staged deployments: a healthy build tree, a moved
# install tree, and one broken deployment per diagnosis. Each case checks the
# exit status and that the PROBLEM line names the cause (and its fix).
#   test_doctor.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
build=$(cd "$1" && pwd -P)
src=${2:-$(dirname "$0")/../..}
# the ABI this ttml provides, from its one definition
abi_major=$(sed -n 's/^#define TTML_ABI_MAJOR //p' "$src/include/ttml/plugin.h")
abi_minor=$(sed -n 's/^#define TTML_ABI_MINOR //p' "$src/include/ttml/plugin.h")
abi_newer=$((abi_minor + 1))
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
tmp=$(cd "$tmp" && pwd -P)
fx=$build/tests/fixtures
n_fail=0 n_pass=0

# A clean environment: no plugin path, no thread settings, a private cache.
clean_env=(env -u LD_LIBRARY_PATH -u TTML_PLUGIN_PATH -u OPENBLAS_NUM_THREADS -u OMP_NUM_THREADS
           -u GOTO_NUM_THREADS -u TTML_CPU_THREADS -u TTML_REGISTRY_FORK -u G_MESSAGES_DEBUG
           XDG_CACHE_HOME="$tmp/cache")

# run NAME EXPECTED_RC [env VAR=VALUE...] -- COMMAND...   (output in $out)
run() {
  local name=$1 want=$2; shift 2
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  out=$("${clean_env[@]}" "${envs[@]}" "$@" 2>&1); rc=$?
  if [ "$rc" != "$want" ]; then
    echo "FAIL [$name]: exit $rc, expected $want"; echo "$out" | sed 's/^/    /'; n_fail=$((n_fail + 1)); return 1
  fi
  return 0
}
# expect NAME REGEX: a line of $out matches the (grep -E) regex
expect() {
  if grep -Eq -- "$2" <<<"$out"; then n_pass=$((n_pass + 1)); return 0; fi
  echo "FAIL [$1]: no line matches /$2/"; echo "$out" | sed 's/^/    /'; n_fail=$((n_fail + 1))
}
reject() {
  if ! grep -Eq -- "$2" <<<"$out"; then n_pass=$((n_pass + 1)); return 0; fi
  echo "FAIL [$1]: unexpected line /$2/:"; echo "$out" | grep -E -- "$2" | sed 's/^/    /'; n_fail=$((n_fail + 1))
}
problems() { echo "$out" | grep -c '^PROBLEM: '; }

doctor=$build/bin/ttml-doctor

# ---- 1. healthy build tree --------------------------------------------------
if run healthy 0 -- "$doctor"; then
  expect healthy '^ttml-doctor: healthy$'
  expect healthy "^ok: libttml .* at $build/lib/libttml\\.so"
  expect healthy "^ok: plugin cpu .*\\(driver, ABI $abi_major\\.$abi_minor\\) loaded from"
  expect healthy '^ok: search beside libttml +.*/lib/ttml/drivers$'
  expect healthy '^ok: hwloc topology: .* physical core'
  expect healthy '^ok: cpu driver: '
  expect healthy '^ok: one libttml: '
  reject healthy '^PROBLEM'
fi
# -v prints every resolved dependency with the step that found it
if run verbose 0 -- "$doctor" -v; then
  expect verbose "libttml_cpu\\.so: libttml\\.so\\.1 => $build/lib/libttml\\.so.* \\(RUNPATH, already loaded\\)"
  expect verbose 'libttml_cpu\.so: libhwloc\.so\.[0-9]+ => /.*libhwloc\.so'
fi
# --json is one JSON object with the same verdict
if run json 0 -- "$doctor" --json; then
  expect json '^\{"healthy": true, "problems": 0, '
  if command -v python3 >/dev/null; then
    echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["healthy"] and d["findings"]' \
      && n_pass=$((n_pass + 1)) || { echo "FAIL [json]: not valid JSON"; n_fail=$((n_fail + 1)); }
  fi
fi

# ---- 2. install tree moved elsewhere: still healthy -------------------------
cmake --install "$build" --prefix "$tmp/p" >/dev/null
mv "$tmp/p" "$tmp/q"
q=$tmp/q
if run moved-install 0 -- "$q/bin/ttml-doctor"; then
  expect moved-install '^ttml-doctor: healthy$'
  expect moved-install "^ok: libttml .* at $q/lib/libttml\\.so"
  expect moved-install "^ok: plugin core_ops .* loaded from $q/lib/ttml/plugins/libttml_core_ops\\.so"
fi

# ---- 3. wrong-ABI plugins -----------------------------------------------------
mkdir -p "$tmp/abi"
cp "$fx/broken/libttml_fx_wrongmajor.so" "$fx/broken/libttml_fx_newerminor.so" "$tmp/abi/"
if run abi 1 -- "$doctor" --plugin-path "$tmp/abi"; then
  expect abi "^PROBLEM: $tmp/abi/libttml_fx_wrongmajor\\.so .*built for ABI 99\\.$abi_minor, ttml provides $abi_major\\.$abi_minor.* — fix: .*rebuild it against this ttml"
  expect abi "^PROBLEM: $tmp/abi/libttml_fx_newerminor\\.so .*built for ABI $abi_major\\.$abi_newer.* — fix: the plugin was built against a newer ttml .*upgrade ttml"
  [ "$(problems)" = 2 ] && n_pass=$((n_pass + 1)) || { echo "FAIL [abi]: $(problems) problems, expected 2"; n_fail=$((n_fail + 1)); }
  expect abi '^ttml-doctor: 2 problem\(s\) found$'
fi

# ---- 4. a plugin whose NEEDED library is missing ----------------------------
mkdir -p "$tmp/dep"
cp "$fx/broken/libttml_fx_good.so" "$tmp/dep/"
patchelf --add-needed libdoesnotexist.so.7 "$tmp/dep/libttml_fx_good.so"
if run missing-dep 1 -- "$doctor" --plugin-path "$tmp/dep"; then
  expect missing-dep "^PROBLEM: $tmp/dep/libttml_fx_good\\.so \\(--plugin-path\\): dlopen failed: .*libdoesnotexist\\.so\\.7.* — fix: unresolved dependency libdoesnotexist\\.so\\.7 \\(needed by libttml_fx_good\\.so\\)"
  expect missing-dep 'fix: .*LD_LIBRARY_PATH'
  [ "$(problems)" = 1 ] && n_pass=$((n_pass + 1)) || { echo "FAIL [missing-dep]: $(problems) problems, expected 1"; n_fail=$((n_fail + 1)); }
fi
# ... resolved through LD_LIBRARY_PATH: healthy, and -v says where it came from
mkdir -p "$tmp/deplib"
cp "$fx/broken/libttml_fx_good.so" "$tmp/deplib/libdoesnotexist.so.7"
if run dep-ld-library-path 0 LD_LIBRARY_PATH="$tmp/deplib" -- "$doctor" -v --plugin-path "$tmp/dep"; then
  expect dep-ld-library-path "libttml_fx_good\\.so: libdoesnotexist\\.so\\.7 => $tmp/deplib/libdoesnotexist\\.so\\.7 \\(LD_LIBRARY_PATH"
fi
# ... resolved through the plugin's own RUNPATH ($ORIGIN expanded)
mkdir -p "$tmp/dep2/deps"
cp "$tmp/dep/libttml_fx_good.so" "$tmp/dep2/"
cp "$fx/broken/libttml_fx_good.so" "$tmp/dep2/deps/libdoesnotexist.so.7"
patchelf --set-rpath '$ORIGIN/deps' "$tmp/dep2/libttml_fx_good.so"
if run dep-runpath 0 -- "$doctor" -v --plugin-path "$tmp/dep2"; then
  expect dep-runpath "libttml_fx_good\\.so: libdoesnotexist\\.so\\.7 => $tmp/dep2/deps/libdoesnotexist\\.so\\.7 \\(RUNPATH"
fi

# ---- 5. two libttml copies: another copy first in LD_LIBRARY_PATH ----------
mkdir -p "$tmp/other"
cp -L "$build/lib/libttml.so.1" "$tmp/other/libttml.so.1"
if run two-copies 1 LD_LIBRARY_PATH="$tmp/other" -- "$doctor"; then
  expect two-copies "^PROBLEM: two libttml copies reachable: this process runs $tmp/other/libttml\\.so\\.1 .* but this program's own RUNPATH finds $build/lib/libttml\\.so.*the same build copied twice.* — fix: keep one installation: remove the directory of $tmp/other/libttml\\.so\\.1 from LD_LIBRARY_PATH"
  expect two-copies "^PROBLEM: LD_LIBRARY_PATH entry $tmp/other shadows the install: its libttml\\.so\\.1 \\(identical bytes\\) is found before $build/lib/libttml\\.so\\.1"
  expect two-copies "^PROBLEM: no plugin directory $tmp/other/ttml beside the running libttml"
fi
# ... a different build (another build id) is named as such
if command -v python3 >/dev/null; then
  python3 - "$tmp/other/libttml.so.1" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
note = b'\x04\x00\x00\x00\x14\x00\x00\x00\x03\x00\x00\x00GNU\x00'  # GNU build-id note, 20-byte id
i = b.find(note)
assert i >= 0, "no build-id note"
b[i + len(note)] ^= 0xff
open(p, 'wb').write(bytes(b))
PY
if run two-builds 1 LD_LIBRARY_PATH="$tmp/other" -- "$doctor"; then
  expect two-builds "^PROBLEM: two libttml copies reachable: .* finds $build/lib/libttml\\.so.*, a different build\\)"
fi
fi
# ... plugins of another installation (their RUNPATH finds its libttml)
if run other-install-plugins 1 -- "$doctor" --plugin-path "$q/lib/ttml"; then
  expect other-install-plugins "^PROBLEM: two libttml copies reachable: this process runs $build/lib/libttml\\.so.* but plugin $q/lib/ttml/drivers/libttml_cpu\\.so resolves libttml\\.so\\.1 through its RUNPATH to $q/lib/libttml\\.so.* — fix: the plugin belongs to another ttml installation"
  # the build tree's own copies are identical, so shadowing them is not a problem
  expect other-install-plugins "^ok: $build/lib/ttml/drivers/libttml_cpu\\.so \\(beside libttml\\) is an identical copy of $q/lib/ttml/drivers/libttml_cpu\\.so"
fi

# ---- 6. LD_LIBRARY_PATH holding a different copy of a plugin ---------------
mkdir -p "$tmp/stale"
cp "$build/lib/ttml/plugins/libttml_schedulers.so" "$tmp/stale/libttml_core_ops.so"
if run ld-shadow-plugin 1 LD_LIBRARY_PATH="$tmp/stale" -- "$doctor"; then
  expect ld-shadow-plugin "^PROBLEM: LD_LIBRARY_PATH entry $tmp/stale holds a different libttml_core_ops\\.so than the plugin ttml loads \\($build/lib/ttml/plugins/libttml_core_ops\\.so\\) — fix: .*delete the stale $tmp/stale/libttml_core_ops\\.so"
  [ "$(problems)" = 1 ] && n_pass=$((n_pass + 1)) || { echo "FAIL [ld-shadow-plugin]: $(problems) problems, expected 1"; n_fail=$((n_fail + 1)); }
fi
# ... and a different copy earlier in the plugin path: which one wins
if run shadowed 1 -- "$doctor" --plugin-path "$tmp/stale"; then
  expect shadowed "^PROBLEM: two different copies of libttml_core_ops\\.so: $tmp/stale/libttml_core_ops\\.so wins, $build/lib/ttml/plugins/libttml_core_ops\\.so is ignored — fix: .*rm $build/lib/ttml/plugins/libttml_core_ops\\.so"
fi

# ---- 7. plugin directories that do not exist --------------------------------
if run no-dir 1 -- "$doctor" --plugin-path "$tmp/nope"; then
  expect no-dir "^PROBLEM: --plugin-path directory $tmp/nope does not exist — fix: check the spelling"
  [ "$(problems)" = 1 ] && n_pass=$((n_pass + 1)) || { echo "FAIL [no-dir]: $(problems) problems, expected 1"; n_fail=$((n_fail + 1)); }
fi
if run no-env-dir 1 TTML_PLUGIN_PATH="$tmp/nope2" -- "$doctor"; then
  expect no-env-dir "^PROBLEM: TTML_PLUGIN_PATH directory $tmp/nope2 does not exist"
fi

# ---- 8. a plugin that crashed: recorded in the cache, skipped, rescan fix --
mkdir -p "$tmp/crash"
cp "$fx/crash/libttml_fx_crash.so" "$tmp/crash/"
run crash-scan 0 TTML_REGISTRY_FORK=1 XDG_CACHE_HOME="$tmp/crashcache" -- \
  "$build/bin/ttml-inspect" --plugin-path "$tmp/crash" >/dev/null
grep -q 'status=crashed' "$tmp/crashcache/ttml/registry.ini" 2>/dev/null && n_pass=$((n_pass + 1)) ||
  { echo "FAIL [crash-scan]: the crash was not recorded in $tmp/crashcache/ttml/registry.ini"; n_fail=$((n_fail + 1)); }
if run crashed 1 TTML_REGISTRY_FORK=1 XDG_CACHE_HOME="$tmp/crashcache" -- "$doctor" --plugin-path "$tmp/crash"; then
  expect crashed "^PROBLEM: $tmp/crash/libttml_fx_crash\\.so \\(--plugin-path\\) crashed while loading and is skipped: .*signal.* — fix: fix or remove the plugin, then rescan with 'ttml-inspect --scan'"
  expect crashed "^ok: crash cache $tmp/crashcache/ttml/registry\\.ini: .*, 1 crashed$"
fi
# the doctor survives a crashing plugin it has never seen (it scans in a child)
if run crash-fresh 1 XDG_CACHE_HOME="$tmp/freshcache" -- "$doctor" --plugin-path "$tmp/crash"; then
  expect crash-fresh "^PROBLEM: $tmp/crash/libttml_fx_crash\\.so .*crashed while loading"
fi

# ---- 9. thread settings beyond the physical cores ---------------------------
if run threads 1 OPENBLAS_NUM_THREADS=4096 OMP_NUM_THREADS=lots -- "$doctor"; then
  expect threads '^PROBLEM: OPENBLAS_NUM_THREADS=4096 exceeds the [0-9]+ physical core\(s\) — fix: export OPENBLAS_NUM_THREADS=[0-9]+'
  expect threads "^PROBLEM: OMP_NUM_THREADS='lots' is not a positive integer"
fi
if run cpu-threads 1 TTML_CPU_THREADS=4096 -- "$doctor"; then
  expect cpu-threads '^PROBLEM: the cpu driver runs 4096 threads on [0-9]+ physical core\(s\) — fix: export TTML_CPU_THREADS='
fi

# ---- 10. LD_LIBRARY_PATH deployment (RUNPATH stripped) is healthy ----------
for f in "$q"/bin/ttml-doctor "$q"/lib/libttml.so.1 "$q"/lib/ttml/*/*.so; do patchelf --remove-rpath "$(readlink -f "$f")"; done
if run ld-deploy 0 LD_LIBRARY_PATH="$q/lib" -- "$q/bin/ttml-doctor"; then
  expect ld-deploy '^ttml-doctor: healthy$'
  expect ld-deploy "^ok: one libttml: $q/lib/libttml\\.so"
fi

echo "test_doctor: $n_pass checks passed, $n_fail failed"
[ "$n_fail" = 0 ]
