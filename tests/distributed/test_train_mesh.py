#!/usr/bin/env python3
"""The simulated multi-chip mesh inside ttml-run (ctest label distributed),
on the tiny GPT of tiny_gpt_ddp.yaml:
  - ttsim:n300 with mesh_shape [2, 1] (DP 2, one rank thread per chip) against
    one ttsim chip on the same global batch: every step's loss within the
    parity suite's training tolerance for bf16 storage (3% per step,
    test_ttsim_parity.c), and both fall;
  - sim_comm_ms of every step equals the hand-computed ring time of its two
    all-reduces (the gradients: 4 bytes per parameter in one bucket, and the
    mean loss with the ranks' stop flag: 8 bytes): 2(n-1) x (650 ns + B/n /
    12.5 GB/s) each;
  - ttsim:t3k with mesh_shape [8, 1] (DP 8) runs 3 steps, with the same
    formula for n = 8;
  - the trace (--trace) shows the collectives on their own track;
  - mesh_shape errors name the fix.
Usage: test_train_mesh.py TTML_RUN CONFIG"""
import json
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_runs import check_sim_comm, data_file, ring_allreduce_s, run_ttml, step_rows, write_variant  # noqa: E402

TTML_RUN, CONFIG = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
LOSS_REL = 0.03          # test_ttsim_parity.c, tiny GPT on ttsim vs cpu


def variant(tmp, name, device, mesh, ddp, batch=4, steps=20):
    return write_variant(CONFIG, tmp, name, [
        ("device: cpu", 'device: "%s"\n  mesh_shape: [%d, 1]' % (device, mesh)),
        ("enable_ddp: true", "enable_ddp: %s" % ("true" if ddp else "false")),
        ("batch_size: 4", "batch_size: %d" % batch),
        ("max_steps: 20", "max_steps: %d" % steps),
        ("model_path: tiny_ddp.safetensors", "model_path: %s.safetensors" % name)])


def train(tmp, name, config, extra=(), expect_ok=True):
    return run_ttml(TTML_RUN, None, data_file(CONFIG), tmp, name, config, 0, extra, expect_ok)


def steps(tmp, name):
    return step_rows(os.path.join(tmp, name + ".jsonl"))


def check_comm(name, rows, n, params):
    grad_bytes = 4 * params
    want_ms = (ring_allreduce_s(n, grad_bytes) + ring_allreduce_s(n, 8)) * 1e3
    for r in rows:
        if r["comm_bytes"] != grad_bytes:
            sys.exit("%s step %d: comm_bytes %d, expected 4 x %d parameters" % (name, r["step"], r["comm_bytes"], params))
        check_sim_comm(name, r, want_ms)
    print("%s: sim_comm_ms %.6f per step = ring all-reduce of %d + 8 bytes over %d chips" % (name, want_ms, grad_bytes, n))


def parity(tmp):
    train(tmp, "chip", variant(tmp, "chip", "ttsim:wormhole_b0", 1, False))
    p = train(tmp, "n300", variant(tmp, "n300", "ttsim:n300", 2, True))
    ref, mesh = steps(tmp, "chip"), steps(tmp, "n300")
    if len(ref) != 20 or len(mesh) != 20:
        sys.exit("expected 20 logged steps, got %d (one chip) and %d (n300)" % (len(ref), len(mesh)))
    for a, b in zip(ref, mesh):
        if "sim_comm_ms" in a:
            sys.exit("one chip: step %d has sim_comm_ms" % a["step"])
        if abs(a["loss"] - b["loss"]) > LOSS_REL * a["loss"]:
            sys.exit("step %d: one chip loss %g, n300 DP 2 %g (tolerance %g relative)" % (a["step"], a["loss"], b["loss"],
                                                                                      LOSS_REL))
    if not (ref[-1]["loss"] < ref[0]["loss"] and mesh[-1]["loss"] < mesh[0]["loss"]):
        sys.exit("the losses do not fall: %g -> %g (one chip), %g -> %g (n300)" % (ref[0]["loss"], ref[-1]["loss"],
                                                                                 mesh[0]["loss"], mesh[-1]["loss"]))
    worst = max(abs(a["loss"] - b["loss"]) / a["loss"] for a, b in zip(ref, mesh))
    print("n300 DP 2 vs one chip: 20 steps, worst loss difference %.2e relative" % worst)
    params = int(re.search(r"(\d+) parameters", p.stdout).group(1))
    if "mesh: ttsim:n300 = 2 x ttsim:wormhole_b0" not in p.stdout:
        sys.exit("no mesh line in:\n" + p.stdout)
    check_comm("n300", mesh, 2, params)
    return params


def t3k_and_trace(tmp, params):
    train(tmp, "t3k", variant(tmp, "t3k", "ttsim:t3k", 8, True, batch=8, steps=3))
    rows = steps(tmp, "t3k")
    if len(rows) != 3:
        sys.exit("t3k: expected 3 logged steps, got %d" % len(rows))
    check_comm("t3k", rows, 8, params)
    trace = os.path.join(tmp, "n300.trace.json")
    train(tmp, "n300_trace", variant(tmp, "n300_trace", "ttsim:n300", 2, True, steps=2), ["--trace", trace, "-q"])
    events = json.load(open(trace))["traceEvents"]
    names = {e["args"]["name"] for e in events if e.get("ph") == "M" and e.get("tid") == 2}
    allreduce = [e for e in events if e.get("tid") == 2 and e.get("name") == "all-reduce"]
    if names != {"collectives"} or not allreduce or "sim_us" not in allreduce[0]["args"]:
        sys.exit("the trace has no collectives track with simulated all-reduces: %s, %d events" % (names, len(allreduce)))
    print("trace: %d all-reduces on the collectives track" % len(allreduce))


def errors(tmp):
    cases = [("cpu", 2, True, "start the job with mpirun -np 2"), ("ttsim:n300", 4, True, "use [2, 1] with enable_ddp: true"),
             ("ttsim:n300", 2, False, "use [2, 1] with enable_ddp: true"), ("ttsim:t3k", 1, True, "[8, 1]")]
    for i, (device, mesh, ddp, want) in enumerate(cases):
        p = train(tmp, "bad%d" % i, variant(tmp, "bad%d" % i, device, mesh, ddp), expect_ok=False)
        if p.returncode == 0 or want not in p.stderr:
            sys.exit("device %s mesh [%d, 1]: expected an error containing '%s', got %d:\n%s" % (device, mesh, want,
                                                                                             p.returncode, p.stderr))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        params = parity(tmp)
        t3k_and_trace(tmp, params)
        errors(tmp)
    print("ok")


main()
