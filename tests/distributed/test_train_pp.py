#!/usr/bin/env python3
"""Pipeline parallelism inside ttml-run (ctest label distributed): the tiny
models of tiny_pp.yaml (nanogpt, and the same as a llama) trained 20 steps of
4 micro-batches with clipping
  - on one process without multihost_config: the reference;
  - under mpirun -np 2 as 2 stages, with the gpipe and the 1f1b schedule:
    the loss of every step within 1e-5 relative of the reference, the
    parameters of the stage shards (read through the index's tensors table)
    within 1e-4 of the reference checkpoint's, and at most P = 2 micro-batches
    alive on stage 0 under 1f1b (all 4 under gpipe);
  - nanogpt with dropout 0.1, 1f1b: the same (the same masks);
  - 3 blocks on 3 stages (blocks_per_rank as a list), 1f1b: the same, 3
    micro-batches alive on stage 0;
  - 1f1b for 10 steps, then --resume to 20: steps 11-20 equal the
    uninterrupted run's, and the index names the step-20 shards only;
  - dp 2 x pp 2 on 4 ranks (4 sequences = 2 per replica) against the
    reference (unless TTML_PP_SKIP_DP=1);
  - blocks_per_rank not summing to num_blocks, and 3 ranks for 2 stages:
    errors naming the numbers.
Usage: test_train_pp.py TTML_RUN MPIRUN CONFIG"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_runs import (compare_losses, data_file as corpus, header, losses, run_ttml, tensors,  # noqa: E402
                        write_variant)

TTML_RUN, MPIRUN, CONFIG = os.path.abspath(sys.argv[1]), sys.argv[2], os.path.abspath(sys.argv[3])
REL_LOSS = 1e-5
PARAM_ABS = 1e-4


def variant(tmp, name, model="nanogpt", pp=True, schedule="1f1b", blocks="{0: 1, 1: 1}", steps=20, dropout=0.0,
            num_blocks=2):
    subs = [("num_blocks: 2", "num_blocks: %d" % num_blocks),
            ("dropout_prob: 0.0", "dropout_prob: %g" % dropout),
            ("model_type: nanogpt", "model_type: %s" % model),
            ("schedule: 1f1b", "schedule: %s" % schedule),
            ("blocks_per_rank: {0: 1, 1: 1}", "blocks_per_rank: %s" % blocks),
            ("max_steps: 20", "max_steps: %d" % steps),
            ("model_path: tiny_pp.safetensors", "model_path: %s.safetensors" % name)]
    return write_variant(CONFIG, tmp, name, subs, cut_at=None if pp else "multihost_config:")


def train(tmp, name, config, ranks, extra=(), expect_ok=True):
    return run_ttml(TTML_RUN, MPIRUN, corpus(CONFIG), tmp, name, config, ranks, extra, expect_ok)


def sharded_tensors(tmp, name):
    """The parameters of a pipeline checkpoint, through its index (format
    ttml-sharded-2: shard.<stage> files, a "tensors" line per tensor)."""
    _, _, head = header(os.path.join(tmp, name + ".safetensors"))
    md = head["__metadata__"]
    if md.get("format") != "ttml-sharded-2" or len(head) != 1 or md.get("tp") != "1":
        sys.exit("%s: the index is not a tensor-less ttml-sharded-2 file of tp 1" % name)
    stage_of = {l.split()[0]: int(l.split()[1]) for l in md["tensors"].splitlines()}
    out = {}
    for k in range(int(md["pp"])):
        got = tensors(os.path.join(tmp, md["shard.%d" % k]), skip_optim=True)
        for t in got:
            if stage_of.get(t) != k:
                sys.exit("%s: the index puts %s on stage %s, found in shard %d" % (name, t, stage_of.get(t), k))
        out.update(got)
    return md, out


def compare(tmp, ref, name):
    steps, worst = compare_losses(tmp, ref, name, REL_LOSS, False)
    pa = tensors(os.path.join(tmp, ref + ".safetensors"), skip_optim=True)
    _, pb = sharded_tensors(tmp, name)
    if sorted(pa) != sorted(pb):
        sys.exit("%s: shard tensors %s differ in names from the reference's %s" % (name, sorted(pb), sorted(pa)))
    pmax = max(abs(x - y) for k in pa for x, y in zip(pa[k], pb[k]))
    if pmax > PARAM_ABS:
        sys.exit("%s: parameters differ from the reference by up to %.3g" % (name, pmax))
    if not all(s.get("pp_comm_bytes", 0) > 0 and 0 <= s["pp_bubble"] <= 1 for s in steps):
        sys.exit("%s: metrics lack pp_comm_bytes or a pp_bubble in [0, 1]" % name)
    # rank 0 (stage 0 of P) logs: 1f1b keeps at most P micro-batches alive, gpipe all M = 4
    alive = 4 if name.endswith("gpipe") else 3 if "pp3" in name else 2
    if any(s["pp_max_in_flight"] != alive for s in steps):
        sys.exit("%s: micro-batches alive on stage 0: %s, expected %d"
                 % (name, sorted(set(s["pp_max_in_flight"] for s in steps)), alive))
    print("%s: 20 steps, loss max relative difference %.3g, parameters max |diff| %.3g, bubble %.3f (ideal %.3f), "
          "%d micro-batches alive" % (name, worst, pmax, steps[-1]["pp_bubble"], steps[-1]["pp_bubble_ideal"], alive))


def resume(tmp, model):
    name = model + "_resume"
    cfg = variant(tmp, name, model, steps=10)
    train(tmp, name, cfg, 2)
    train(tmp, name, cfg, 2, ["--resume", "--max-steps", "20"])
    _, full = losses(tmp, model + "_1f1b")
    _, got = losses(tmp, name)
    if got[10:] != full[10:] or len(got) != 20:
        sys.exit("%s: resumed losses %s differ from the uninterrupted run's %s" % (name, got[10:], full[10:]))
    md, _ = sharded_tensors(tmp, name)
    shards = sorted(f for f in os.listdir(tmp) if f.startswith(name + ".step"))
    if md["step"] != "20" or shards != sorted([md["shard.0"], md["shard.1"]]):
        sys.exit("%s: index at step %s names %s; files %s" % (name, md["step"], md, shards))
    print("%s: resumed at step 10, steps 11-20 equal the uninterrupted run's; shards %s" % (name, shards))


def errors(tmp):
    p = train(tmp, "bad", variant(tmp, "bad", blocks="{0: 1, 1: 2}"), 2, expect_ok=False)
    if p.returncode == 0 or "sums to 3" not in p.stderr or "num_blocks is 2" not in p.stderr:
        sys.exit("blocks_per_rank {0: 1, 1: 2}: expected an error naming 3 and 2, got %d:\n%s" % (p.returncode, p.stderr))
    print("blocks 1 + 2 of 2:", p.stderr.strip().splitlines()[0])
    p = train(tmp, "odd", variant(tmp, "odd"), 3, expect_ok=False)
    if p.returncode == 0 or "2 stage(s)" not in p.stderr or "3 rank(s)" not in p.stderr:
        sys.exit("2 stages on 3 ranks: expected an error naming 2 and 3, got %d:\n%s" % (p.returncode, p.stderr))
    print("2 stages on 3 ranks:", p.stderr.strip().splitlines()[0])


def main():
    with tempfile.TemporaryDirectory() as tmp:
        for model in ("nanogpt", "llama"):
            train(tmp, model + "_ref", variant(tmp, model + "_ref", model, pp=False), 0)
            for schedule in ("gpipe", "1f1b"):
                name = "%s_%s" % (model, schedule)
                train(tmp, name, variant(tmp, name, model, schedule=schedule), 2)
                compare(tmp, model + "_ref", name)
        # dropout 0.1: every stage draws its masks where the one-process run does
        train(tmp, "drop_ref", variant(tmp, "drop_ref", pp=False, dropout=0.1), 0)
        train(tmp, "drop_1f1b", variant(tmp, "drop_1f1b", dropout=0.1), 2)
        compare(tmp, "drop_ref", "drop_1f1b")
        # 3 stages: a middle stage receives and sends both ways
        train(tmp, "pp3_ref", variant(tmp, "pp3_ref", pp=False, num_blocks=3), 0)
        train(tmp, "pp3_1f1b", variant(tmp, "pp3_1f1b", blocks="[1, 1, 1]", num_blocks=3), 3)
        compare(tmp, "pp3_ref", "pp3_1f1b")
        resume(tmp, "nanogpt")
        if os.environ.get("TTML_PP_SKIP_DP") != "1":
            train(tmp, "nanogpt_dp2pp2", variant(tmp, "nanogpt_dp2pp2"), 4)
            compare(tmp, "nanogpt_ref", "nanogpt_dp2pp2")
        errors(tmp)


main()
