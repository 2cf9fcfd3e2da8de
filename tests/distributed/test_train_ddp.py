#!/usr/bin/env python3
"""DDP inside ttml-run (ctest label distributed): the tiny GPT of
tiny_gpt_ddp.yaml trained 20 steps
  - without DDP (the reference), and with enable_ddp in one process: the
    same losses and parameters exactly;
  - under mpirun -np 2: the loss of every step within 1e-5 relative of the
    reference, and rank 0's checkpoint parameters close to the reference's;
  - the same with gradient_accumulation_steps 2 and clipping;
  - a global batch of 3 on 2 ranks: an error naming both numbers.
Usage: test_train_ddp.py TTML_RUN MPIRUN CONFIG"""
import os
import sys
import tempfile

from train_util import compare_losses, data_file as corpus, run_ttml, tensors

TTML_RUN, MPIRUN, CONFIG = os.path.abspath(sys.argv[1]), sys.argv[2], os.path.abspath(sys.argv[3])
REL_LOSS = 1e-5
PARAM_ABS = 1e-4


def variant(tmp, name, ddp, batch=4, accum=1, clip=0.0):
    text = open(CONFIG).read()
    text = text.replace("enable_ddp: true", "enable_ddp: %s" % ("true" if ddp else "false"))
    text = text.replace("batch_size: 4", "batch_size: %d" % batch)
    text = text.replace("gradient_accumulation_steps: 1", "gradient_accumulation_steps: %d" % accum)
    text = text.replace("clip_grad_norm_max_norm: 0.0", "clip_grad_norm_max_norm: %g" % clip)
    text = text.replace("model_path: tiny_ddp.safetensors", "model_path: %s.safetensors" % name)
    path = os.path.join(tmp, name + ".yaml")
    open(path, "w").write(text)
    return path


def train(tmp, name, config, ranks, extra=(), expect_ok=True):
    return run_ttml(TTML_RUN, MPIRUN, corpus(CONFIG), tmp, name, config, ranks, extra, expect_ok)


def compare(tmp, ref, name, exact):
    steps, worst = compare_losses(tmp, ref, name, REL_LOSS, exact)
    pa, pb = tensors(os.path.join(tmp, ref + ".safetensors")), tensors(os.path.join(tmp, name + ".safetensors"))
    if sorted(pa) != sorted(pb):
        sys.exit("%s: checkpoint tensors differ in names" % name)
    pmax = max(abs(x - y) for k in pa for x, y in zip(pa[k], pb[k]))
    if (exact and pmax != 0.0) or pmax > PARAM_ABS:
        sys.exit("%s: parameters differ from the reference by up to %.3g" % (name, pmax))
    if not exact and not all("comm_ms" in s and s["comm_bytes"] > 0 for s in steps):
        sys.exit("%s: metrics lack comm_ms / comm_bytes" % name)
    print("%s: 20 steps, loss max relative difference %.3g, parameters max |diff| %.3g" % (name, worst, pmax))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        train(tmp, "ref", variant(tmp, "ref", False), 0)
        train(tmp, "ddp1", variant(tmp, "ddp1", True), 0)
        compare(tmp, "ref", "ddp1", True)
        train(tmp, "ddp2", variant(tmp, "ddp2", True), 2)
        compare(tmp, "ref", "ddp2", False)
        train(tmp, "ref_acc", variant(tmp, "ref_acc", False, accum=2, clip=0.5), 0)
        train(tmp, "ddp2_acc", variant(tmp, "ddp2_acc", True, accum=2, clip=0.5), 2)
        compare(tmp, "ref_acc", "ddp2_acc", False)
        p = train(tmp, "odd", variant(tmp, "odd", True, batch=3), 2, expect_ok=False)
        if p.returncode == 0 or "batch_size 3" not in p.stderr or "2 ranks" not in p.stderr:
            sys.exit("batch 3 on 2 ranks: expected an error naming 3 and 2, got %d:\n%s"
                     % (p.returncode, p.stderr))
        print("batch 3 on 2 ranks:", p.stderr.strip().splitlines()[0])


main()
