"""Helpers shared by the ttml-run distributed tests (test_train_ddp.py,
test_train_pp.py): the corpus a test config names, the per-step losses of a
--metrics file and their comparison, and the f32 tensors of a safetensors
file."""
import json
import os
import re
import struct
import subprocess
import sys


def data_file(config):
    """The first existing corpus of the config's data_config.path list."""
    text = open(config).read()
    base = os.path.dirname(os.path.abspath(config))
    for p in re.findall(r"^    - (.+)$", text, re.M):
        path = os.path.join(base, p.strip())
        if os.path.exists(path):
            return path
    sys.exit("no corpus for " + config)


def losses(tmp, name):
    """The step lines of tmp/name.jsonl and their losses."""
    rows = [json.loads(l) for l in open(os.path.join(tmp, name + ".jsonl"))]
    steps = [r for r in rows if "step" in r and "loss" in r]
    return steps, [r["loss"] for r in steps]


def header(path):
    """The file's bytes, its header length and its parsed header."""
    blob = open(path, "rb").read()
    (n,) = struct.unpack("<Q", blob[:8])
    return blob, n, json.loads(blob[8:8 + n])


def tensors(path, skip_optim=False):
    """name -> f32 values of every F32 tensor (without optim.* when skip_optim)."""
    blob, n, head = header(path)
    out = {}
    for key, t in head.items():
        if key == "__metadata__" or t["dtype"] != "F32" or (skip_optim and key.startswith("optim.")):
            continue
        a, b = t["data_offsets"]
        raw = blob[8 + n + a:8 + n + b]
        out[key] = struct.unpack("<%df" % (len(raw) // 4), raw)
    return out


def compare_losses(tmp, ref, name, rel_max, exact=False, n=20):
    """name's n logged losses against ref's: each within rel_max relative
    (equal when exact). Returns name's step lines and the worst difference."""
    _, ref_loss = losses(tmp, ref)
    steps, loss = losses(tmp, name)
    if len(loss) != n or len(ref_loss) != n:
        sys.exit("%s: expected %d logged steps, got %d and %d" % (name, n, len(ref_loss), len(loss)))
    worst = 0.0
    for i, (a, b) in enumerate(zip(ref_loss, loss)):
        rel = abs(a - b) / abs(a)
        worst = max(worst, rel)
        if (exact and a != b) or rel > rel_max:
            sys.exit("%s: step %d loss %.9g vs reference %.9g (relative %.3g)" % (name, i + 1, b, a, rel))
    return steps, worst


def run_ttml(ttml_run, mpirun, corpus, tmp, name, config, ranks, extra=(), expect_ok=True):
    """ttml-run CONFIG --data CORPUS --metrics tmp/name.jsonl [extra] in tmp,
    under mpirun -np ranks when ranks > 0; exits on failure when expect_ok."""
    cmd = [ttml_run, config, "--data", corpus, "--metrics", os.path.join(tmp, name + ".jsonl")] + list(extra)
    if ranks:
        cmd = [mpirun, "--oversubscribe", "-np", str(ranks)] + cmd
    p = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=600)
    if expect_ok and p.returncode != 0:
        sys.exit("%s failed (%d):\n%s\n%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    return p
