#!/usr/bin/python3
"""bench/python_bench.py - Python-side overhead of the ttml package against
PyTorch, and the nanogpt case driven from Python (for bench/run.sh).

Cases (--case):
  py_add     a tiny add in a Python loop: c = add(a, b) on two [1, 32] fp32
             tensors, no gradient; the median over blocks of 2,000 calls,
             per call. ttml: ttml.ops.binary.add; torch: torch.add.
  py_linreg  the training step of the guide's Example 1 written in Python:
             from_numpy of a [32,1,1,2] batch and its targets, zero_grad,
             model(x), mse_loss, backward, loss item, optimizer step
             (SGD lr 0.1), reset_graph. torch: the same with
             torch.from_numpy, nn.Linear(2, 1), F.mse_loss, torch.optim.SGD.
  py_nanogpt bench/configs/nanogpt.yaml trained from Python (ttml only):
             the same model (gpt2: 6 blocks, 6 heads, 384 wide, context
             128, vocab 96, dropout 0, tied head), AdamW (3e-4, 0.9/0.999,
             1e-8, wd 0.01), batch 4 windows of the corpus as ttml-run draws
             them; one step = from_numpy ids/targets, zero_grad, forward,
             cross_entropy_loss, backward, item, step, reset_graph.

Prints: bench case=CASE impl=IMPL us_per_call=... | us_per_step=... | ms_per_step=...
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np


def median_block_us(fn, calls, blocks):
    times = []
    for _ in range(blocks):
        t0 = time.perf_counter()
        fn(calls)
        times.append((time.perf_counter() - t0) / calls * 1e6)
    return statistics.median(times)


def add_ttml(calls, blocks):
    import ttml
    ttml.autograd.AutoContext.get_instance().open_device("cpu")
    T = ttml.autograd.Tensor
    a = T.from_numpy(np.ones((1, 32), np.float32))
    b = T.from_numpy(np.ones((1, 32), np.float32))
    add = ttml.ops.binary.add

    def loop(n):
        for _ in range(n):
            add(a, b)
    loop(calls)
    return median_block_us(loop, calls, blocks)


def add_torch(calls, blocks):
    import torch
    torch.set_num_threads(2)
    a, b = torch.ones(1, 32), torch.ones(1, 32)
    add = torch.add

    def loop(n):
        for _ in range(n):
            add(a, b)
    loop(calls)
    return median_block_us(loop, calls, blocks)


def linreg_data():
    rng = np.random.default_rng(42)
    x = rng.standard_normal((256, 2)).astype(np.float32)
    y = (x @ np.array([[2.0], [-1.0]])).astype(np.float32)
    return x.reshape(256, 1, 1, 2), y.reshape(256, 1, 1, 1)


def linreg_ttml(steps, warmup):
    import ttml
    ctx = ttml.autograd.AutoContext.get_instance()
    ctx.open_device("cpu")
    ctx.set_seed(42)
    model = ttml.models.linear_regression.create_linear_regression_model(2, 1)
    opt = ttml.optimizers.SGD(model.parameters(), ttml.optimizers.SGDConfig.make(lr=0.1))
    T, mse, MEAN = ttml.autograd.Tensor, ttml.ops.loss.mse_loss, ttml.ops.ReduceType.MEAN
    x_all, y_all = linreg_data()
    model.train()
    times = []
    for step in range(steps):
        i = (step % 8) * 32
        xb, yb = x_all[i:i + 32], y_all[i:i + 32]
        t0 = time.perf_counter()
        tt_x, tt_y = T.from_numpy(xb), T.from_numpy(yb)
        opt.zero_grad()
        loss = mse(model(tt_x), tt_y, MEAN)
        loss.backward(False)
        float(loss.get_value().item())
        opt.step()
        ctx.reset_graph()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[warmup:]) * 1e6


def linreg_torch(steps, warmup):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(2)
    torch.manual_seed(42)
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x_all, y_all = linreg_data()
    x_all, y_all = x_all.reshape(256, 2), y_all.reshape(256, 1)
    times = []
    for step in range(steps):
        i = (step % 8) * 32
        xb, yb = x_all[i:i + 32], y_all[i:i + 32]
        t0 = time.perf_counter()
        tx, ty = torch.from_numpy(xb), torch.from_numpy(yb)
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(tx), ty)
        loss.backward()
        float(loss.item())
        opt.step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[warmup:]) * 1e6


def corpus():
    here = os.path.dirname(os.path.abspath(__file__))
    for p in (os.path.join(here, "..", "..", "shared", "data", "tinyshakespeare.txt"),
              "/usr/share/common-licenses/GPL-3"):
        if os.path.exists(p):
            with open(p) as f:
                return f.read()
    raise SystemExit("bench: no corpus")


def nanogpt_ttml(steps, warmup):
    import ttml
    ctx = ttml.autograd.AutoContext.get_instance()
    ctx.open_device("cpu")
    ctx.set_seed(1234)
    text = corpus()
    tok = ttml.common.data.CharTokenizer(text)
    ids = np.array(tok.encode(text), dtype=np.uint32)
    n_train = int(len(ids) * 0.9)
    B, S = 4, 128
    model = ttml.models.create_model(
        "gpt2", num_heads=6, embedding_dim=384, num_blocks=6, vocab_size=96, max_sequence_length=S,
        dropout_prob=0.0, weight_tying="enabled", positional_embedding_type="trainable", runner_type="default")
    opt = ttml.optimizers.AdamW(model.parameters(), ttml.optimizers.AdamWConfig.make(
        lr=3e-4, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.01))
    T, ce, MEAN, U32 = ttml.autograd.Tensor, ttml.ops.loss.cross_entropy_loss, ttml.ops.ReduceType.MEAN, 2
    rng = np.random.default_rng(1)
    model.train()
    times = []
    for step in range(steps):
        t0 = time.perf_counter()
        starts = rng.integers(0, n_train - S - 1, B)
        win = np.stack([ids[s:s + S + 1] for s in starts])
        x = T.from_numpy(win[:, :S].reshape(B, 1, 1, S), new_type=U32)
        y = T.from_numpy(win[:, 1:].reshape(B, S), new_type=U32)
        opt.zero_grad()
        loss = ce(model(x), y, MEAN, tok.vocab_size)
        loss.backward(False)
        value = loss.item()
        opt.step()
        ctx.reset_graph()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[warmup:]) * 1e3, value


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case", required=True, choices=["py_add", "py_linreg", "py_nanogpt"])
    ap.add_argument("--impl", default="ttml", choices=["ttml", "torch"])
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=5)
    a = ap.parse_args()
    if a.case == "py_add":
        fn = add_ttml if a.impl == "ttml" else add_torch
        us = fn(2000, max(a.steps // 2000, 10))
        print(f"bench case=py_add impl={a.impl} us_per_call={us:.2f}", flush=True)
    elif a.case == "py_linreg":
        steps = a.steps or 5000
        fn = linreg_ttml if a.impl == "ttml" else linreg_torch
        print(f"bench case=py_linreg impl={a.impl} us_per_step={fn(steps, 100):.1f} steps={steps}", flush=True)
    else:
        if a.impl != "ttml":
            raise SystemExit("py_nanogpt: ttml only (compare with bench/run.sh nanogpt)")
        ms, loss = nanogpt_ttml(a.steps or 30, a.warmup)
        print(f"bench case=py_nanogpt impl=ttml ms_per_step={ms:.2f} steps={a.steps or 30} "
              f"warmup={a.warmup} last_loss={loss:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
