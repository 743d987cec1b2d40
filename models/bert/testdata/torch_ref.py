#!/usr/bin/python3
"""Reference values for models/bert, written from scratch in PyTorch (float64).

For a few tiny configs it draws weights and a padded, masked batch, runs the
encoder and its masked-LM loss as models/bert/bert.go defines them, and
writes the weights, inputs, logits, loss, the loss's gradients and the
sentence embeddings (the masked mean of the final hidden states) to
torch_ref.json, which TestMatchesTorch and TestMeanPoolMatchesTorch compare
with mlc's interpreter.

Run with Debian's python3-torch (not a pyenv python):

    /usr/bin/python3 models/bert/testdata/torch_ref.py

(If torch fails to load libblas.so.3, the dynamic linker's cache is stale:
LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blas:/usr/lib/x86_64-linux-gnu/lapack
works around it.)
"""

import json
import math
import os

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

SIZES = dict(vocab=11, ctx=5, d=8, heads=2, layers=2, ffn=12, pad=0, batch=3)

CASES = [
    # BERT's own form: post-norm, ε 1e-12, LayerNorm on the embeddings, the
    # dense head, the key mask from ids ≠ pad.
    dict(name="bert", norm="post", act="gelu", eps=1e-12, embnorm="auto", head="dense", mask="pad"),
    # A plain pre-norm encoder: ε 1e-5, no embedding LayerNorm, the tied
    # projection as the head, the key mask as an input.
    dict(name="plain", norm="pre", act="gelu", eps=1e-5, embnorm="off", head="linear", mask="input"),
    # The remaining combinations: pre-norm with an embedding LayerNorm and the
    # dense head, ReLU, an input mask.
    dict(name="mixed", norm="pre", act="relu", eps=1e-6, embnorm="on", head="dense", mask="input"),
]


def param_shapes(c):
    d, f, v, t = c["d"], c["ffn"], c["vocab"], c["ctx"]
    shapes = [("wte", (v, d)), ("wpe", (t, d))]
    pre = c["norm"] == "pre"
    if c["embnorm"] == "on" or (c["embnorm"] == "auto" and not pre):
        shapes += [("emb_ln.gamma", (d,)), ("emb_ln.beta", (d,))]
    for l in range(c["layers"]):
        h = f"h{l}"
        shapes += [(f"{h}.ln1.gamma", (d,)), (f"{h}.ln1.beta", (d,))]
        for p in "qkvo":
            shapes += [(f"{h}.attn.W{p}", (d, d)), (f"{h}.attn.b{p}", (d,))]
        shapes += [(f"{h}.ln2.gamma", (d,)), (f"{h}.ln2.beta", (d,))]
        shapes += [(f"{h}.mlp.W1", (d, f)), (f"{h}.mlp.b1", (f,)), (f"{h}.mlp.W2", (f, d)), (f"{h}.mlp.b2", (d,))]
    if pre:
        shapes += [("lnf.gamma", (d,)), ("lnf.beta", (d,))]
    if c["head"] == "dense":
        shapes += [("mlm.W", (d, d)), ("mlm.b", (d,)), ("mlm.ln.gamma", (d,)), ("mlm.ln.beta", (d,))]
    shapes += [("mlm.bias", (v,))]
    return shapes


def layer_norm(x, p, name, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)  # biased
    return (x - mean) / torch.sqrt(var + eps) * p[name + ".gamma"] + p[name + ".beta"]


def forward(c, p, ids, keep):
    act = {"relu": F.relu, "gelu": lambda x: F.gelu(x, approximate="tanh")}[c["act"]]
    eps, pre = c["eps"], c["norm"] == "pre"
    B, T, D, H = c["batch"], c["ctx"], c["d"], c["heads"]
    dk = D // H
    x = p["wte"][ids] + p["wpe"]
    if c["embnorm"] == "on" or (c["embnorm"] == "auto" and not pre):
        x = layer_norm(x, p, "emb_ln", eps)
    key_mask = keep.view(B, 1, 1, T)

    def attention(x, h):
        def heads(name):
            y = x @ p[f"{h}.attn.W{name}"] + p[f"{h}.attn.b{name}"]
            return y.view(B, T, H, dk).transpose(1, 2)

        q, k, v = heads("q"), heads("k"), heads("v")
        scores = q @ k.transpose(-1, -2) / math.sqrt(dk)
        w = torch.softmax(scores.masked_fill(~key_mask, float("-inf")), dim=-1)
        ctx = (w @ v).transpose(1, 2).reshape(B, T, D)
        return ctx @ p[f"{h}.attn.Wo"] + p[f"{h}.attn.bo"]

    def mlp(x, h):
        return act(x @ p[f"{h}.mlp.W1"] + p[f"{h}.mlp.b1"]) @ p[f"{h}.mlp.W2"] + p[f"{h}.mlp.b2"]

    for l in range(c["layers"]):
        h = f"h{l}"
        if pre:
            x = x + attention(layer_norm(x, p, h + ".ln1", eps), h)
            x = x + mlp(layer_norm(x, p, h + ".ln2", eps), h)
        else:
            x = layer_norm(x + attention(x, h), p, h + ".ln1", eps)
            x = layer_norm(x + mlp(x, h), p, h + ".ln2", eps)
    if pre:
        x = layer_norm(x, p, "lnf", eps)
    hidden = x
    if c["head"] == "dense":
        x = layer_norm(act(x @ p["mlm.W"] + p["mlm.b"]), p, "mlm.ln", eps)
    return x @ p["wte"].T + p["mlm.bias"], hidden


def batch(c, g):
    """Sequences of lengths ctx, ctx−1, ctx−2; padded positions hold pad
    with mask=pad and a random other id with mask=input (the mask alone
    hides them); every real position but the first is selected."""
    B, T, V, pad = c["batch"], c["ctx"], c["vocab"], c["pad"]
    ids = torch.randint(1, V, (B, T), generator=g)
    keep = torch.zeros(B, T, dtype=torch.bool)
    for b in range(B):
        keep[b, : T - b] = True
    if c["mask"] == "pad":
        ids = torch.where(keep, ids, torch.full_like(ids, pad))
    targets = torch.randint(1, V, (B, T), generator=g)
    selected = keep.clone()
    selected[:, 0] = False
    return ids, keep, targets, selected


def case(spec, seed):
    c = dict(SIZES, **spec)
    g = torch.Generator().manual_seed(seed)
    params = {}
    for name, shape in param_shapes(c):
        w = 0.4 * torch.randn(shape, generator=g)
        if name.endswith(".gamma"):
            w = w + 1
        params[name] = w.requires_grad_()
    ids, keep, targets, selected = batch(c, g)
    logits, hidden = forward(c, params, ids, keep)
    m = keep.unsqueeze(-1).to(hidden.dtype)
    embedding = (hidden * m).sum(1) / m.sum(1)
    loss = F.cross_entropy(logits[selected], targets[selected])  # mean over the selected positions
    loss.backward()
    flat = lambda t: t.detach().reshape(-1).tolist()
    inputs = {"ids": flat(ids), "targets": flat(targets), "mlm_mask": flat(selected.long())}
    if c["mask"] == "input":
        inputs["attention_mask"] = flat(keep.long())
    return {
        "name": c["name"],
        "config": {k: v for k, v in c.items() if k != "name"},
        "params": {n: flat(w) for n, w in params.items()},
        "inputs": inputs,
        "logits": flat(logits),
        "loss": loss.item(),
        "grads": {n: flat(w.grad) for n, w in params.items()},
        "embedding": flat(embedding),
    }


def main():
    out = {
        "generator": "models/bert/testdata/torch_ref.py, torch " + torch.__version__,
        "cases": [case(spec, seed) for seed, spec in enumerate(CASES, start=1)],
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_ref.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
