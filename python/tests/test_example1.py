"""The guide's Example 1, verbatim but for `import ttnn` -> `import ttml.ttnn
as ttnn` (python/examples/example1_linear_regression.py), prints
"Prediction for [1, 1]: 1.0000"."""
import os
import subprocess
import sys
import tempfile

import harness

EXAMPLE = os.path.join(harness.source_dir(), "examples", "example1_linear_regression.py")


def test_example1_prediction():
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([sys.executable, EXAMPLE], cwd=d, capture_output=True, text=True, timeout=300)
    print(r.stdout, r.stderr)
    assert r.returncode == 0, r.stderr
    assert "Prediction for [1, 1]: 1.0000" in r.stdout
    losses = [float(l.split("Loss: ")[1]) for l in r.stdout.splitlines() if l.startswith("Epoch")]
    assert len(losses) == 10 and losses[-1] < losses[0] * 1e-3, losses


def test_example1_only_imports_changed():
    lines = open(EXAMPLE).read().splitlines()
    assert "import ttml.ttnn as ttnn" in lines and "import ttnn" not in lines


harness.run(dict(globals()))
