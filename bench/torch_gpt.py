#!/usr/bin/python3
"""bench/torch_gpt.py - the PyTorch yardstick for bench/run.sh.

The same models as bench/configs/*.yaml, trained the same way:

  gpt cases: the GPT of bench/torch_models.py (shared with the tests): GPT-2
  pre-LN blocks (LayerNorm, qkv Linear with bias, causal masked-softmax
  attention, proj, GELU(tanh) MLP 4x, residuals), learned token
  and position embeddings, final LayerNorm, head tied to the token embedding;
  dropout 0, fp32, AdamW (lr 3e-4, betas 0.9/0.999, eps 1e-8, wd 0.01),
  cross-entropy (mean) over the vocabulary, synthetic random token batches
  [B, S] (the cost does not depend on the ids).
  linreg: nn.Linear(2, 1), SGD (lr 0.01), MSE, batches of 32 drawn from 256
  fixed samples.

One step = zero_grad + forward + loss + backward + optimizer step (plus
loss.item(), which a training loop needs to log the loss). Each step is
timed with time.perf_counter(); the first WARMUP steps are dropped and the
median of the rest is reported. Peak RSS is the process's ru_maxrss
(bench/run.sh also measures it from outside with /usr/bin/time).

Run it as bench/run.sh does:
  OMP_WAIT_POLICY=PASSIVE OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 \
      bench/torch_gpt.py --case nanogpt --steps 30
Prints: bench case=CASE impl=torch ms_per_step=... tokens_per_s=... peak_rss_mb=... params=...
--autocast runs forward and loss under torch.autocast("cpu", dtype=torch.bfloat16)
(PyTorch's CPU mixed precision: the yardstick of ttml's precision: bf16).
"""
import argparse
import math
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import GPT  # noqa: E402  (the models, shared with the tests)

# name: (blocks, heads, width, context, vocab, batch) - keep in sync with bench/configs
CASES = {
    "nanogpt": (6, 6, 384, 128, 96, 4),
    "tiny": (2, 4, 128, 64, 96, 8),
    "gpt2_124m": (12, 12, 768, 256, 50304, 2),
}


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_gpt(case, steps, warmup, autocast=False):
    blocks, heads, width, context, vocab, batch = CASES[case]
    torch.manual_seed(1234)
    model = GPT(blocks, heads, width, context, vocab)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    n_params = sum(p.numel() for p in model.parameters())
    gen = torch.Generator().manual_seed(1)
    times = []
    for step in range(steps):
        data = torch.randint(0, vocab, (batch, context + 1), generator=gen)
        x, y = data[:, :-1], data[:, 1:]
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            logits = model(x)
            loss = F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
        loss.backward()
        opt.step()
        loss_value = loss.item()
        times.append(time.perf_counter() - t0)
        if not math.isfinite(loss_value):
            print(f"bench case={case} impl=torch error=non-finite-loss step={step}", flush=True)
            return 1
    ms = statistics.median(times[warmup:]) * 1e3
    tokens = batch * context
    name = case + ("_bf16" if autocast else "")
    print(f"bench case={name} impl=torch ms_per_step={ms:.2f} tokens_per_s={tokens / ms * 1e3:.0f} "
          f"peak_rss_mb={peak_rss_mb():.0f} params={n_params} steps={steps} warmup={warmup} "
          f"threads={torch.get_num_threads()} first_loss={loss_value:.4f}", flush=True)
    return 0


def run_linreg(steps, warmup):
    torch.manual_seed(42)
    x_all = torch.randn(256, 2)
    y_all = x_all @ torch.tensor([[2.0], [-1.0]])
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    times = []
    for step in range(steps):
        i = (step % 8) * 32
        x, y = x_all[i:i + 32], y_all[i:i + 32]
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        loss_value = loss.item()
        times.append(time.perf_counter() - t0)
    us = statistics.median(times[warmup:]) * 1e6
    print(f"bench case=linreg impl=torch us_per_step={us:.1f} ms_per_step={us / 1e3:.4f} "
          f"peak_rss_mb={peak_rss_mb():.0f} steps={steps} warmup={warmup} final_loss={loss_value:.3g}",
          flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case", required=True, choices=sorted(list(CASES) + ["linreg"]))
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--autocast", action="store_true",
                    help='forward and loss under torch.autocast("cpu", dtype=torch.bfloat16)')
    args = ap.parse_args()
    if args.steps <= args.warmup:
        ap.error("--steps must exceed --warmup")
    torch.set_num_threads(args.threads)
    if args.case == "linreg":
        return run_linreg(args.steps, args.warmup)
    return run_gpt(args.case, args.steps, args.warmup, args.autocast)


if __name__ == "__main__":
    sys.exit(main())
