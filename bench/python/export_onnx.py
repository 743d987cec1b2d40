#!/usr/bin/python3
"""Exports the peer benchmark's ONNX workloads with torch.onnx.export
(opset 17), written in PyTorch the way the zoo writes them in mlc's DSL, so
that the imported model and the DSL model are the same model:

  mlp.onnx  784-256-256-10, ReLU (models/mlp: sizes=784-256-256-10), input
            "X" [batch, 784], output "logits".
  gpt.onnx  the GPT of the gpt workloads as a forward pass (models/gpt:
            vocab 65, ctx 64, d 128, 4 heads, 2 layers, ffn 512, pre-LN with
            a final LayerNorm, GELU in its tanh form, q/k/v/output
            projections with biases, an untied LM head without bias);
            causal attention written as nanoGPT does (masked_fill of a
            tril buffer, which exports as Where), input "ids" [batch, 64]
            (int64), output "logits".

The batch axis is symbolic ("batch"); bind it with -config batch=N in mlc
and -dims batch=N in bench/ort/ort.js. Weights are random (seed 0).

    /usr/bin/python3 bench/python/export_onnx.py OUTDIR
"""
import math
import sys

import torch
import torch.nn.functional as F

VOCAB, CTX, D, HEADS, LAYERS, FFN = 65, 64, 128, 4, 2, 512


class MLP(torch.nn.Module):
    def __init__(self, sizes=(784, 256, 256, 10)):
        super().__init__()
        self.layers = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))

    def forward(self, x):
        for i, l in enumerate(self.layers):
            x = l(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class Attention(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.o = (torch.nn.Linear(D, D) for _ in range(4))
        self.register_buffer("mask", torch.tril(torch.ones(CTX, CTX)).view(1, 1, CTX, CTX))

    def forward(self, x):
        B, T, _ = x.shape
        split = lambda t: t.view(B, T, HEADS, D // HEADS).transpose(1, 2)
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(D // HEADS))
        att = att.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        return self.o(y.transpose(1, 2).reshape(B, T, D))


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = torch.nn.LayerNorm(D), torch.nn.LayerNorm(D)
        self.attn = Attention()
        self.fc1, self.fc2 = torch.nn.Linear(D, FFN), torch.nn.Linear(FFN, D)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))


class GPT(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = torch.nn.Embedding(VOCAB, D)
        self.pos = torch.nn.Parameter(torch.randn(CTX, D) * 0.02)
        self.blocks = torch.nn.ModuleList(Block() for _ in range(LAYERS))
        self.lnf = torch.nn.LayerNorm(D)
        self.head = torch.nn.Linear(D, VOCAB, bias=False)

    def forward(self, ids):
        x = self.tok(ids) + self.pos[: ids.shape[1]]
        for b in self.blocks:
            x = b(x)
        return self.head(self.lnf(x))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: export_onnx.py OUTDIR")
    out = sys.argv[1]
    torch.manual_seed(0)
    torch.onnx.export(MLP().eval(), (torch.randn(64, 784),), out + "/mlp.onnx", opset_version=17,
                      input_names=["X"], output_names=["logits"], dynamic_axes={"X": {0: "batch"}, "logits": {0: "batch"}})
    torch.onnx.export(GPT().eval(), (torch.randint(0, VOCAB, (1, CTX)),), out + "/gpt.onnx", opset_version=17,
                      input_names=["ids"], output_names=["logits"], dynamic_axes={"ids": {0: "batch"}, "logits": {0: "batch"}})


if __name__ == "__main__":
    main()
