"""A minimal test runner for the ttml Python tests: runs every test_*
function of the calling module, prints one line per test, exits 1 when any
failed."""
import sys
import time
import traceback


def run(namespace):
    tests = [(n, f) for n, f in namespace.items() if n.startswith("test_") and callable(f)]
    failed = 0
    for name, fn in tests:
        t0 = time.perf_counter()
        try:
            fn()
            print("ok   %s (%.2f s)" % (name, time.perf_counter() - t0), flush=True)
        except Exception:  # noqa: BLE001 - report every failure
            failed += 1
            print("FAIL %s" % name, flush=True)
            traceback.print_exc()
    print("%d passed, %d failed" % (len(tests) - failed, failed))
    sys.exit(1 if failed else 0)


def raises(exc, fn, *args, match=None, **kwargs):
    """fn(*args) must raise exc (whose message contains `match`); returns the exception."""
    try:
        fn(*args, **kwargs)
    except exc as e:
        if match is not None and match not in str(e):
            raise AssertionError("%s raised %r, expected a message containing %r" % (fn, e, match))
        return e
    raise AssertionError("%s did not raise %s" % (getattr(fn, "__name__", fn), exc.__name__))


def source_dir():
    import os
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
