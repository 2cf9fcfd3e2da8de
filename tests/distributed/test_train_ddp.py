#!/usr/bin/env python3
"""DDP inside ttml-run (ctest label distributed): the tiny GPT of
tiny_gpt_ddp.yaml trained 20 steps. MODE (default parity):
  parity   without DDP (the reference), and with enable_ddp in one process:
           the same losses and parameters exactly; under mpirun -np 2: the
           loss of every step within 1e-5 relative of the reference, and rank
           0's checkpoint parameters close to the reference's; the same with
           gradient_accumulation_steps 2 and clipping; a global batch of 3 on
           2 ranks: an error naming both numbers.
  dropout  dropout_prob 0.1: 2 ranks follow the 1-rank losses (1e-5) and
           parameters (dropout masks keyed by the position in the global
           batch); the losses differ from the dropout-0 run (dropout is on).
  transports  dropout 0.1: 2 ranks over TCP on loopback (--mca btl tcp,self,
           two "hosts") and 3 ranks (global batch 6) follow their 1-rank runs.
  resume   dropout 0.1: 10 steps at 2 ranks resumed at 1 rank, and 10 steps
           at 1 rank resumed at 2 ranks, continue as the uninterrupted run.
  fail     comm_timeout_s 10: rank 1 SIGKILLs itself after step 6 (mpirun ends
           the job non-zero naming rank 1), or hangs after step 6 (rank 0's
           wait times out and names rank 1; the job ends non-zero); the step-4
           checkpoint is intact and --resume reproduces the uninterrupted
           losses.
  mismatch --seed differing on rank 1 (mpirun MPMD): the job fails with an
           error naming rank 1 and training_config.seed; no rank trains.
  outputs  --metrics, --trace and --profile-csv under mpirun -np 2: rank 0
           writes the names given, rank 1 NAME.rank1.EXT; both metrics files
           carry the same (global) losses; `generate` runs on the checkpoint
           of the DDP run; `ttml-inspect mpi` says whether ULFM is there.
Usage: test_train_ddp.py TTML_RUN MPIRUN CONFIG [MODE]"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_runs import compare_losses, data_file, losses, run_ttml, tensors, write_variant  # noqa: E402

TTML_RUN, MPIRUN, CONFIG = os.path.abspath(sys.argv[1]), sys.argv[2], os.path.abspath(sys.argv[3])
MODE = sys.argv[4] if len(sys.argv) > 4 else "parity"
REL_LOSS = 1e-5
PARAM_ABS = 1e-4


def variant(tmp, name, ddp, batch=4, accum=1, clip=0.0, dropout=0.0, save=0, timeout=300):
    return write_variant(CONFIG, tmp, name, [
        ("dropout_prob: 0.0", "dropout_prob: %g" % dropout),
        ("model_save_interval: 0", "model_save_interval: %d" % save),
        ("comm_timeout_s: 300", "comm_timeout_s: %g" % timeout),
        ("enable_ddp: true", "enable_ddp: %s" % ("true" if ddp else "false")),
        ("batch_size: 4", "batch_size: %d" % batch),
        ("gradient_accumulation_steps: 1", "gradient_accumulation_steps: %d" % accum),
        ("clip_grad_norm_max_norm: 0.0", "clip_grad_norm_max_norm: %g" % clip),
        ("model_path: tiny_ddp.safetensors", "model_path: %s.safetensors" % name)])


def train(tmp, name, config, ranks, expect_ok=True, extra=(), env=None, metrics=None, mpi_args=()):
    return run_ttml(TTML_RUN, MPIRUN, data_file(CONFIG), tmp, name, config, ranks, extra, expect_ok, env, metrics,
                    mpi_args)


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


def same_losses(label, ref, got, first=1):
    """got[i] (step first + i) within REL_LOSS of ref[first - 1 + i]."""
    if len(got) != len(ref) - (first - 1):
        sys.exit("%s: expected %d losses from step %d, got %d" % (label, len(ref) - first + 1, first, len(got)))
    worst = 0.0
    for i, b in enumerate(got):
        a = ref[first - 1 + i]
        rel = abs(a - b) / abs(a)
        worst = max(worst, rel)
        if rel > REL_LOSS:
            sys.exit("%s: step %d loss %.9g vs uninterrupted %.9g (relative %.3g)" % (label, first + i, b, a, rel))
    print("%s: steps %d-%d, loss max relative difference %.3g" % (label, first, len(ref), worst))


def mode_dropout(tmp):
    train(tmp, "ref", variant(tmp, "ref", False, dropout=0.1), 0)
    train(tmp, "ref0", variant(tmp, "ref0", False), 0)
    _, with_drop = losses(tmp, "ref")
    _, without = losses(tmp, "ref0")
    if max(abs(a - b) for a, b in zip(with_drop, without)) < 1e-3:
        sys.exit("dropout 0.1 gives the losses of dropout 0: dropout is not active")
    train(tmp, "ddp1", variant(tmp, "ddp1", True, dropout=0.1), 0)
    compare(tmp, "ref", "ddp1", True)
    train(tmp, "ddp2", variant(tmp, "ddp2", True, dropout=0.1), 2)
    compare(tmp, "ref", "ddp2", False)
    train(tmp, "ref_acc", variant(tmp, "ref_acc", False, accum=2, dropout=0.1), 0)
    train(tmp, "ddp2_acc", variant(tmp, "ddp2_acc", True, accum=2, dropout=0.1), 2)
    compare(tmp, "ref_acc", "ddp2_acc", False)


def mode_transports(tmp):
    train(tmp, "ref", variant(tmp, "ref", False, dropout=0.1), 0)
    tcp = ["--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", "lo"]
    train(tmp, "tcp2", variant(tmp, "tcp2", True, dropout=0.1), 2, mpi_args=tcp)
    compare(tmp, "ref", "tcp2", False)
    train(tmp, "ref6", variant(tmp, "ref6", False, batch=6, dropout=0.1), 0)
    train(tmp, "ddp3", variant(tmp, "ddp3", True, batch=6, dropout=0.1), 3)
    compare(tmp, "ref6", "ddp3", False)


def mode_resume(tmp):
    train(tmp, "full", variant(tmp, "full", True, dropout=0.1), 0)
    _, full = losses(tmp, "full")
    for first, second in ((2, 0), (0, 2)):
        name = "from%dto%d" % (first or 1, second or 1)
        config = variant(tmp, name, True, dropout=0.1)
        train(tmp, name + "_a", config, first, extra=["--max-steps", "10"])
        train(tmp, name + "_b", config, second, extra=["--resume", "--max-steps", "20"])
        _, a = losses(tmp, name + "_a")
        _, b = losses(tmp, name + "_b")
        same_losses(name + " (before)", full[:10], a)
        same_losses(name + " (resumed)", full, b, first=11)


def mode_fail(tmp):
    train(tmp, "full", variant(tmp, "full", True, dropout=0.1), 2)
    _, full = losses(tmp, "full")
    for how in ("kill", "hang"):
        name = "fail_" + how
        # 10 s: small, yet far above a step or the ranks' start-up skew (also under ASan)
        config = variant(tmp, name, True, dropout=0.1, save=4, timeout=10)
        env = {"TTML_TEST_DDP_FAULT": "1:6:" + how}
        p = train(tmp, name, config, 2, expect_ok=False, env=env)
        out = p.stdout + p.stderr
        if p.returncode == 0:
            sys.exit("%s: the job exited 0:\n%s" % (name, out))
        # kill: mpirun's own notice ("mpirun noticed that process rank 1 ... exited on signal 9");
        # hang: rank 0's timed-out wait names the rank that did not arrive
        want = "process rank 1" if how == "kill" else "rank 1 did not arrive"
        if want not in out:
            sys.exit("%s: no message naming rank 1 (%r) in:\n%s" % (name, want, out))
        line = [l for l in out.splitlines() if want in l][0]
        print("%s: exit %d: %s" % (name, p.returncode, line.strip()[:200]))
        ck = os.path.join(tmp, name + ".safetensors")
        if not os.path.exists(ck):
            sys.exit("%s: no checkpoint left" % name)
        train(tmp, name + "_resumed", config, 2, extra=["--resume"])
        _, b = losses(tmp, name + "_resumed")
        same_losses(name + " resumed from step 4", full, b, first=5)


def mode_mismatch(tmp):
    config = variant(tmp, "mm", True)
    base = [TTML_RUN, config, "--data", data_file(CONFIG), "--max-steps", "2"]
    cmd = [MPIRUN, "--oversubscribe", "-np", "1"] + base + ["--seed", "1", ":", "-np", "1"] + base + ["--seed", "2"]
    p = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=600)
    # Every rank fails the check (test_ddp's dist_consistency checks each rank's error); here
    # the first to exit non-zero makes mpirun kill the other, which may not have printed yet.
    lines = [l for l in p.stderr.splitlines() if "rank 1 runs a different configuration" in l]
    if p.returncode == 0 or not lines or "training_config.seed" not in lines[0]:
        sys.exit("--seed 1 / 2 on ranks 0 / 1: expected the job to fail naming rank 1 and "
                 "training_config.seed, got %d:\n%s" % (p.returncode, p.stderr))
    if os.path.exists(os.path.join(tmp, "mm.safetensors")) or " loss " in p.stdout:
        sys.exit("--seed 1 / 2 on ranks 0 / 1: a rank trained:\n%s" % p.stdout)
    print("mismatch (%d of 2 ranks printed before the job ended):" % len(lines), lines[0])


def mode_outputs(tmp):
    config = variant(tmp, "out", True)
    train(tmp, "out", config, 2, extra=["--trace", "t.json", "--profile-csv", "p.csv", "--max-steps", "4"])
    for f in ("out.jsonl", "out.rank1.jsonl", "t.json", "t.rank1.json", "p.csv", "p.rank1.csv"):
        path = os.path.join(tmp, f)
        if not os.path.exists(path) or os.path.getsize(path) == 0:
            sys.exit("outputs: %s missing or empty (files: %s)" % (f, sorted(os.listdir(tmp))))
    json.load(open(os.path.join(tmp, "t.rank1.json")))
    _, l0 = losses(tmp, "out")
    _, l1 = losses(tmp, "out.rank1")
    if l0 != l1 or len(l0) != 4:
        sys.exit("outputs: rank 0 and rank 1 metrics report different losses: %s / %s" % (l0, l1))
    print("outputs: out.jsonl / out.rank1.jsonl, t.json / t.rank1.json, p.csv / p.rank1.csv")
    p = subprocess.run([TTML_RUN, "generate", "--checkpoint", os.path.join(tmp, "out.safetensors"),
                        "--max-tokens", "24", "--prompt", "ROMEO:", "--seed", "3"],
                       cwd=tmp, capture_output=True, text=True, timeout=300)
    if p.returncode != 0 or len(p.stdout.strip()) == 0:
        sys.exit("generate on the DDP checkpoint failed (%d):\n%s\n%s" % (p.returncode, p.stdout, p.stderr))
    print("generate on the DDP checkpoint: %r" % p.stdout.strip()[:60])
    inspect = os.path.join(os.path.dirname(TTML_RUN), "ttml-inspect")
    p = subprocess.run([inspect, "mpi"], capture_output=True, text=True, timeout=300)
    line = [l for l in p.stdout.splitlines() if "ULFM" in l]
    if p.returncode != 0 or not line or "fail-stop" not in line[0]:
        sys.exit("ttml-inspect mpi does not say whether ULFM is available (%d):\n%s%s"
                 % (p.returncode, p.stdout, p.stderr))
    print("ttml-inspect mpi:", line[0].strip()[-90:])


def main():
    modes = {"dropout": mode_dropout, "transports": mode_transports, "resume": mode_resume, "fail": mode_fail, "mismatch": mode_mismatch,
             "outputs": mode_outputs}
    if MODE != "parity":
        with tempfile.TemporaryDirectory() as tmp:
            modes[MODE](tmp)
        return
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
