#!/usr/bin/python3
"""Exports a small CNN (Conv2d, eval-mode BatchNorm2d, ReLU, MaxPool2d, a
grouped strided Conv2d, Flatten, Linear) with torch.onnx.export (opset 17)
and records PyTorch's outputs, cross-entropy loss and parameter gradients,
in float32 and in float64, for onnx/torch_test.go.

Run with Debian's python3-torch and python3-onnx:
    cd onnx/testdata/cnn && /usr/bin/python3 export.py
"""
import json

import torch


class CNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(2, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.pool = torch.nn.MaxPool2d(2)
        self.conv2 = torch.nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=2)
        self.fc = torch.nn.Linear(16, 3)

    def forward(self, x):
        h = self.pool(torch.relu(self.bn(self.conv1(x))))
        return self.fc(torch.flatten(self.conv2(h), 1))


def tensor(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1)]}


def run(model, x, target):
    model.zero_grad()
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits, target)
    loss.backward()
    grads = {name: tensor(p.grad) for name, p in model.named_parameters()}
    return {"logits": tensor(logits), "loss": float(loss), "grads": grads}


def main():
    torch.manual_seed(1)
    model = CNN().eval()
    with torch.no_grad():  # non-trivial running statistics and affine
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2)
        model.bn.weight.uniform_(0.5, 1.5)
        model.bn.bias.uniform_(-0.2, 0.2)
    x = torch.randn(3, 2, 8, 8)
    target = torch.tensor([0, 2, 1])
    torch.onnx.export(model, (x,), "model.onnx", opset_version=17, input_names=["x"], output_names=["logits"],
                      do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE)
    f32 = run(model, x, target)
    # In float64 with the file's float32 epsilon, as an f64 import computes.
    model = model.double()
    model.bn.eps = float(torch.tensor(model.bn.eps, dtype=torch.float32))
    f64 = run(model, x.double(), target)
    out = {"x": tensor(x), "target": tensor(target), "f32": f32, "f64": f64}
    with open("torch.json", "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
