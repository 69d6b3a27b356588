"""A user's model with a skip connection, a Huber loss written
from raw ops, AdamW, and weights that survive a file.

python3 examples/pytorch/02_residual_model.py
"""
import math
import os
import tempfile

import torch
from torch import nn


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(2, 32)
        self.mid = nn.Linear(32, 32)
        self.out = nn.Linear(32, 1)

    def forward(self, x):
        h = torch.tanh(self.inp(x))
        return self.out(h + torch.tanh(self.mid(h)))


def huber(pred, target):
    """Huber, delta 1: d^2 / 2 inside, |d| - 1/2 outside."""
    error = (pred - target).abs()
    inside = error.clamp(0.0, 1.0)
    return (inside * (inside * 0.5 - 1.0) + error).mean()


def run():
    """Trains on the seed's surface; returns the MSE and whether
    a twin loaded from the weight file predicts the same bits."""
    torch.manual_seed(0)
    x = torch.randn(400, 2) * torch.tensor([2.0, 1.0])
    waves = torch.cos(x * torch.tensor([3 * math.pi, 4 * math.pi]))
    y = x.square() * torch.tensor([1.0, 2.0]) - waves * torch.tensor([0.2, 0.4])
    y = y.sum(dim=-1, keepdim=True)
    x = (x - x.mean()) / x.std(correction=0)
    net = Residual()
    opt = torch.optim.AdamW(net.parameters(), lr=0.01)
    for _ in range(3000):
        opt.zero_grad()
        huber(net(x), y).backward()
        opt.step()
    path = os.path.join(tempfile.gettempdir(), "02.pt")
    torch.save(net.state_dict(), path)
    torch.manual_seed(1)
    twin = Residual()
    twin.load_state_dict(torch.load(path))
    with torch.no_grad():
        pred = net(x)
        mse = (pred - y).square().mean().item()
        return mse, torch.equal(pred, twin(x))


def main():
    mse, same = run()
    print(f"MSE {mse:.3f}, reloaded equal: {same}")
    assert mse < 1.0 and same


if __name__ == "__main__":
    main()
