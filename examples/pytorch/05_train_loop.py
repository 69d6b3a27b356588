"""The seed's sigmoid model trained by a hand-written loop, run
twice from the same weights and shuffling seed: same data,
batches and updates give the same bits.

PyTorch has no `fit`: the hand-written loop is how one trains, so
where the Borel example checks its loop against `Model::fit`, this
twin checks that the loop is deterministic, the property that lets
a loop stand in for `fit`. RMSprop takes Keras' defaults (lr 0.001,
rho 0.9, epsilon 1e-7); PyTorch adds epsilon after the square root,
Keras under it, a difference far below the data's noise.

python3 examples/pytorch/05_train_loop.py
"""
import copy
import math

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def data():
    """The seed's surface at 1000 points, x standardized."""
    torch.manual_seed(0)
    x = torch.randn(1000, 2) * torch.tensor([2.0, 1.0])
    waves = torch.cos(x * torch.tensor([3 * math.pi, 4 * math.pi]))
    y = x.square() * torch.tensor([1.0, 2.0]) - waves * torch.tensor([0.2, 0.4])
    x = (x - x.mean()) / x.std(correction=0)
    return x, y.sum(dim=-1, keepdim=True)


def train(model, x, y, epochs):
    """`epochs` epochs of RMSprop on the MSE, batches of 64
    reshuffled each epoch from seed 7; returns the predictions."""
    opt = torch.optim.RMSprop(model.parameters(), lr=0.001, alpha=0.9, eps=1e-7)
    shuffle = torch.Generator().manual_seed(7)
    dataset = TensorDataset(x, y)
    loader = DataLoader(dataset, batch_size=64, shuffle=True, generator=shuffle)
    for _ in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            nn.functional.mse_loss(model(xb), yb).backward()
            opt.step()
    with torch.no_grad():
        return model(x)


def run(epochs):
    """Predictions after `epochs` epochs of two runs of the loop."""
    x, y = data()
    model = nn.Sequential(
        nn.Linear(2, 20),
        nn.Sigmoid(),
        nn.Linear(20, 20),
        nn.Sigmoid(),
        nn.Linear(20, 1),
    )
    twin = copy.deepcopy(model)
    return train(model, x, y, epochs), train(twin, x, y, epochs)


def main():
    first, second = run(5)
    assert torch.equal(first, second), "the second run differs from the first"
    print("run 2 == run 1, bit for bit, after 5 epochs")


if __name__ == "__main__":
    main()
