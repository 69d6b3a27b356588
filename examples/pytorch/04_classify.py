"""Classification with a training loop: logistic regression on
two Gaussian blobs (binary cross-entropy from logits), and a
softmax classifier on three blobs fed integer labels.

python3 examples/pytorch/04_classify.py
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def blobs(centers, n, seed):
    """`n` points around each center (std 0.7), labelled by
    the index of their center."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(len(centers)).repeat_interleave(n)
    noise = torch.randn(len(labels), 2, generator=generator) * 0.7
    return torch.tensor(centers)[labels] + noise, labels


def accuracy(centers, loss_fn):
    """Accuracy on fresh samples of a linear classifier fitted
    with `loss_fn`: one logit for two classes, else one a class."""
    torch.manual_seed(0)
    binary = len(centers) == 2
    model = nn.Linear(2, 1 if binary else len(centers))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    x, labels = blobs(centers, 200, seed=0)
    targets = labels.float().unsqueeze(1) if binary else labels
    loader = DataLoader(TensorDataset(x, targets), batch_size=32, shuffle=True)
    for _ in range(30):
        for xb, yb in loader:
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
    x, labels = blobs(centers, 200, seed=1)
    with torch.no_grad():
        logits = model(x)
    predicted = (logits[:, 0] > 0).long() if binary else logits.argmax(dim=1)
    return (predicted == labels).float().mean().item()


def main():
    two = [[-1.5, -1.0], [1.5, 1.0]]
    a2 = accuracy(two, nn.BCEWithLogitsLoss())
    three = [[-2.0, 0.0], [2.0, 0.0], [0.0, 3.0]]
    a3 = accuracy(three, nn.CrossEntropyLoss())
    print(f"accuracy: two {a2:.3f}, three {a3:.3f}")
    assert a2 > 0.95 and a3 > 0.95


if __name__ == "__main__":
    main()
