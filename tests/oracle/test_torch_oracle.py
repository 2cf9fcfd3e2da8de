#!/usr/bin/env python3
"""PyTorch as the oracle of ttml's language models (ctest label oracle).

For a tiny GPT-2 (pre-LN, tied head, GELU tanh, learned positions) and a tiny
Llama (RMSNorm, RoPE, SwiGLU, 4 query heads over 2 key/value heads, untied
head), lm_steps (ttml, fp32, cpu device) writes its initial parameters, one
batch of real tokens (tiny Shakespeare through ttml's tokenizer), the gradient
of the first loss and the parameters after 3 AdamW steps on that batch. The
same model is built in PyTorch float64 from those initial parameters
(bench/torch_models.py, weights read with json + numpy) and trained the same
way (torch.optim.AdamW). Checked:
  - the loss of each of the 3 steps: relative difference <= 1e-5;
  - every parameter's gradient: |g_ttml - g_torch| / |g_torch| <= 1e-4
    (Euclidean norms over the whole tensor);
  - every parameter after 3 steps: the update (after - initial) within 1e-4
    of PyTorch's, in the same norm-wise relative measure;
  - the check catches a wrong weight: the same run with 0.05 added to one
    element of one weight (after the initial parameters are written; the
    weights are ~N(0, 0.02)) fails the gradient and update checks.
Tolerances are argued in TOLERANCES below. Exits 77 when no Python with torch
is found (this interpreter, else /usr/bin/python3).

Usage: test_torch_oracle.py LM_STEPS TORCH_MODELS CORPUS [CORPUS...]
(the first existing CORPUS file is used)."""
import os
import subprocess
import sys
import tempfile


def ensure_torch():
    """Import torch here, else re-run under /usr/bin/python3 if it has torch,
    else exit 77 (skipped)."""
    try:
        import torch  # noqa: F401
        return
    except ImportError:
        pass
    alt = "/usr/bin/python3"
    if os.path.realpath(sys.executable) != os.path.realpath(alt) and os.path.exists(alt) and \
            subprocess.run([alt, "-c", "import torch"], capture_output=True).returncode == 0:
        os.execv(alt, [alt] + sys.argv)
    print("PyTorch is not importable (python3-torch): the oracle test is skipped")
    sys.exit(77)


ensure_torch()
import importlib.util  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

LM_STEPS, TORCH_MODELS = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
spec = importlib.util.spec_from_file_location("torch_models", TORCH_MODELS)
tm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tm)

B, S, STEPS, LR, WD = 4, 16, 3, 3e-3, 0.1

# TOLERANCES. ttml computes in fp32 (unit roundoff u = 6e-8), PyTorch in
# float64 (exact by comparison). Each output of these models is a chain of
# ~20 ops (2 blocks) whose sums run over at most max(E, I, S) = 64 terms:
# the relative error of a result is ~ sqrt(terms) * u per op, compounded
# over the chain: ~ 20 * 8 * 6e-8 ~ 1e-5 in the worst case, typically 1e-6.
#  - loss: an average over 64 tokens of log-probabilities (errors partly
#    cancel): 1e-5 relative. Observed: 4e-8 at most.
#  - gradients: the backward chain is about twice as long and the norm-wise
#    error of a whole tensor averages the element errors: 1e-4 relative.
#    Observed: 4e-7 at most (a 250x margin).
#  - parameters after 3 AdamW steps, as the update (after - initial): fp32
#    parameters of magnitude ~1 (norm gains) round to 6e-8 per step against
#    an update of ~lr = 3e-3 per step, 2e-5 relative; 1e-4 relative.
#    Observed: 1.5e-5 at most. Left out: elements whose gradient vanishes in
#    exact arithmetic (float64 |g| < 1e-6 of the tensor's RMS) but not in
#    fp32, such as the key bias of qkv (softmax ignores a per-row constant:
#    float64 1e-22, fp32 ~1e-10). Adam's step lr * g / (|g| + eps), eps =
#    1e-8, turns that rounding noise into an O(lr) move of its own: fp32
#    PyTorch would do the same. A wrong weight or moment moves updates O(1).
LOSS_REL, GRAD_REL, UPDATE_REL, VANISHING = 1e-5, 1e-4, 1e-4, 1e-6

CONFIGS = {
    "gpt2": """training_config:
  seed: 11
  model_type: gpt2
  transformer_config:
    num_heads: 2
    embedding_dim: 32
    num_blocks: 2
    max_sequence_length: 16
    dropout_prob: 0.0
    weight_tying: enabled
    positional_embedding_type: trainable
""",
    "llama": """training_config:
  seed: 13
  model_type: llama
  transformer_config:
    num_heads: 4
    num_groups: 2
    embedding_dim: 32
    num_blocks: 2
    max_sequence_length: 16
    intermediate_dim: 48
    theta: 10000.0
    dropout_prob: 0.0
    weight_tying: disabled
""",
}
HEADS = {"gpt2": (2, None), "llama": (4, 2)}
PERTURB = {"gpt2": "blocks.1.attn.qkv.weight", "llama": "blocks.0.attn.k.weight"}


def run_ttml(tmp, arch, corpus, perturb=None):
    """lm_steps on arch's config: (losses, init arrays, grads, after, metadata)."""
    out = os.path.join(tmp, arch + ("_perturbed" if perturb else ""))
    os.makedirs(out, exist_ok=True)
    cfg = os.path.join(out, "config.yaml")
    with open(cfg, "w") as f:
        f.write(CONFIGS[arch])
    cmd = [LM_STEPS, cfg, corpus, str(B), str(S), str(STEPS), repr(LR), repr(WD), out] + ([perturb] if perturb else [])
    p = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, TTML_PLUGIN_PATH=""))
    if p.returncode != 0:
        sys.exit("%s: lm_steps failed (%d):\n%s%s" % (arch, p.returncode, p.stdout, p.stderr))
    losses = [float(line.split()[1]) for line in p.stdout.splitlines() if line.startswith("loss ")]
    init, md = tm.load_safetensors(os.path.join(out, "init.safetensors"))
    grads, _ = tm.load_safetensors(os.path.join(out, "grads.safetensors"))
    after, _ = tm.load_safetensors(os.path.join(out, "after.safetensors"))
    return losses, init, grads, after, md


def run_torch(arch, init, valid):
    """The same steps in float64: (losses, first gradients, parameters after)."""
    heads, groups = HEADS[arch]
    model = tm.from_ttml(init, heads, groups, dtype=torch.float64)
    ids = torch.tensor(init["ids"].astype(np.int64))
    opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=WD)
    losses, grads = [], None
    for step in range(STEPS):
        opt.zero_grad(set_to_none=True)
        loss = tm.loss(model(ids[:, :-1]), ids[:, 1:], valid)
        loss.backward()
        losses.append(loss.item())
        if step == 0:
            grads = {k: p.grad.detach().clone().numpy() for k, p in model.named_parameters()}
        opt.step()
    return losses, grads, {k: p.detach().numpy() for k, p in model.named_parameters()}


def rel(a, b):
    """|a - b| / |b| over the whole tensor (0 when both are 0)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    nb = np.linalg.norm(b)
    d = np.linalg.norm(a - b)
    return d / nb if nb > 0 else (0.0 if d == 0 else float("inf"))


def compare(arch, ttml_run, torch_run):
    """The failures (text) and the worst relative errors (loss, gradient,
    update) with the number of elements left out of the update check."""
    t_losses, init, t_grads, t_after, _ = ttml_run
    o_losses, o_grads, o_after = torch_run
    bad, worst = [], [0.0, 0.0, 0.0, 0]   # loss, gradient, update, elements left out
    if len(t_losses) != STEPS:
        bad.append("ttml printed %d losses, expected %d" % (len(t_losses), STEPS))
    for i, (a, b) in enumerate(zip(t_losses, o_losses)):
        r = abs(a - b) / abs(b)
        worst[0] = max(worst[0], r)
        if r > LOSS_REL:
            bad.append("step %d loss: ttml %.9g, PyTorch %.9g (relative %.3g > %g)" % (i + 1, a, b, r, LOSS_REL))
    if sorted(t_grads) != sorted(o_grads) or sorted(t_after) != sorted(o_after):
        bad.append("parameter names differ: %s" % sorted(set(t_grads) ^ set(o_grads) | set(t_after) ^ set(o_after)))
        return bad, worst
    for k in sorted(o_grads):
        r = rel(t_grads[k], o_grads[k])
        worst[1] = max(worst[1], r)
        if r > GRAD_REL:
            bad.append("gradient of %s: relative error %.3g > %g" % (k, r, GRAD_REL))
        g = o_grads[k]
        keep = ~((np.abs(g) < VANISHING * np.sqrt(np.mean(g * g))) & (t_grads[k] != g))
        worst[3] += int(keep.size - keep.sum())
        r = rel((t_after[k].astype(np.float64) - init[k])[keep], (o_after[k] - init[k])[keep])
        worst[2] = max(worst[2], r)
        if r > UPDATE_REL:
            bad.append("%s after %d AdamW steps: update relative error %.3g > %g" % (k, STEPS, r, UPDATE_REL))
    return bad, worst


def check(tmp, arch, corpus):
    run = run_ttml(tmp, arch, corpus)
    valid = int(run[4]["valid_vocab"])
    bad, worst = compare(arch, run, run_torch(arch, run[1], valid))
    if bad:
        sys.exit("%s: ttml differs from PyTorch (float64):\n  %s" % (arch, "\n  ".join(bad)))
    print("%s: %d parameters, %d AdamW steps on %dx%d tokens: worst relative error loss %.3g (limit %g), "
          "gradient %.3g (%g), update %.3g (%g; %d elements with vanishing gradients left out); losses %s"
          % (arch, len(run[2]), STEPS, B, S, worst[0], LOSS_REL, worst[1], GRAD_REL, worst[2], UPDATE_REL, worst[3],
             " ".join("%.6f" % x for x in run[0])))
    # The oracle must catch a wrong weight: ttml trains a perturbed copy.
    wrong = run_ttml(tmp, arch, corpus, PERTURB[arch])
    bad, _ = compare(arch, wrong, run_torch(arch, wrong[1], valid))
    if not any("gradient of " + PERTURB[arch] in b for b in bad) or not any("AdamW" in b for b in bad):
        sys.exit("%s: 0.05 added to one element of %s went unnoticed (failures: %s)" % (arch, PERTURB[arch], bad))
    print("%s: 0.05 added to %s[0] is caught: %d failures, e.g. %s" % (arch, PERTURB[arch], len(bad), bad[0]))


def main():
    corpus = next((c for c in sys.argv[3:] if os.path.exists(c)), None)
    if corpus is None:
        sys.exit("no corpus among %s" % sys.argv[3:])
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        for arch in ("gpt2", "llama"):
            check(tmp, arch, corpus)


if __name__ == "__main__":
    main()
