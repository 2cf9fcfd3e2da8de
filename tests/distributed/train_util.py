"""Helpers shared by the ttml-run distributed tests (test_train_ddp.py,
test_train_pp.py): the corpus a test config names, the per-step losses of a
--metrics file, and the f32 tensors of a safetensors file."""
import json
import os
import re
import struct
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
