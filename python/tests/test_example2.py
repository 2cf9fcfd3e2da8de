"""The guide's Example 2 (python/examples/example2_nanogpt.py: verbatim but
for the import lines, the data path, max_steps and the greedy-decoding line)
trains with falling loss and prints generated text; the guide's original
decoding line raises the ShapeError a user expects."""
import os
import subprocess
import sys
import tempfile

import numpy as np

import harness
import ttml
import ttml.ttnn as ttnn

EXAMPLE = os.path.join(harness.source_dir(), "examples", "example2_nanogpt.py")
CORPORA = [os.path.join(harness.source_dir(), "..", "..", "shared", "data", "tinyshakespeare.txt"),
           "/usr/share/common-licenses/GPL-3"]
CHARS = 20000      # the guide keeps every window as Python lists: ~2 KB per character
STEPS = 32         # 8 optimizer steps (gradient_accumulation_steps = 4)


def test_example2_trains_and_generates():
    corpus = next(p for p in CORPORA if os.path.exists(p))
    with tempfile.TemporaryDirectory() as d:
        short = os.path.join(d, "short.txt")
        with open(corpus) as f, open(short, "w") as g:
            g.write(f.read()[:CHARS])
        env = dict(os.environ, TTML_EXAMPLE_DATA=short, TTML_EXAMPLE_STEPS=str(STEPS))
        r = subprocess.run([sys.executable, EXAMPLE], cwd=d, env=env, capture_output=True, text=True,
                           timeout=850)
    print(r.stdout[-3000:], r.stderr[-3000:])
    assert r.returncode == 0, r.stderr
    losses = [float(l.split("Loss: ")[1]) for l in r.stdout.splitlines() if l.startswith("Step ")]
    assert len(losses) == STEPS // 4, losses
    assert losses[-1] < losses[0] - 0.5, losses
    out = r.stdout.split("Generated text:\n", 1)
    assert len(out) == 2 and len(out[1].rstrip("\n")) >= 200, out


def test_guide_greedy_line_raises_shape_error():
    """The guide's `int(ttnn.argmax(last_logits, dim=-1).item())` takes the
    argmax at all 128 positions, so item() on it is a ShapeError."""
    ttml.autograd.AutoContext.get_instance().open_device()
    last_logits = ttml.autograd.Tensor.from_numpy(np.random.rand(1, 1, 128, 96).astype(np.float32))
    e = harness.raises(ttml.ShapeError, lambda: int(ttnn.argmax(last_logits, dim=-1).item()),
                       match="item() needs a 1-element tensor, got [1, 1, 128]")
    assert e.code == 3
    fixed = int(ttnn.argmax(last_logits, dim=-1).to_numpy().flatten()[-1])
    assert fixed == int(np.argmax(last_logits.to_numpy()[0, 0, -1]))


harness.run(dict(globals()))
