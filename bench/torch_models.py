"""bench/torch_models.py - ttml's language models in PyTorch: the yardstick of
bench/torch_gpt.py and the oracle of the tests (tests/oracle/test_torch_oracle.py,
tests/distributed/test_checkpoint_shards.py). One module, imported by all.

Parameter names are ttml's (plugins/transformer_models), so a ttml checkpoint
loads with load_state_dict as it is:

  GPT (gpt2 / nanogpt): learned token and position embeddings wte, wpe;
  pre-LN blocks blocks.i.{ln1, attn.qkv, attn.proj, ln2, mlp.fc, mlp.proj}
  (LayerNorm eps 1e-5, causal softmax attention, GELU tanh MLP), final
  LayerNorm ln_f, head tied to wte (or head.weight, no bias, when untied).

  Llama (tf_llama.c / tf_blocks.c): tok_emb; blocks.i.{attn_norm, attn.q,
  attn.k, attn.v, attn.o, mlp_norm, mlp.w1, mlp.w2, mlp.w3}, no biases;
  RMSNorm x / sqrt(mean(x^2) + 1e-5) * w; RoPE "rotate half" (pairs i and
  i + D/2 turned by pos * theta^(-2i/D)) on q and k; grouped-query attention
  (query head h reads kv head h // (H/G)); MLP w2(silu(w1 x) * w3 x); final
  RMSNorm norm; head.weight (or tied to tok_emb). No dropout.

Both forward ids [B, S] (int64) to logits [B, S, V]; loss() is ttml's
cross-entropy: mean over tokens, the padding columns of the vocabulary
(>= valid) ignored.

load_safetensors reads a safetensors file with json + numpy (the
`safetensors` package is not needed); from_ttml builds the model of a ttml
state dict.
"""
import json
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def causal_attention(q, k, v):
    """softmax(q k^T / sqrt(D), causal) v for q, k, v [B, H, S, D]."""
    s, d = q.shape[2], q.shape[3]
    mask = torch.triu(torch.ones(s, s, dtype=torch.bool, device=q.device), diagonal=1)
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d))
    att = att.masked_fill(mask, float("-inf"))
    return F.softmax(att, dim=-1) @ v


def split_heads(x, heads):
    """[B, S, H*D] -> [B, H, S, D]."""
    b, s, e = x.shape
    return x.view(b, s, heads, e // heads).transpose(1, 2)


def merge_heads(x):
    """[B, H, S, D] -> [B, S, H*D]."""
    b, h, s, d = x.shape
    return x.transpose(1, 2).contiguous().view(b, s, h * d)


class GPTAttention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x):
        q, k, v = self.qkv(x).split(x.shape[-1], dim=2)
        h = self.heads
        return self.proj(merge_heads(causal_attention(split_heads(q, h), split_heads(k, h), split_heads(v, h))))


class GPTMLP(nn.Module):
    def __init__(self, width, hidden):
        super().__init__()
        self.fc = nn.Linear(width, hidden)
        self.proj = nn.Linear(hidden, width)

    def forward(self, x):
        return self.proj(F.gelu(self.fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, width, heads, hidden=None):
        super().__init__()
        self.ln1 = nn.LayerNorm(width)
        self.attn = GPTAttention(width, heads)
        self.ln2 = nn.LayerNorm(width)
        self.mlp = GPTMLP(width, hidden or 4 * width)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """GPT-2; init (the bench's): N(0, 0.02), residual projections
    N(0, 0.02/sqrt(2 L)), biases 0."""

    def __init__(self, blocks, heads, width, context, vocab, tied=True, hidden=None):
        super().__init__()
        self.wte = nn.Embedding(vocab, width)
        self.wpe = nn.Embedding(context, width)
        self.blocks = nn.ModuleList([Block(width, heads, hidden) for _ in range(blocks)])
        self.ln_f = nn.LayerNorm(width)
        self.head = None if tied else nn.Linear(width, vocab, bias=False)
        for name, p in self.named_parameters():
            if name.endswith("weight") and p.dim() == 2:
                std = 0.02 / math.sqrt(2 * blocks) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias") and "ln" not in name:
                nn.init.zeros_(p)

    def forward(self, ids):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1], device=ids.device))
        for blk in self.blocks:
            x = blk(x)
        x = self.ln_f(x)
        return self.head(x) if self.head is not None else x @ self.wte.weight.t()


class RMSNorm(nn.Module):
    def __init__(self, width, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(width))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope(x, theta):
    """Rotate-half RoPE of x [B, H, S, D] at positions 0..S-1."""
    s, d = x.shape[2], x.shape[3]
    half = d // 2
    inv = theta ** (-2.0 * torch.arange(half, dtype=torch.float64) / d)
    ang = torch.arange(s, dtype=torch.float64)[:, None] * inv[None, :]
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)


class LlamaAttention(nn.Module):
    def __init__(self, width, heads, groups, theta):
        super().__init__()
        self.heads, self.groups, self.theta = heads, groups, theta
        kv = groups * (width // heads)
        self.q = nn.Linear(width, width, bias=False)
        self.k = nn.Linear(width, kv, bias=False)
        self.v = nn.Linear(width, kv, bias=False)
        self.o = nn.Linear(width, width, bias=False)

    def forward(self, x):
        rep = self.heads // self.groups
        q = rope(split_heads(self.q(x), self.heads), self.theta)
        k = rope(split_heads(self.k(x), self.groups), self.theta).repeat_interleave(rep, dim=1)
        v = split_heads(self.v(x), self.groups).repeat_interleave(rep, dim=1)
        return self.o(merge_heads(causal_attention(q, k, v)))


class LlamaMLP(nn.Module):
    def __init__(self, width, hidden):
        super().__init__()
        self.w1 = nn.Linear(width, hidden, bias=False)
        self.w2 = nn.Linear(hidden, width, bias=False)
        self.w3 = nn.Linear(width, hidden, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class LlamaBlock(nn.Module):
    def __init__(self, width, heads, groups, hidden, theta):
        super().__init__()
        self.attn_norm = RMSNorm(width)
        self.attn = LlamaAttention(width, heads, groups, theta)
        self.mlp_norm = RMSNorm(width)
        self.mlp = LlamaMLP(width, hidden)

    def forward(self, x):
        x = x + self.attn(self.attn_norm(x))
        return x + self.mlp(self.mlp_norm(x))


class Llama(nn.Module):
    """ttml's llama (no init of its own: load ttml's parameters)."""

    def __init__(self, blocks, heads, groups, width, hidden, vocab, theta=10000.0, tied=False):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab, width)
        self.blocks = nn.ModuleList([LlamaBlock(width, heads, groups, hidden, theta) for _ in range(blocks)])
        self.norm = RMSNorm(width)
        self.head = None if tied else nn.Linear(width, vocab, bias=False)

    def forward(self, ids):
        x = self.tok_emb(ids)
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        return self.head(x) if self.head is not None else x @ self.tok_emb.weight.t()


def loss(logits, targets, valid):
    """ttml's cross-entropy: mean over tokens, columns >= valid ignored."""
    return F.cross_entropy(logits[..., :valid].reshape(-1, valid), targets.reshape(-1))


_DTYPES = {"F32": np.float32, "U32": np.uint32, "BF16": np.uint16}


def load_safetensors(path, skip_optim=True):
    """({name: numpy array}, metadata) of a safetensors file (BF16 as raw
    uint16; optimizer state optim.* left out when skip_optim)."""
    with open(path, "rb") as f:
        blob = f.read()
    n = int.from_bytes(blob[:8], "little")
    head = json.loads(blob[8:8 + n])
    out = {}
    for key, t in head.items():
        if key == "__metadata__" or (skip_optim and key.startswith("optim.")):
            continue
        a, b = t["data_offsets"]
        out[key] = np.frombuffer(blob, dtype=_DTYPES[t["dtype"]], count=(b - a) // np.dtype(_DTYPES[t["dtype"]]).itemsize,
                                 offset=8 + n + a).reshape(t["shape"])
    return out, head.get("__metadata__", {})


def from_ttml(arrays, heads, groups=None, theta=10000.0, dtype=torch.float64):
    """The GPT or Llama (told apart by the names) holding ttml's parameters
    `arrays` ({name: numpy array}; other entries ignored), in `dtype`."""
    blocks = sum(1 for k in arrays if k.endswith(".mlp.w2.weight") or k.endswith(".mlp.fc.weight"))
    tied = "head.weight" not in arrays
    if "tok_emb.weight" in arrays:
        vocab, width = arrays["tok_emb.weight"].shape
        hidden = arrays["blocks.0.mlp.w1.weight"].shape[0]
        model = Llama(blocks, heads, groups or heads, width, hidden, vocab, theta, tied)
    else:
        vocab, width = arrays["wte.weight"].shape
        context = arrays["wpe.weight"].shape[0]
        model = GPT(blocks, heads, width, context, vocab, tied, arrays["blocks.0.mlp.fc.weight"].shape[0])
    model = model.to(dtype)
    names = set(model.state_dict())
    model.load_state_dict({k: torch.tensor(np.array(v, dtype=np.float64), dtype=dtype)
                           for k, v in arrays.items() if k in names})
    return model
