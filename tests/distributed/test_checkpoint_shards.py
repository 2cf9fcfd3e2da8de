#!/usr/bin/env python3
"""The one sharded checkpoint format (ctest label distributed), on the tiny
nanogpt of tiny_pp.yaml (20 steps, 4 micro-batches, AdamW, clipping):
  - PP 2 -> PP 1, PP 1 -> PP 2, and 3 blocks as {0: 1, 1: 2} -> {0: 2, 1: 1}:
    10 steps, --resume in the other layout to 20; steps 11-20 within 1e-5
    relative of the uninterrupted one-process run (parameters, AdamW moments
    and step resharded: a wrong moment or step changes the next losses);
  - that 3-block checkpoint resumed by a 2-block model on 2 stages: an error
    naming the tensor the model lacks (each stage loads its own tensors, the
    check covers the whole model);
  - a crash between the shards and the index (TTML_TEST_CHECKPOINT_FAULT=10
    with model_save_interval 5 kills rank 0 after every step-10 shard is
    written): the index still names step 5 and its shards; --resume gives the
    reference losses of steps 6-20; afterwards the index names only the
    step-20 shards and no other shard file is left;
  - dp 2 x pp 2 on 4 ranks saved at step 10, resumed at PP 1: the same;
  - the index: format ttml-sharded-2, tp/dp/pp/blocks_per_rank, shard.<k>,
    and a "tensors" line for every unsharded tensor with its stage;
  - `ttml-run consolidate` of the PP 2 index: one safetensors file equal
    (1e-4) to the one-process checkpoint, which `generate` reads, and which
    PyTorch reads (json + numpy, no safetensors package) into the GPT of
    bench/torch_models.py (head untied): the torch loss of a fixed batch equals
    ttml's (lm_loss) within 1e-5 relative (exit 77 without torch);
  - damaged indexes (a missing shard, a bad tensors line, tp 0): consolidate
    fails with exit 1 and an error naming the fault.
Usage: test_checkpoint_shards.py TTML_RUN MPIRUN CONFIG LM_LOSS TORCH_MODELS"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_runs import (compare_params, data_file, read_safetensors, run_cmd, run_ttml, step_rows, write_safetensors,  # noqa: E402
                        write_variant)

if sys.argv[1] == "--torch-loss":  # --torch-loss FILE B S IDS... + the five arguments below
    TORCH_MODELS = sys.argv[-1]
    B, S = int(sys.argv[3]), int(sys.argv[4])
    IDS = [int(x) for x in sys.argv[5:5 + B * (S + 1)]]
else:
    TTML_RUN, MPIRUN, CONFIG = os.path.abspath(sys.argv[1]), sys.argv[2], os.path.abspath(sys.argv[3])
    LM_LOSS, TORCH_MODELS = os.path.abspath(sys.argv[4]), os.path.abspath(sys.argv[5])
REL_LOSS = 1e-5
PARAM_ABS = 1e-4


def variant(tmp, name, blocks="{0: 1, 1: 1}", pp=True, num_blocks=2, save_every=0):
    subs = [("num_blocks: 2", "num_blocks: %d" % num_blocks),
            ("blocks_per_rank: {0: 1, 1: 1}", "blocks_per_rank: %s" % blocks),
            ("model_path: tiny_pp.safetensors", "model_path: %s.safetensors\n  model_save_interval: %d"
             % (name, save_every))]
    return write_variant(CONFIG, tmp, name, subs, cut_at=None if pp else "multihost_config:")


def train(tmp, name, config, ranks, extra=(), metrics=None, expect_ok=True, env=None):
    return run_ttml(TTML_RUN, MPIRUN, data_file(CONFIG), tmp, name, config, ranks, extra, expect_ok, env=env,
                    metrics=metrics)


def by_step(tmp, metrics):
    """step -> loss of a metrics file (a resumed run's later lines win)."""
    return {r["step"]: r["loss"] for r in step_rows(os.path.join(tmp, metrics + ".jsonl"))}


def compare(tmp, ref, metrics, first, what):
    a, b = by_step(tmp, ref), by_step(tmp, metrics)
    worst = 0.0
    for step in range(first, 21):
        if step not in b:
            sys.exit("%s: no loss logged for step %d (got steps %s)" % (what, step, sorted(b)))
        rel = abs(a[step] - b[step]) / abs(a[step])
        worst = max(worst, rel)
        if rel > REL_LOSS:
            sys.exit("%s: step %d loss %.9g vs uninterrupted %.9g (relative %.3g)" % (what, step, b[step], a[step], rel))
    print("%s: steps %d-20 follow the uninterrupted run, max relative difference %.3g" % (what, first, worst))


def reshard(tmp, name, first_cfg, first_ranks, then_cfg, then_ranks, ref, what):
    train(tmp, name, first_cfg, first_ranks, ["--max-steps", "10"], metrics=name + "_first")
    train(tmp, name, then_cfg, then_ranks, ["--resume", name + ".safetensors", "--max-steps", "20"],
          metrics=name + "_resumed")
    compare(tmp, ref, name + "_resumed", 11, what)


def index_of(tmp, name):
    _, md = read_safetensors(os.path.join(tmp, name + ".safetensors"))
    if md.get("format") != "ttml-sharded-2":
        sys.exit("%s: the index format is %r, expected ttml-sharded-2" % (name, md.get("format")))
    table = {}
    for line in md["tensors"].splitlines():
        n, stage, dim, groups, shape = line.split()
        table[n] = (int(stage), int(dim), int(groups), [int(x) for x in shape.split("x")])
    return md, table


def crash(tmp, ref):
    name = "crash"
    cfg = variant(tmp, name, save_every=5)
    p = train(tmp, name, cfg, 2, env={"TTML_TEST_CHECKPOINT_FAULT": "10"}, expect_ok=False)
    if p.returncode == 0:
        sys.exit("crash: the run with TTML_TEST_CHECKPOINT_FAULT=10 succeeded")
    md, _ = index_of(tmp, name)
    step10 = sorted(f for f in os.listdir(tmp) if f.startswith(name + ".step10."))
    if md["step"] != "5" or len(step10) != 2:
        sys.exit("crash: after the kill the index is at step %s (expected 5), step-10 shards %s" % (md["step"], step10))
    print("crash before the index of step 10: the index stays at step 5; orphan shards %s" % step10)
    train(tmp, name, cfg, 2, ["--resume"], metrics=name)
    compare(tmp, ref, name, 6, "killed at step 10 before the index, resumed from step 5")
    md, table = index_of(tmp, name)
    files = sorted(f for f in os.listdir(tmp) if f.startswith(name + ".step"))
    want = sorted([md["shard.0"], md["shard.1"]])
    if md["step"] != "20" or files != want or (md["tp"], md["dp"], md["pp"], md["blocks_per_rank"]) != ("1", "1", "2", "1,1"):
        sys.exit("crash: final index %s; shard files %s" % ({k: md[k] for k in ("step", "tp", "dp", "pp")}, files))
    if table["wte.weight"][0] != 0 or table["head.weight"][0] != 1 or table["blocks.1.ln1.weight"][0] != 1:
        sys.exit("crash: the tensors table puts wte/head/blocks.1 on stages %s" % [table[k][0] for k in (
            "wte.weight", "head.weight", "blocks.1.ln1.weight")])
    print("final index: step 20, layout tp 1 x dp 1 x pp 2 (1,1), %d tensors, files %s" % (len(table), files))


def torch_loss(path, batch):
    """The loss of `batch` (rows of S + 1 ids) by the torch GPT of
    bench/torch_models.py holding the weights of the safetensors file `path`
    (fp32, as ttml)."""
    import importlib.util
    import torch
    spec = importlib.util.spec_from_file_location("torch_models", TORCH_MODELS)
    tm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tm)
    arrays, md = tm.load_safetensors(path)
    model = tm.from_ttml(arrays, heads=2, dtype=torch.float32)
    model.eval()
    ids = torch.tensor(batch, dtype=torch.long)
    with torch.no_grad():
        valid = len(md["tokenizer"])  # the padded columns are ignored, as ttml does
        return tm.loss(model(ids[:, :-1]), ids[:, 1:], valid).item()


def consolidated(tmp, ref_file):
    index = os.path.join(tmp, "crash.safetensors")
    out = os.path.join(tmp, "crash_full.safetensors")
    run_cmd(tmp, [TTML_RUN, "consolidate", index, out])
    md = read_safetensors(out)[1]
    if md.get("format") != "ttml-train-state-1":
        sys.exit("consolidated: format %r, expected an ordinary checkpoint (ttml-train-state-1)" % md.get("format"))
    compare_params(ref_file, out, "consolidated PP 2 index vs the one-process checkpoint", PARAM_ABS)
    g = run_cmd(tmp, [TTML_RUN, "generate", "--checkpoint", out, "--prompt", "ROMEO:", "--max-tokens", "8"])
    g2 = run_cmd(tmp, [TTML_RUN, "generate", "--checkpoint", index, "--prompt", "ROMEO:", "--max-tokens", "8"])
    if g.stdout != g2.stdout:
        sys.exit("generate: the consolidated file gives %r, the index %r" % (g.stdout, g2.stdout))
    print("generate reads both: %r" % g.stdout.strip()[-30:])
    _, md = read_safetensors(index)
    for what, change, expect in (("a missing shard", {"shard.1": "gone.safetensors"}, "names shard"),
                                 ("a bad tensors line", {"tensors": "wte.weight zero\n"}, "bad 'tensors' line"),
                                 ("tp 0", {"tp": "0"}, "bad layout")):
        bad = os.path.join(tmp, "bad_index.safetensors")
        write_safetensors(bad, {}, dict(md, **change))
        p = run_cmd(tmp, [TTML_RUN, "consolidate", bad, bad + ".out"], expect_ok=False)
        if p.returncode != 1 or expect not in p.stderr:
            sys.exit("consolidate of an index with %s: expected exit 1 and '%s', got %d:\n%s"
                     % (what, expect, p.returncode, p.stderr))
        print("an index with %s: %s" % (what, p.stderr.strip().splitlines()[-1][:160]))
    return out


def torch_python():
    """An interpreter that imports torch: this one, else /usr/bin/python3."""
    for py in (sys.executable, "/usr/bin/python3"):
        if os.path.exists(py) and subprocess.run([py, "-c", "import torch"], capture_output=True).returncode == 0:
            return py
    return None


def pytorch(tmp, path):
    py = torch_python()
    if not py:
        print("PyTorch is not importable: the PyTorch check is skipped")
        return False
    S, valid = 16, 40
    batch = [[(7 * b + 3 * s + (s * s) % 11) % valid for s in range(S + 1)] for b in range(3)]
    ids = [str(i) for row in batch for i in row]
    p = subprocess.run([LM_LOSS, path, "3", str(S)] + ids, capture_output=True, text=True,
                       env=dict(os.environ, TTML_PLUGIN_PATH=""))
    if p.returncode != 0 or not p.stdout.startswith("loss "):
        sys.exit("lm_loss failed (%d): %s %s" % (p.returncode, p.stdout, p.stderr))
    t = subprocess.run([py, os.path.abspath(__file__), "--torch-loss", path, "3", str(S)] + ids + sys.argv[1:6],
                       capture_output=True, text=True)
    if t.returncode != 0 or not t.stdout.startswith("loss "):
        sys.exit("the PyTorch side failed (%d): %s %s" % (t.returncode, t.stdout, t.stderr))
    ours, theirs = float(p.stdout.split()[1]), float(t.stdout.split()[1])
    rel = abs(ours - theirs) / abs(theirs)
    # fp32 of both: each sums at most 128 products per element (rounding
    # ~ sqrt(128) * 6e-8 ~ 7e-7 relative), through 2 blocks; 1e-5 leaves
    # room for the different summation orders, a wrong weight moves it ~1e-2
    if rel > REL_LOSS:
        sys.exit("PyTorch loss %.9g vs ttml %.9g on the same weights (relative %.3g)" % (theirs, ours, rel))
    print("PyTorch (%s) reads the consolidated file: loss %.9g vs ttml %.9g (relative %.3g)" % (py, theirs, ours, rel))
    return True


def main():
    with tempfile.TemporaryDirectory() as tmp:
        train(tmp, "ref", variant(tmp, "ref", pp=False), 0)
        reshard(tmp, "a", variant(tmp, "a"), 2, variant(tmp, "a1", pp=False), 0, "ref", "saved at PP 2, resumed at PP 1")
        reshard(tmp, "b", variant(tmp, "b", pp=False), 0, variant(tmp, "b2"), 2, "ref", "saved at PP 1, resumed at PP 2")
        train(tmp, "ref3", variant(tmp, "ref3", pp=False, num_blocks=3), 0)
        reshard(tmp, "c", variant(tmp, "c", blocks="{0: 1, 1: 2}", num_blocks=3), 2,
                variant(tmp, "c21", blocks="{0: 2, 1: 1}", num_blocks=3), 2, "ref3",
                "3 blocks saved as {0: 1, 1: 2}, resumed as {0: 2, 1: 1}")
        p = train(tmp, "c", variant(tmp, "c_small"), 2, ["--resume", "c.safetensors"], metrics="c_small",
                  expect_ok=False)
        if p.returncode == 0 or "blocks.2." not in p.stderr or "does not have" not in p.stderr:
            sys.exit("a 3-block checkpoint resumed by 2 blocks on 2 stages: expected an error naming blocks.2, "
                     "got %d:\n%s" % (p.returncode, p.stderr))
        print("3 blocks resumed as 2:", [l for l in p.stderr.splitlines() if "blocks.2." in l][0][:160])
        crash(tmp, "ref")
        # dp 2 x pp 2 on 4 ranks (replica 0 of each stage writes), resumed at PP 1
        reshard(tmp, "d", variant(tmp, "d"), 4, variant(tmp, "d1", pp=False), 0, "ref",
                "dp 2 x pp 2 on 4 ranks saved, resumed at PP 1")
        md, _ = index_of(tmp, "d")
        if (md["dp"], md["pp"], md["step"]) != ("2", "2", "10") or "shard.2" in md:
            sys.exit("dp 2 x pp 2: the index says dp %s, pp %s, step %s" % (md["dp"], md["pp"], md["step"]))
        out = consolidated(tmp, os.path.join(tmp, "ref.safetensors"))
        if not pytorch(tmp, out):
            sys.exit(77)


if sys.argv[1] == "--torch-loss":
    print("loss %.9g" % torch_loss(sys.argv[2], [IDS[b * (S + 1):(b + 1) * (S + 1)] for b in range(B)]))
else:
    main()
