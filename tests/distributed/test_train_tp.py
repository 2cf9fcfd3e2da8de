#!/usr/bin/env python3
"""Tensor parallelism inside ttml-run (ctest label distributed), on the tiny
GPT of tiny_gpt_ddp.yaml (and a tiny Llama made from it), 20 steps each:
  - TP 2 (mpirun -np 2, enable_tp, mesh_shape [1, 2]) against TP 1: every
    step's loss within 1e-5 relative, for nanogpt and llama;
  - the same with gradient accumulation 2 and clipping (the global norm over
    shards) and with dropout 0.2 (masks of replicated activations match);
  - dp 2 x tp 2 on 4 ranks (mesh_shape [2, 2], enable_ddp) against TP 1;
  - checkpoints: TP 2 writes shards + an index (ttml-sharded-2, its tensors
    table splitting qkv along dim 0 in 3 groups); `ttml-run consolidate` gives
    one safetensors file equal (1e-4) to the TP 1 run's, which `generate`
    reads; a TP 2 checkpoint at step 10 resumed at TP 1, and a TP 1
    checkpoint resumed at TP 2, give the reference losses of steps 11..20;
    a TP 2 x PP 2 index written by this test from the documented format
    consolidates to the same tensors and generates the same text;
    the dp 2 x tp 2 index consolidates to TP 1's tensors too;
    an index in the earlier TP format (tp_shards, tp_layout) still reads;
  - heads that do not divide by the TP size: an error naming both numbers.
Usage: test_train_tp.py TTML_RUN MPIRUN CONFIG"""
import glob
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_runs import (compare_params, data_file, read_safetensors, run_cmd, run_ttml, step_rows, write_safetensors,  # noqa: E402
                        write_variant)

TTML_RUN, MPIRUN, CONFIG = os.path.abspath(sys.argv[1]), sys.argv[2], os.path.abspath(sys.argv[3])
REL_LOSS = 1e-5
PARAM_ABS = 1e-4


def variant(tmp, name, tp=1, dp=1, llama=False, accum=1, clip=0.0, dropout=0.0, heads=2):
    dev = "enable_ddp: %s" % ("true" if dp > 1 else "false")
    if tp > 1:
        dev += "\n  enable_tp: true\n  mesh_shape: [%d, %d]" % (dp, tp)
    subs = [("enable_ddp: true", dev),
            ("gradient_accumulation_steps: 1", "gradient_accumulation_steps: %d" % accum),
            ("clip_grad_norm_max_norm: 0.0", "clip_grad_norm_max_norm: %g" % clip),
            ("dropout_prob: 0.0", "dropout_prob: %g" % dropout),
            ("num_heads: 2", "num_heads: %d" % heads)]
    if llama:
        subs += [("model_type: nanogpt", "model_type: llama"),
                 ("num_heads: %d" % heads, "num_heads: 4\n    num_groups: 2")]
    subs.append(("model_path: tiny_ddp.safetensors", "model_path: %s.safetensors" % name))
    return write_variant(CONFIG, tmp, name, subs)


def run(tmp, cmd, ranks, expect_ok=True):
    return run_cmd(tmp, cmd, MPIRUN, ranks, expect_ok)


def train(tmp, name, config, ranks, extra=(), metrics=None, expect_ok=True):
    return run_ttml(TTML_RUN, MPIRUN, data_file(CONFIG), tmp, name, config, ranks, extra, expect_ok, metrics=metrics)


def losses(tmp, name):
    return step_rows(os.path.join(tmp, name + ".jsonl"))


def compare_losses(ref, got, what, first=1):
    by_step = {r["step"]: r["loss"] for r in ref}
    worst = 0.0
    if len(got) != 21 - first:
        sys.exit("%s: expected steps %d..20, got %d rows" % (what, first, len(got)))
    for r in got:
        a, b = by_step[r["step"]], r["loss"]
        rel = abs(a - b) / abs(a)
        worst = max(worst, rel)
        if rel > REL_LOSS:
            sys.exit("%s: step %d loss %.9g vs TP 1 %.9g (relative %.3g)" % (what, r["step"], b, a, rel))
    print("%s: steps %d..20, loss max relative difference %.3g" % (what, first, worst))


def pair(tmp, name, ranks=2, **kw):
    train(tmp, name + "_ref", variant(tmp, name + "_ref", **{k: v for k, v in kw.items() if k != "dp"}), 0)
    train(tmp, name, variant(tmp, name, tp=2, **kw), ranks)
    compare_losses(losses(tmp, name + "_ref"), losses(tmp, name), name)


def piece(shape, vals, dim, groups, tp, r):
    """TP rank r's piece of a tensor split along dim in `groups` blocks (the
    README's offsets): its shape and values."""
    outer = 1
    for d in shape[:dim]:
        outer *= d
    inner = 1
    for d in shape[dim + 1:]:
        inner *= d
    f = shape[dim]
    n = f // (groups * tp)
    idx = [g * f // groups + r * n + i for g in range(groups) for i in range(n)]
    out = [vals[(o * f + i) * inner + k] for o in range(outer) for i in idx for k in range(inner)]
    return shape[:dim] + [len(idx)] + shape[dim + 1:], out


def tp_pp_index(tmp, full, md):
    """A TP 2 x PP 2 index written by this script from the README's format
    (the split of the TP 2 index's tensors table; blocks.1, ln_f and head on
    stage 1): ttml reads the layout i13tpp's runs will write."""
    (tensors, _), tp = read_safetensors(full), 2
    split = {l.split()[0]: (int(l.split()[2]), int(l.split()[3])) for l in md["tensors"].splitlines()}
    files = [{} for _ in range(4)]
    lines = []
    for name, (shape, vals) in tensors.items():
        dim, groups = split[name]
        stage = 1 if any(x in name for x in ("blocks.1.", "ln_f.", "head.")) else 0
        lines.append("%s %d %d %d %s" % (name, stage, dim, groups, "x".join(map(str, shape))))
        for r in range(tp):
            files[stage * tp + r][name] = (shape, vals) if dim < 0 else piece(shape, vals, dim, groups, tp, r)
    index = dict(md, pp="2", blocks_per_rank="1,1", tensors="\n".join(lines) + "\n")
    for k in range(4):
        index["shard.%d" % k] = "tpp.step20.pp%dof2.tp%dof2.safetensors" % (k // tp, k % tp)
        write_safetensors(os.path.join(tmp, index["shard.%d" % k]), files[k], {"format": "ttml-train-state-1"})
    path = os.path.join(tmp, "tpp.safetensors")
    write_safetensors(path, {}, index)
    return path


def checkpoints(tmp):
    # the gpt pair left gpt.safetensors (an index) and gpt_ref.safetensors
    index = os.path.join(tmp, "gpt.safetensors")
    _, md = read_safetensors(index)
    if md.get("format") != "ttml-sharded-2" or (md.get("tp"), md.get("pp")) != ("2", "1"):
        sys.exit("the TP 2 checkpoint is not a ttml-sharded-2 index of tp 2: %s"
                 % {k: md.get(k) for k in ("format", "tp", "pp")})
    shards = sorted(glob.glob(os.path.join(tmp, "gpt.step*.pp0of1.tp*of2.safetensors")))
    if len(shards) != 2 or [os.path.basename(f) for f in shards] != [md["shard.0"], md["shard.1"]]:
        sys.exit("expected the 2 shard files of the last save, found %s" % shards)
    split = {l.split()[0]: l.split()[2:4] for l in md["tensors"].splitlines()}
    if split["blocks.0.attn.qkv.weight"] != ["0", "3"] or split["blocks.0.ln1.weight"] != ["-1", "1"]:
        sys.exit("the index splits qkv as %s and ln1 as %s" % (split["blocks.0.attn.qkv.weight"],
                                                                 split["blocks.0.ln1.weight"]))
    out = os.path.join(tmp, "gpt_full.safetensors")
    run(tmp, [TTML_RUN, "consolidate", index, out], 0)
    compare_params(os.path.join(tmp, "gpt_ref.safetensors"), out, "consolidated TP 2 vs TP 1 checkpoint")
    # dp 2 x tp 2 (replica 0's TP group wrote the shards) consolidates to TP 1's tensors too
    run(tmp, [TTML_RUN, "consolidate", os.path.join(tmp, "dp2tp2.safetensors"), out + ".dp2tp2"], 0)
    compare_params(os.path.join(tmp, "gpt_ref.safetensors"), out + ".dp2tp2", "consolidated dp 2 x tp 2 vs TP 1")
    # the earlier TP index (metadata tp_shards, tp_layout) naming the same shards is still read
    legacy = os.path.join(tmp, "gpt_legacy.safetensors")
    _, shard_md = read_safetensors(shards[0])
    old = {k: v for k, v in md.items() if k not in ("tp", "dp", "pp", "blocks_per_rank", "tensors", "shard.0", "shard.1")}
    old.update(format="ttml-train-state-1", tp_size="2", tp_layout=shard_md["shard_split"],
               tp_shards="%s,%s" % (md["shard.0"], md["shard.1"]))
    write_safetensors(legacy, {}, old)
    run(tmp, [TTML_RUN, "consolidate", legacy, out + ".legacy"], 0)
    compare_params(out, out + ".legacy", "the earlier TP index format, consolidated")
    g = run(tmp, [TTML_RUN, "generate", "--checkpoint", out, "--prompt", "ROMEO:", "--max-tokens", "8"], 0)
    print("generate from the consolidated checkpoint: %r" % g.stdout.strip()[-40:])
    g2 = run(tmp, [TTML_RUN, "generate", "--checkpoint", index, "--prompt", "ROMEO:", "--max-tokens", "8"], 0)
    if g2.stdout != g.stdout:
        sys.exit("generate from the TP index differs from the consolidated file: %r vs %r" % (g2.stdout, g.stdout))
    tpp = tp_pp_index(tmp, out, md)
    run(tmp, [TTML_RUN, "consolidate", tpp, out + ".tpp"], 0)
    compare_params(out, out + ".tpp", "a TP 2 x PP 2 index (written here), consolidated")
    g3 = run(tmp, [TTML_RUN, "generate", "--checkpoint", tpp, "--prompt", "ROMEO:", "--max-tokens", "8"], 0)
    if g3.stdout != g.stdout:
        sys.exit("generate from the TP 2 x PP 2 index differs: %r vs %r" % (g3.stdout, g.stdout))
    ref = losses(tmp, "gpt_ref")
    # TP 2 -> TP 1
    train(tmp, "a", variant(tmp, "a", tp=2), 2, ["--max-steps", "10"], metrics="a_first")
    train(tmp, "a", variant(tmp, "a1"), 0, ["--resume", "a.safetensors", "--max-steps", "20"], metrics="a_resumed")
    compare_losses(ref, losses(tmp, "a_resumed"), "saved at TP 2, resumed at TP 1", first=11)
    # TP 1 -> TP 2
    train(tmp, "b", variant(tmp, "b"), 0, ["--max-steps", "10"], metrics="b_first")
    train(tmp, "b", variant(tmp, "b2", tp=2), 2, ["--resume", "b.safetensors", "--max-steps", "20"],
          metrics="b_resumed")
    compare_losses(ref, losses(tmp, "b_resumed"), "saved at TP 1, resumed at TP 2", first=11)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        pair(tmp, "gpt")
        pair(tmp, "llama", llama=True)
        pair(tmp, "gpt_acc_clip", accum=2, clip=0.5)
        pair(tmp, "gpt_dropout", dropout=0.2)
        train(tmp, "dp2tp2", variant(tmp, "dp2tp2", tp=2, dp=2), 4)
        compare_losses(losses(tmp, "gpt_ref"), losses(tmp, "dp2tp2"), "dp 2 x tp 2 on 4 ranks")
        checkpoints(tmp)
        p = train(tmp, "odd", variant(tmp, "odd", tp=2, heads=1), 2, expect_ok=False)
        if p.returncode == 0 or "num_heads" not in p.stderr or "is 1, not a multiple of 2" not in p.stderr:
            sys.exit("1 head over TP 2: expected an error naming both numbers, got %d:\n%s" % (p.returncode, p.stderr))
        print("1 head over TP 2:", p.stderr.strip().splitlines()[0])


main()
