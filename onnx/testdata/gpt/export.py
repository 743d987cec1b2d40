#!/usr/bin/python3
"""Exports a small GPT (token and learned position embeddings, two pre-norm
torch.nn.TransformerEncoderLayer blocks with a causal mask and GELU, a final
LayerNorm and an LM head) with torch.onnx.export (opset 17) and records
PyTorch's logits, cross-entropy loss and parameter gradients in float32, for
onnx/torch_test.go.

Run with Debian's python3-torch and python3-onnx:
    cd onnx/testdata/gpt && /usr/bin/python3 export.py
"""
import json

import torch

VOCAB, D, HEADS, LAYERS, FFN, CTX, BATCH = 64, 32, 4, 2, 64, 16, 2


class GPT(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = torch.nn.Embedding(VOCAB, D)
        self.pos = torch.nn.Parameter(torch.randn(CTX, D) * 0.02)
        layer = torch.nn.TransformerEncoderLayer(D, HEADS, FFN, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
        self.blocks = torch.nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
        self.norm = torch.nn.LayerNorm(D)
        self.head = torch.nn.Linear(D, VOCAB)
        self.register_buffer("mask", torch.triu(torch.full((CTX, CTX), float("-inf")), diagonal=1))

    def forward(self, ids):
        T = ids.shape[1]
        h = self.tok(ids) + self.pos[:T]
        h = self.blocks(h, mask=self.mask[:T, :T])
        return self.head(self.norm(h))


def tensor(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1)]}


def main():
    torch.manual_seed(0)
    model = GPT().eval()
    with torch.no_grad():  # copies of one layer, and LayerNorms at 1 and 0, would be one shared initializer
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    x = torch.randint(0, VOCAB, (BATCH, CTX))
    target = torch.randint(0, VOCAB, (BATCH, CTX))
    torch.onnx.export(model, (x,), "model.onnx", opset_version=17, input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=False)
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
