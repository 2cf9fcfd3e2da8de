"""Helpers the ttml-run training tests under mpirun share (test_train_ddp.py,
test_train_tp.py):
the corpus a test config names, the step lines of a metrics file, and a
safetensors reader (tensor shapes, F32 values and metadata) that needs no
PyTorch."""
import json
import os
import re
import struct


def data_file(config):
    """The first existing corpus of the config's data_config.path list."""
    text = open(config).read()
    base = os.path.dirname(os.path.abspath(config))
    for p in re.findall(r"^    - (.+)$", text, re.M):
        path = os.path.join(base, p.strip())
        if os.path.exists(path):
            return path
    raise SystemExit("no corpus for " + config)


def step_rows(path):
    """The metrics lines of a run that carry a step loss."""
    rows = [json.loads(l) for l in open(path)]
    return [r for r in rows if "step" in r and "loss" in r]


def read_safetensors(path):
    """{name: (shape, F32 values)} and the metadata of a safetensors file."""
    blob = open(path, "rb").read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    out = {}
    for key, t in header.items():
        if key == "__metadata__" or t["dtype"] != "F32":
            continue
        a, b = t["data_offsets"]
        raw = blob[8 + n + a:8 + n + b]
        out[key] = (t["shape"], struct.unpack("<%df" % (len(raw) // 4), raw))
    return out, header.get("__metadata__", {})
