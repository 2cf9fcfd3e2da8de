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
  - checkpoints (nanogpt, 1f1b): tp 2 x pp 2 saved at step 10 (an index
    with tp 2, pp 2 and 4 shards, one per stage and TP rank) and resumed to
    20: steps 11-20 equal the uninterrupted run's, and only the step-20
    shards remain; `ttml-run consolidate` of that index within 1e-4 of the
    one-process checkpoint; the step-10 index resumed on one process, and a
    one-process step-10 checkpoint resumed at tp 2 x pp 2: steps 11-20
    within 1e-5 relative of the reference.
Usage: test_train_tp_pp.py TTML_RUN MPIRUN CONFIG"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_runs import (compare_losses, compare_params, data_file as corpus, header, losses, run_cmd,  # noqa: E402
                        run_ttml, write_variant)

TTML_RUN, MPIRUN, CONFIG = os.path.abspath(sys.argv[1]), sys.argv[2], os.path.abspath(sys.argv[3])
REL_LOSS = 1e-5
PARAM_ABS = 1e-4


def variant(tmp, name, model="nanogpt", mesh=True, schedule="1f1b", dropout=0.0, clip=0.5, model_path="", steps=20):
    subs = [("max_steps: 20", "max_steps: %d" % steps),
            ("dropout_prob: 0.0", "dropout_prob: %g" % dropout),
            ("model_type: nanogpt", "model_type: %s" % model),
            ("schedule: 1f1b", "schedule: %s" % schedule),
            ("clip_grad_norm_max_norm: 0.5", "clip_grad_norm_max_norm: %g" % clip),
            ("model_path: tiny_pp.safetensors", 'model_path: "%s"' % model_path)]
    if mesh:
        subs.append(("  device: cpu", "  device: cpu\n  enable_tp: true\n  mesh_shape: [1, 2]"))
    return write_variant(CONFIG, tmp, name, subs, cut_at=None if mesh else "multihost_config:")


def train(tmp, name, config, ranks, extra=(), expect_ok=True):
    return run_ttml(TTML_RUN, MPIRUN, corpus(CONFIG), tmp, name, config, ranks, extra, expect_ok)


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


def checkpoints(tmp):
    """tp 2 x pp 2 saves at step 10 (4 shards + the index) and resumes to 20:
    the same losses as the uninterrupted run; the step-20 index consolidates
    to the one-process checkpoint; the step-10 index resumes on one process,
    and the one-process step-10 checkpoint resumes at tp 2 x pp 2."""
    name, path = "ck_tp2pp2", "ck_tp2pp2.safetensors"
    cfg = variant(tmp, name, model_path=path, steps=10)
    train(tmp, name, cfg, 4)
    step10 = sorted(f for f in os.listdir(tmp) if f.startswith(name + ".step10."))
    _, _, head = header(os.path.join(tmp, path))
    md = head["__metadata__"]
    if len(step10) != 4 or (md.get("tp"), md.get("pp"), md.get("step")) != ("2", "2", "10") or len(head) != 1:
        sys.exit("%s: expected a tensor-less index (tp 2, pp 2, step 10) and 4 shards, got %s and %s" % (name, md, step10))
    for f in step10:   # keep the step-10 checkpoint for the one-process resume below
        shutil.copy(os.path.join(tmp, f), os.path.join(tmp, "keep_" + f))
    shutil.copy(os.path.join(tmp, path), os.path.join(tmp, "keep_index"))
    train(tmp, name, cfg, 4, ["--resume", "--max-steps", "20"])
    _, full = losses(tmp, "nanogpt_tp2pp2_1f1b")
    _, got = losses(tmp, name)
    if len(got) != 20 or got[10:] != full[10:]:
        sys.exit("%s: resumed losses %s differ from the uninterrupted run's %s" % (name, got[10:], full[10:]))
    left = sorted(f for f in os.listdir(tmp) if f.startswith(name + ".step"))
    if len(left) != 4 or not all(".step20." in f for f in left):
        sys.exit("%s: after the step-20 save the shard files are %s" % (name, left))
    print("%s: saved at step 10 (%s), resumed: steps 11-20 equal the uninterrupted run's" % (name, ", ".join(step10)))
    run_cmd(tmp, [TTML_RUN, "consolidate", path, "full.safetensors"])
    compare_params(os.path.join(tmp, "nanogpt_ref.safetensors"), os.path.join(tmp, "full.safetensors"),
                   "consolidated tp 2 x pp 2 index vs the one-process checkpoint", PARAM_ABS, skip_optim=True)
    for f in step10:
        shutil.move(os.path.join(tmp, "keep_" + f), os.path.join(tmp, f))
    shutil.move(os.path.join(tmp, "keep_index"), os.path.join(tmp, path))
    one = variant(tmp, "ck_one", mesh=False, model_path=path, steps=10)
    train(tmp, "ck_one", one, 0, ["--resume", "--max-steps", "20"])
    compare_tail(tmp, "nanogpt_ref", "ck_one", "the tp 2 x pp 2 step-10 index resumed on one process")
    ref10 = variant(tmp, "ref10", mesh=False, model_path="ref10.safetensors", steps=10)
    train(tmp, "ref10", ref10, 0)
    up = variant(tmp, "ck_up", model_path="ref10.safetensors", steps=10)
    train(tmp, "ck_up", up, 4, ["--resume", "--max-steps", "20"])
    compare_tail(tmp, "nanogpt_ref", "ck_up", "the one-process step-10 checkpoint resumed at tp 2 x pp 2")


def compare_tail(tmp, ref, name, what):
    _, a = losses(tmp, ref)
    _, b = losses(tmp, name)
    if len(b) != 10:
        sys.exit("%s: expected steps 11-20, got %d rows" % (what, len(b)))
    rel = max(abs(x - y) / abs(x) for x, y in zip(a[10:], b))
    if rel > REL_LOSS:
        sys.exit("%s: steps 11-20 differ from the reference by %.3g relative" % (what, rel))
    print("%s: steps 11-20 within %.3g relative of the reference" % (what, rel))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        for model in ("nanogpt", "llama"):
            ref = model + "_ref"
            train(tmp, ref, variant(tmp, ref, model, mesh=False, model_path=ref + ".safetensors"), 0)
            for schedule in ("gpipe", "1f1b"):
                name = "%s_tp2pp2_%s" % (model, schedule)
                train(tmp, name, variant(tmp, name, model, schedule=schedule), 4)
                compare(tmp, model + "_ref", name)
        clipping_matters(tmp)
        train(tmp, "drop_ref", variant(tmp, "drop_ref", mesh=False, dropout=0.1), 0)
        train(tmp, "drop_tp2pp2_1f1b", variant(tmp, "drop_tp2pp2_1f1b", dropout=0.1), 4)
        compare(tmp, "drop_ref", "drop_tp2pp2_1f1b")
        checkpoints(tmp)


main()
