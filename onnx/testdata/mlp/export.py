#!/usr/bin/python3
"""Exports a small MLP with torch.onnx.export (opset 17) and records
PyTorch's outputs, cross-entropy loss and parameter gradients, in float32
and (the same weights, run in float64) float64, for onnx/torch_test.go.

Run with Debian's python3-torch and python3-onnx:
    cd onnx/testdata/mlp && /usr/bin/python3 export.py
"""
import json

import torch


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 8)
        self.norm = torch.nn.LayerNorm(8)
        self.fc2 = torch.nn.Linear(8, 3)

    def forward(self, x):
        h = torch.nn.functional.gelu(self.norm(self.fc1(x)))  # exact GELU: exports Erf
        return self.fc2(h)


def tensor(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1)]}


def forward_f32_constants(model, x):
    """The exported graph's computation in float64: its constants (√2 in
    GELU, LayerNorm's epsilon) are float32 numbers in the file."""
    eps = float(torch.tensor(model.norm.eps, dtype=torch.float32))
    sqrt2 = float(torch.tensor(2.0, dtype=torch.float32).sqrt())
    h = torch.nn.functional.layer_norm(model.fc1(x), (8,), model.norm.weight, model.norm.bias, eps)
    h = h * (1 + torch.erf(h / sqrt2)) * 0.5
    return model.fc2(h)


def run(model, x, target, forward=None):
    model.zero_grad()
    logits = forward(model, x) if forward else model(x)
    loss = torch.nn.functional.cross_entropy(logits, target)
    loss.backward()
    grads = {name: tensor(p.grad) for name, p in model.named_parameters()}
    return {"logits": tensor(logits), "loss": float(loss), "grads": grads}


def main():
    torch.manual_seed(0)
    model = MLP().eval()
    with torch.no_grad():  # a non-trivial LayerNorm affine
        model.norm.weight.uniform_(0.5, 1.5)
        model.norm.bias.uniform_(-0.2, 0.2)
    x = torch.randn(5, 4)
    target = torch.tensor([0, 2, 1, 2, 0])
    torch.onnx.export(model, (x,), "model.onnx", opset_version=17, input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=True)
    f32 = run(model, x, target)
    f64 = run(model.double(), x.double(), target, forward_f32_constants)
    out = {"x": tensor(x), "target": tensor(target), "f32": f32, "f64": f64}
    with open("torch.json", "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
