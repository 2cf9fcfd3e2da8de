#!/usr/bin/env bash
# python/tests/test_install.sh PYTHON BUILD_DIR SOURCE_DIR - the installed
# package: `cmake --install` puts it in P/lib/python3/dist-packages, the tree
# still works after it is moved, and a package copied away from its tree
# fails with an ImportError that says what to do.
set -euo pipefail
py=$1 build=$2 src=$3
if [ -n "${TTML_PY_SKIP:-}" ]; then echo "SKIP: $TTML_PY_SKIP"; exit 77; fi
if [ -z "$py" ] || ! ls "$build"/lib/python3/dist-packages/ttml/_ttml*.so >/dev/null 2>&1; then
  echo "SKIP: the ttml extension is not built in this tree"; exit 77
fi
tmp=$(mktemp -d /tmp/ttml-pyinstall.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/p" >/dev/null
mv "$tmp/p" "$tmp/q"
pkg=$tmp/q/lib/python3/dist-packages
so=$(ls "$pkg"/ttml/_ttml*.so)
readelf -d "$so" | grep -q 'RUNPATH.*\[\$ORIGIN/../../..\]' || { echo "FAIL: RUNPATH of $so"; readelf -d "$so"; exit 1; }

cd "$tmp"
out=$(env -u LD_LIBRARY_PATH PYTHONPATH="$pkg" TTML_PLUGIN_PATH= "$py" "$src/python/examples/example1_linear_regression.py")
echo "$out" | tail -1
echo "$out" | grep -q 'Prediction for \[1, 1\]: 1.0000' || { echo "FAIL: moved install tree"; exit 1; }
env -u LD_LIBRARY_PATH PYTHONPATH="$pkg" "$py" -c 'import ttml, sys; sys.exit(0 if ttml.library_path().startswith(sys.argv[1]) else 1)' "$tmp/q/lib" \
  || { echo "FAIL: the moved tree's package does not use its own libttml"; exit 1; }

# The package copied away from its install tree: a clear ImportError ...
mkdir -p "$tmp/alone" && cp -r "$pkg/ttml" "$tmp/alone/"
err=$(env -u LD_LIBRARY_PATH PYTHONPATH="$tmp/alone" "$py" -c 'import ttml' 2>&1 || true)
echo "$err" | grep -q 'libttml.so.1' && echo "$err" | grep -q 'LD_LIBRARY_PATH' \
  || { echo "FAIL: copied-away package error: $err"; exit 1; }
# ... and LD_LIBRARY_PATH, as the message says, makes it work.
LD_LIBRARY_PATH="$tmp/q/lib" PYTHONPATH="$tmp/alone" "$py" -c \
  'import ttml; ttml.autograd.AutoContext.get_instance().open_device(); print("ok", ttml.__version__)'
echo "python install tree: ok"
