#!/usr/bin/python3
"""Exports a tiny nanoGPT-style decoder with torch.onnx.export (opset 17)
and records PyTorch's logits, cross-entropy loss and parameter gradients in
float32, for onnx/torch_test.go and onnx/decode_test.go. Unlike ../gpt (an
nn.TransformerEncoder with an additive -inf mask), its attention is written
out as nanoGPT writes it: q·kᵀ scaled by a Mul, masked_fill of a tril(ones)
buffer compared with 0 (exported as Equal and Where), GELU in its tanh form
(exported as Mul, Add and Tanh), batch-first heads.

Run with Debian's python3-torch and python3-onnx:
    cd onnx/testdata/nanogpt && /usr/bin/python3 export.py
"""
import json
import math

import torch
import torch.nn.functional as F

VOCAB, CTX, D, HEADS, FFN, BATCH = 32, 8, 16, 2, 32, 2


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = torch.nn.LayerNorm(D), torch.nn.LayerNorm(D)
        self.qkv = torch.nn.Linear(D, 3 * D)
        self.proj = torch.nn.Linear(D, D)
        self.fc1, self.fc2 = torch.nn.Linear(D, FFN), torch.nn.Linear(FFN, D)
        self.register_buffer("mask", torch.tril(torch.ones(CTX, CTX)).view(1, 1, CTX, CTX))

    def attn(self, x):
        B, T, _ = x.shape
        q, k, v = self.qkv(x).split(D, dim=2)
        split = lambda t: t.view(B, T, HEADS, D // HEADS).transpose(1, 2)
        q, k, v = split(q), split(k), split(v)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(D // HEADS))
        att = att.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, D))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))


class NanoGPT(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = torch.nn.Embedding(VOCAB, D)
        self.pos = torch.nn.Embedding(CTX, D)
        self.block = Block()
        self.lnf = torch.nn.LayerNorm(D)
        self.head = torch.nn.Linear(D, VOCAB, bias=False)

    def forward(self, ids):
        T = ids.shape[1]
        x = self.tok(ids) + self.pos(torch.arange(T))
        return self.head(self.lnf(self.block(x)))


def tensor(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1)]}


def main():
    torch.manual_seed(0)
    model = NanoGPT().eval()
    with torch.no_grad():  # LayerNorms off 1 and 0, so no two initializers are equal
        for name, p in model.named_parameters():
            p.add_(torch.randn_like(p) * 0.05)
    x = torch.randint(0, VOCAB, (BATCH, CTX))
    target = torch.randint(0, VOCAB, (BATCH, CTX))
    torch.onnx.export(model, (x,), "model.onnx", opset_version=17, input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
                      do_constant_folding=False)  # keeps the weights' names (folding transposes them into new initializers) and the mask's Slice
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), target.reshape(-1))
    loss.backward()
    grads = {name: tensor(p.grad) for name, p in model.named_parameters()}
    out = {"x": tensor(x), "target": tensor(target), "f32": {"logits": tensor(logits), "loss": float(loss), "grads": grads}}
    with open("torch.json", "w") as f:
        json.dump(out, f)
        f.write("\n")


if __name__ == "__main__":
    main()
