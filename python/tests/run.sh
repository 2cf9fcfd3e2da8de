#!/usr/bin/env bash
# python/tests/run.sh PYTHON PKGDIR SCRIPT [ARGS...] - run one Python test
# against the build tree's package. Exit 77 (ctest: skipped) when there is no
# interpreter or the extension was not built (no python3-dev/python3-numpy,
# or a sanitizer build); otherwise the script's own exit code.
set -u
py=$1 pkgdir=$2 script=$3
shift 3
if [ -n "${TTML_PY_SKIP:-}" ]; then echo "SKIP: $TTML_PY_SKIP"; exit 77; fi
if [ -z "$py" ] || ! [ -x "$py" ]; then
  echo "SKIP: no Python 3 interpreter with development headers and NumPy was found at configure time" \
       "(apt-get install python3-dev python3-numpy, then re-run cmake)"
  exit 77
fi
if ! ls "$pkgdir"/ttml/_ttml*.so >/dev/null 2>&1; then
  echo "SKIP: the ttml extension is not built in this tree (sanitizer build, static build or no NumPy)"
  exit 77
fi
export PYTHONPATH=$pkgdir${PYTHONPATH:+:$PYTHONPATH}
# Sanitizer build: the runtimes must be loaded before the (uninstrumented)
# interpreter; its objects are never freed, so leak detection is off.
if [ -n "${TTML_PY_PRELOAD:-}" ]; then
  export LD_PRELOAD="$TTML_PY_PRELOAD${LD_PRELOAD:+ $LD_PRELOAD}"
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fi
export PYTHONDONTWRITEBYTECODE=1
exec "$py" "$script" "$@"
