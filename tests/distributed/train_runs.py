"""Helpers the ttml-run training tests share (test_train_ddp.py,
test_train_tp.py, test_train_pp.py, test_train_mesh.py): a variant of a test
config, the corpus it names, a ttml-run (under mpirun or not), the step lines
of a --metrics file and their comparison, a safetensors reader (tensor
shapes, F32 values and metadata) and writer that need no PyTorch, and the
simulated mesh's Ethernet ring time of an all-reduce (docs/ttsim.md)."""
import json
import os
import re
import struct
import subprocess
import sys

HOP_S, LINK_BPS = 650e-9, 100e9 / 8   # Wormhole Ethernet: latency per hop, one 100 Gb/s link


def ring_allreduce_s(n, nbytes):
    """Simulated seconds of a ring all-reduce of nbytes over n chips: 2(n-1)
    steps of one hop's latency plus nbytes/n over the link (0 for n < 2)."""
    return 2 * (n - 1) * (HOP_S + nbytes / n / LINK_BPS)


def check_sim_comm(name, row, want_ms):
    """A step line's sim_comm_ms equals want_ms (to 1e-6 ms) and is part of its sim_ms."""
    if abs(row["sim_comm_ms"] - want_ms) > 1e-6:
        sys.exit("%s step %d: sim_comm_ms %.9f, the ring formula gives %.9f" % (name, row["step"], row["sim_comm_ms"],
                                                                              want_ms))
    if not row["sim_ms"] > row["sim_comm_ms"]:
        sys.exit("%s step %d: sim_ms %g does not include sim_comm_ms %g" % (name, row["step"], row["sim_ms"],
                                                                          row["sim_comm_ms"]))


def data_file(config):
    """The first existing corpus of the config's data_config.path list."""
    text = open(config).read()
    base = os.path.dirname(os.path.abspath(config))
    for p in re.findall(r"^    - (.+)$", text, re.M):
        path = os.path.join(base, p.strip())
        if os.path.exists(path):
            return path
    sys.exit("no corpus for " + config)


def write_variant(config, tmp, name, subs, cut_at=None):
    """tmp/name.yaml: config's text with each (old, new) of subs replaced in
    order, then ending before the first cut_at when given; returns its path."""
    text = open(config).read()
    for old, new in subs:
        text = text.replace(old, new)
    if cut_at:
        text = text[:text.index(cut_at)]
    path = os.path.join(tmp, name + ".yaml")
    open(path, "w").write(text)
    return path


def run_cmd(tmp, cmd, mpirun=None, ranks=0, expect_ok=True, env=None, mpi_args=()):
    """cmd in tmp, under mpirun -np ranks [mpi_args] when ranks > 0 (env is
    added to the environment and forwarded to the ranks with -x); exits on
    failure when expect_ok."""
    if ranks:
        fwd = sum((["-x", k] for k in (env or {})), [])
        cmd = [mpirun, "--oversubscribe", "-np", str(ranks)] + list(mpi_args) + fwd + cmd
    full_env = dict(os.environ, **(env or {}))
    p = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=600, env=full_env)
    if expect_ok and p.returncode != 0:
        sys.exit("%s failed (%d):\n%s\n%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    return p


def run_ttml(ttml_run, mpirun, corpus, tmp, name, config, ranks, extra=(), expect_ok=True, env=None,
             metrics=None, mpi_args=()):
    """ttml-run CONFIG --data CORPUS --metrics tmp/METRICS.jsonl [extra] in tmp
    (METRICS defaults to name), through run_cmd."""
    cmd = [ttml_run, config, "--data", corpus, "--metrics", os.path.join(tmp, (metrics or name) + ".jsonl")]
    return run_cmd(tmp, cmd + list(extra), mpirun, ranks, expect_ok, env, mpi_args)


def step_rows(path):
    """The metrics lines of a run that carry a step loss."""
    rows = [json.loads(l) for l in open(path)]
    return [r for r in rows if "step" in r and "loss" in r]


def losses(tmp, name):
    """The step lines of tmp/name.jsonl and their losses."""
    steps = step_rows(os.path.join(tmp, name + ".jsonl"))
    return steps, [r["loss"] for r in steps]


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


def header(path):
    """The file's bytes, its header length and its parsed header."""
    blob = open(path, "rb").read()
    (n,) = struct.unpack("<Q", blob[:8])
    return blob, n, json.loads(blob[8:8 + n])


def read_safetensors(path, skip_optim=False):
    """{name: (shape, F32 values)} of every F32 tensor (without optim.* when
    skip_optim) and the metadata of a safetensors file."""
    blob, n, head = header(path)
    out = {}
    for key, t in head.items():
        if key == "__metadata__" or t["dtype"] != "F32" or (skip_optim and key.startswith("optim.")):
            continue
        a, b = t["data_offsets"]
        raw = blob[8 + n + a:8 + n + b]
        out[key] = (t["shape"], struct.unpack("<%df" % (len(raw) // 4), raw))
    return out, head.get("__metadata__", {})


def compare_params(a_path, b_path, what, abs_max=1e-4, skip_optim=False):
    """Exit naming `what` unless the two checkpoints hold the same tensor
    names and shapes and values within abs_max; returns the largest |diff|."""
    (pa, _), (pb, _) = read_safetensors(a_path, skip_optim), read_safetensors(b_path, skip_optim)
    if sorted(pa) != sorted(pb):
        sys.exit("%s: tensor names differ: %s" % (what, sorted(set(pa) ^ set(pb))[:5]))
    for k in pa:
        if pa[k][0] != pb[k][0]:
            sys.exit("%s: '%s' has shape %s vs %s" % (what, k, pb[k][0], pa[k][0]))
    pmax = max(abs(x - y) for k in pa for x, y in zip(pa[k][1], pb[k][1]))
    if pmax > abs_max:
        sys.exit("%s: parameters differ by up to %.3g (limit %g)" % (what, pmax, abs_max))
    print("%s: %d tensors, max |diff| %.3g" % (what, len(pa), pmax))
    return pmax


def tensors(path, skip_optim=False):
    """name -> F32 values of every F32 tensor (without optim.* when skip_optim)."""
    return {k: v for k, (_, v) in read_safetensors(path, skip_optim)[0].items()}


def write_safetensors(path, tensors, md):
    """path: a safetensors file of tensors {name: (shape, F32 values)} and
    the string metadata md."""
    head, blobs, off = {"__metadata__": md}, [], 0
    for k, (shape, vals) in tensors.items():
        blobs.append(struct.pack("<%df" % len(vals), *vals))
        head[k] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(blobs[-1])]}
        off += len(blobs[-1])
    h = json.dumps(head).encode()
    h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
