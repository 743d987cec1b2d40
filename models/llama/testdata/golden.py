#!/usr/bin/python3
"""Reference values for models/llama from an independent PyTorch model.

The model is written here directly in torch, float64, following Hugging
Face Llama's conventions rather than mlc's code:

  - RMSNorm: x / sqrt(mean(x^2) + eps) * g
  - RoPE: rotate-half, pairs (i, i + head_dim/2), positions from 0,
    inv_freq = 1 / theta^(2i/head_dim), q*cos + rotate_half(q)*sin
  - grouped-query attention: key/value head j repeated for query heads
    j*n_rep .. j*n_rep + n_rep - 1 (query head h reads kv head h // n_rep)
  - SwiGLU MLP: (silu(x W_gate) * x W_up) W_down
  - pre-norm blocks, a final RMSNorm, tied or separate output head

Weights are in mlc's [in, out] layout and carry mlc's parameter names.
For each case it writes the weights, the ids and targets, the logits, the
mean cross-entropy loss, the gradient of the loss with respect to every
weight, and, for the KV-cache test, the logits of the model run on each
prefix ids[:, :p] by itself.

Run with Debian's python3-torch: /usr/bin/python3 golden.py > golden.json
"""

import json
import math
import sys

import torch

torch.set_default_dtype(torch.float64)

CASES = [
    # grouped-query attention (two query heads per key head), untied head
    dict(name="gqa", vocab=11, ctx=6, d=16, heads=4, kv_heads=2, layers=2,
         ffn=12, rope_theta=500.0, norm_eps=1e-6, tie=False, batch=2,
         prefixes=[1, 3, 6]),
    # multi-query attention, tied head, Llama's theta
    dict(name="mqa", vocab=9, ctx=5, d=12, heads=2, kv_heads=1, layers=1,
         ffn=10, rope_theta=10000.0, norm_eps=1e-5, tie=True, batch=1,
         prefixes=[1, 2, 5]),
]


def make_weights(c, gen):
    d, hd = c["d"], c["d"] // c["heads"]
    def normal(*shape, std=0.3):
        return torch.randn(*shape, generator=gen) * std
    def gain(n):
        return 1 + 0.2 * torch.randn(n, generator=gen)
    w = {"wte": normal(c["vocab"], d, std=0.5)}
    for l in range(c["layers"]):
        h = f"h{l}"
        w[f"{h}.attn_norm.g"] = gain(d)
        w[f"{h}.attn.Wq"] = normal(d, c["heads"] * hd)
        w[f"{h}.attn.Wk"] = normal(d, c["kv_heads"] * hd)
        w[f"{h}.attn.Wv"] = normal(d, c["kv_heads"] * hd)
        w[f"{h}.attn.Wo"] = normal(c["heads"] * hd, d)
        w[f"{h}.mlp_norm.g"] = gain(d)
        w[f"{h}.mlp.gate.W"] = normal(d, c["ffn"])
        w[f"{h}.mlp.up.W"] = normal(d, c["ffn"])
        w[f"{h}.mlp.down.W"] = normal(c["ffn"], d)
    w["norm.g"] = gain(d)
    if not c["tie"]:
        w["lm_head"] = normal(d, c["vocab"])
    for t in w.values():
        t.requires_grad_(True)
    return w


def rms_norm(x, g, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * g


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope_tables(T, hd, theta):
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    freqs = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)  # [T, hd]
    return emb.cos(), emb.sin()


def forward(c, w, ids):
    B, T = ids.shape
    H, KV = c["heads"], c["kv_heads"]
    hd = c["d"] // H
    n_rep = H // KV
    cos, sin = rope_tables(T, hd, c["rope_theta"])
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    x = w["wte"][ids]
    for l in range(c["layers"]):
        h = f"h{l}"
        a = rms_norm(x, w[f"{h}.attn_norm.g"], c["norm_eps"])
        q = (a @ w[f"{h}.attn.Wq"]).view(B, T, H, hd).transpose(1, 2)
        k = (a @ w[f"{h}.attn.Wk"]).view(B, T, KV, hd).transpose(1, 2)
        v = (a @ w[f"{h}.attn.Wv"]).view(B, T, KV, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(n_rep, dim=1)  # [B, H, T, hd]
        v = v.repeat_interleave(n_rep, dim=1)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
        scores = scores.masked_fill(~mask, float("-inf"))
        ctx = torch.softmax(scores, dim=-1) @ v
        ctx = ctx.transpose(1, 2).reshape(B, T, H * hd)
        x = x + ctx @ w[f"{h}.attn.Wo"]
        m = rms_norm(x, w[f"{h}.mlp_norm.g"], c["norm_eps"])
        hidden = torch.nn.functional.silu(m @ w[f"{h}.mlp.gate.W"]) * (m @ w[f"{h}.mlp.up.W"])
        x = x + hidden @ w[f"{h}.mlp.down.W"]
    x = rms_norm(x, w["norm.g"], c["norm_eps"])
    head = w["wte"].t() if c["tie"] else w["lm_head"]
    return x @ head


def tensor(t):
    t = t.detach()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def case(c, seed):
    gen = torch.Generator().manual_seed(seed)
    w = make_weights(c, gen)
    B, T = c["batch"], c["ctx"]
    ids = torch.randint(0, c["vocab"], (B, T), generator=gen)
    targets = torch.randint(0, c["vocab"], (B, T), generator=gen)
    logits = forward(c, w, ids)
    loss = torch.nn.functional.cross_entropy(logits.reshape(B * T, -1), targets.reshape(-1))
    loss.backward()
    prefix = {}
    with torch.no_grad():
        for p in c["prefixes"]:
            prefix[str(p)] = tensor(forward(c, w, ids[:, :p]))
    config = ",".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}"
                      for k, v in c.items() if k not in ("name", "prefixes"))
    return {
        "name": c["name"],
        "config": config,
        "weights": {k: tensor(v) for k, v in w.items()},
        "ids": tensor(ids.double()),
        "targets": tensor(targets.double()),
        "logits": tensor(logits),
        "loss": float(loss),
        "grads": {k: tensor(v.grad) for k, v in w.items()},
        "prefix_logits": prefix,
    }


def main():
    out = {
        "about": "models/llama/testdata/golden.py: a Llama-style model written in torch "
                 + torch.__version__ + ", float64",
        "cases": [case(c, 16 + i) for i, c in enumerate(CASES)],
    }
    json.dump(out, sys.stdout, indent=None, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
