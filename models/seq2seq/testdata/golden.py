#!/usr/bin/python3
"""Reference values for models/seq2seq from an independent PyTorch model.

An encoder-decoder written here directly in torch, float64, with the
conventions of models/llama/testdata/golden.py (HF Llama's RMSNorm,
rotate-half RoPE from position 0, repeat_interleave'd key/value heads,
SwiGLU) and T5's layout: a bidirectional encoder with a final norm, a
decoder block of causal self-attention, cross-attention over the encoder's
output (no RoPE there) and the MLP, a final norm, logits from the shared
embedding. The source is right-padded with the pad id, and padded source
positions are masked out of the encoder's self-attention and of
cross-attention (a key padding mask, as T5's attention_mask does). Weights
are in mlc's [in, out] layout under mlc's names.

Run with Debian's python3-torch: /usr/bin/python3 golden.py > golden.json
"""

import json
import math
import sys

import torch

torch.set_default_dtype(torch.float64)

CONFIG = dict(vocab=13, src_ctx=7, ctx=5, d=16, heads=4, kv_heads=2,
              enc_layers=2, dec_layers=2, ffn=12, rope_theta=100.0,
              norm_eps=1e-6, pad=0, batch=2)


def rms_norm(x, g, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * g


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope(x, theta):
    T, hd = x.shape[-2], x.shape[-1]
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    emb = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)
    emb = torch.cat((emb, emb), dim=-1)
    return x * emb.cos() + rotate_half(x) * emb.sin()


def attention(c, w, p, xq, xkv, causal, use_rope, keep=None):
    B, T, _ = xq.shape
    S = xkv.shape[1]
    H, KV = c["heads"], c["kv_heads"]
    hd = c["d"] // H
    q = (xq @ w[p + ".Wq"]).view(B, T, H, hd).transpose(1, 2)
    k = (xkv @ w[p + ".Wk"]).view(B, S, KV, hd).transpose(1, 2)
    v = (xkv @ w[p + ".Wv"]).view(B, S, KV, hd).transpose(1, 2)
    if use_rope:
        q, k = rope(q, c["rope_theta"]), rope(k, c["rope_theta"])
    k = k.repeat_interleave(H // KV, dim=1)
    v = v.repeat_interleave(H // KV, dim=1)
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
    if causal:
        scores = scores.masked_fill(~torch.ones(T, S, dtype=torch.bool).tril(), float("-inf"))
    if keep is not None:  # [B, S]: True at the real keys
        scores = scores.masked_fill(~keep[:, None, None, :], float("-inf"))
    ctx = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(B, T, H * hd)
    return ctx @ w[p + ".Wo"]


def mlp(w, p, x):
    return (torch.nn.functional.silu(x @ w[p + ".gate.W"]) * (x @ w[p + ".up.W"])) @ w[p + ".down.W"]


def forward(c, w, src, ids):
    eps = c["norm_eps"]
    keep = src != c["pad"]
    x = w["wte"][src]
    for l in range(c["enc_layers"]):
        h = f"enc{l}"
        a = rms_norm(x, w[h + ".attn_norm.g"], eps)
        x = x + attention(c, w, h + ".attn", a, a, causal=False, use_rope=True, keep=keep)
        x = x + mlp(w, h + ".mlp", rms_norm(x, w[h + ".mlp_norm.g"], eps))
    mem = rms_norm(x, w["enc.norm.g"], eps)
    y = w["wte"][ids]
    for l in range(c["dec_layers"]):
        h = f"dec{l}"
        a = rms_norm(y, w[h + ".self_norm.g"], eps)
        y = y + attention(c, w, h + ".self", a, a, causal=True, use_rope=True)
        y = y + attention(c, w, h + ".cross", rms_norm(y, w[h + ".cross_norm.g"], eps), mem, causal=False, use_rope=False, keep=keep)
        y = y + mlp(w, h + ".mlp", rms_norm(y, w[h + ".mlp_norm.g"], eps))
    y = rms_norm(y, w["dec.norm.g"], eps)
    return y @ w["wte"].t()


def make_weights(c, gen):
    d, hd, H, KV, f = c["d"], c["d"] // c["heads"], c["heads"], c["kv_heads"], c["ffn"]
    w = {}
    def normal(name, *shape):
        w[name] = torch.randn(*shape, generator=gen) * 0.3
    def gain(name):
        w[name] = 1 + 0.2 * torch.randn(d, generator=gen)
    def attn(p):
        normal(p + ".Wq", d, H * hd)
        normal(p + ".Wk", d, KV * hd)
        normal(p + ".Wv", d, KV * hd)
        normal(p + ".Wo", H * hd, d)
    def ffn(p):
        normal(p + ".gate.W", d, f)
        normal(p + ".up.W", d, f)
        normal(p + ".down.W", f, d)
    w["wte"] = torch.randn(c["vocab"], d, generator=gen) * 0.5
    for l in range(c["enc_layers"]):
        h = f"enc{l}"
        gain(h + ".attn_norm.g"); attn(h + ".attn"); gain(h + ".mlp_norm.g"); ffn(h + ".mlp")
    gain("enc.norm.g")
    for l in range(c["dec_layers"]):
        h = f"dec{l}"
        gain(h + ".self_norm.g"); attn(h + ".self")
        gain(h + ".cross_norm.g"); attn(h + ".cross")
        gain(h + ".mlp_norm.g"); ffn(h + ".mlp")
    gain("dec.norm.g")
    for t in w.values():
        t.requires_grad_(True)
    return w


def tensor(t):
    t = t.detach()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def main():
    c = CONFIG
    gen = torch.Generator().manual_seed(52)
    w = make_weights(c, gen)
    B = c["batch"]
    src = torch.randint(1, c["vocab"], (B, c["src_ctx"]), generator=gen)
    src[1, 4:] = c["pad"]  # the second source has 4 real tokens, then padding
    ids = torch.randint(0, c["vocab"], (B, c["ctx"]), generator=gen)
    targets = torch.randint(0, c["vocab"], (B, c["ctx"]), generator=gen)
    logits = forward(c, w, src, ids)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, c["vocab"]), targets.reshape(-1))
    loss.backward()
    out = {
        "about": "models/seq2seq/testdata/golden.py: a T5-like encoder-decoder written in torch "
                 + torch.__version__ + ", float64",
        "config": ",".join(f"{k}={v}" for k, v in c.items()),
        "weights": {k: tensor(v) for k, v in w.items()},
        "src": tensor(src.double()),
        "ids": tensor(ids.double()),
        "targets": tensor(targets.double()),
        "logits": tensor(logits),
        "loss": float(loss),
        "grads": {k: tensor(v.grad) for k, v in w.items()},
    }
    json.dump(out, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
