#!/usr/bin/env python3
"""Tensor x pipeline parallelism inside ttml-run (ctest label distributed):
the tiny 2-block models of tiny_pp.yaml (nanogpt, and the same as a llama),
4 micro-batches of 4 sequences, clipping 0.5, 20 steps:
  - on one process without multihost_config: the reference (and the same
    without clipping, to show clipping changes the losses, so the runs below
    check the global norm over every shard and stage);
  - tp 2 x pp 2 on 4 ranks (enable_tp, mesh_shape [1, 2], 2 stages: world
    ranks 0,1 are stage 0's TP group, 2,3 stage 1's), gpipe and 1f1b, nanogpt
    and llama: every step's loss within 1e-5 relative of the reference, TP
    collectives on every step, at most P = 2 micro-batches alive on stage 0
    under 1f1b (all 4 under gpipe);
  - nanogpt with dropout 0.1 under 1f1b: the same (the same masks);
  - model_path set: an error naming model_path before the first step, and
    no file written.
Usage: test_train_tp_pp.py TTML_RUN MPIRUN CONFIG"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_runs import compare_losses, data_file as corpus, losses, run_ttml, write_variant  # noqa: E402

TTML_RUN, MPIRUN, CONFIG = os.path.abspath(sys.argv[1]), sys.argv[2], os.path.abspath(sys.argv[3])
REL_LOSS = 1e-5


def variant(tmp, name, model="nanogpt", mesh=True, schedule="1f1b", dropout=0.0, clip=0.5, model_path=""):
    subs = [("dropout_prob: 0.0", "dropout_prob: %g" % dropout),
            ("model_type: nanogpt", "model_type: %s" % model),
            ("schedule: 1f1b", "schedule: %s" % schedule),
            ("clip_grad_norm_max_norm: 0.5", "clip_grad_norm_max_norm: %g" % clip),
            ("model_path: tiny_pp.safetensors", 'model_path: "%s"' % model_path)]
    if mesh:
        subs.append(("  device: cpu", "  device: cpu\n  enable_tp: true\n  mesh_shape: [1, 2]"))
    return write_variant(CONFIG, tmp, name, subs, cut_at=None if mesh else "multihost_config:")


def train(tmp, name, config, ranks, expect_ok=True):
    return run_ttml(TTML_RUN, MPIRUN, corpus(CONFIG), tmp, name, config, ranks, expect_ok=expect_ok)


def compare(tmp, ref, name):
    steps, worst = compare_losses(tmp, ref, name, REL_LOSS, False)
    alive = 4 if "gpipe" in name else 2
    for s in steps:
        if s.get("tp_comm_calls", 0) <= 0 or s.get("pp_comm_bytes", 0) <= 0:
            sys.exit("%s: step %d lacks TP collectives or pipeline transfers: %s" % (name, s["step"], s))
        if s["pp_max_in_flight"] != alive:
            sys.exit("%s: %d micro-batches alive on stage 0, expected %d" % (name, s["pp_max_in_flight"], alive))
    print("%s: 20 steps, loss max relative difference %.3g, %d TP collectives and %d pipeline bytes per step "
          "(rank 0), %d micro-batches alive" % (name, worst, steps[-1]["tp_comm_calls"], steps[-1]["pp_comm_bytes"],
                                                alive))


def clipping_matters(tmp):
    train(tmp, "noclip_ref", variant(tmp, "noclip_ref", mesh=False, clip=0.0), 0)
    _, a = losses(tmp, "nanogpt_ref")
    _, b = losses(tmp, "noclip_ref")
    rel = max(abs(x - y) / abs(x) for x, y in zip(a, b))
    if rel < 100 * REL_LOSS:
        sys.exit("clipping 0.5 changes the reference losses by only %.3g: the test would not check it" % rel)
    print("clipping 0.5 changes the one-process losses by up to %.3g relative" % rel)


def refuse_checkpoints(tmp):
    name = "tppp_ckpt"
    p = train(tmp, name, variant(tmp, name, model_path=name + ".safetensors"), 4, expect_ok=False)
    written = [f for f in os.listdir(tmp) if f.startswith(name) and f.endswith(".safetensors")]
    if p.returncode == 0 or "model_path" not in p.stderr or "not supported yet" not in p.stderr or written:
        sys.exit("tp x pp with model_path: expected an error naming model_path and no file, got %d, files %s:\n%s"
                 % (p.returncode, written, p.stderr))
    if "loss" in p.stdout:
        sys.exit("tp x pp with model_path: the error came after training started:\n%s" % p.stdout)
    print("tp x pp with model_path:", next(l for l in p.stderr.splitlines() if "not supported yet" in l))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        for model in ("nanogpt", "llama"):
            train(tmp, model + "_ref", variant(tmp, model + "_ref", model, mesh=False), 0)
            for schedule in ("gpipe", "1f1b"):
                name = "%s_tp2pp2_%s" % (model, schedule)
                train(tmp, name, variant(tmp, name, model, schedule=schedule), 4)
                compare(tmp, model + "_ref", name)
        clipping_matters(tmp)
        train(tmp, "drop_ref", variant(tmp, "drop_ref", mesh=False, dropout=0.1), 0)
        train(tmp, "drop_tp2pp2_1f1b", variant(tmp, "drop_tp2pp2_1f1b", dropout=0.1), 4)
        compare(tmp, "drop_ref", "drop_tp2pp2_1f1b")
        refuse_checkpoints(tmp)


main()
