"""A physics-informed network: u(x) with u'' = -sin x on [0, pi] and u(0) = u(pi) = 0,
whose solution is sin x. The residual's u'' comes from autograd: the network is
differentiated twice with respect to its input inside the loss. Adam first, then L-BFGS
with the strong-Wolfe line search finishes the fit, as PINNs are usually trained.

python3 examples/pytorch/01_pinn.py
"""
import math

import torch
from torch import nn

torch.set_default_dtype(torch.float64)


def grid(n):
    return torch.linspace(0.0, math.pi, n).reshape(n, 1)


def pinn_loss(net):
    """The mean squared residual at 64 collocation points plus u^2 at the ends."""
    x = grid(64).requires_grad_()
    u = net(x)
    (ux,) = torch.autograd.grad(u.sum(), x, create_graph=True)
    (uxx,) = torch.autograd.grad(ux.sum(), x, create_graph=True)
    residual = (uxx + torch.sin(x)).square().mean()
    boundary = net(grid(2)).square().mean()
    return residual + boundary


def train(adam_steps, lbfgs_steps):
    """Trains u with Adam, then L-BFGS; returns max |u - sin| on a grid after each."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(1, 32),
        nn.Tanh(),
        nn.Linear(32, 32),
        nn.Tanh(),
        nn.Linear(32, 1),
    )
    x = grid(101)

    def error():
        with torch.no_grad():
            return (net(x) - torch.sin(x)).abs().max().item()

    adam = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(adam_steps):
        adam.zero_grad()
        pinn_loss(net).backward()
        adam.step()
    after_adam = error()

    # the loss is near 1e-7 by now: the default tolerance_change (1e-9) would end
    # every step after an iteration or two
    lbfgs = torch.optim.LBFGS(
        net.parameters(), lr=1.0, line_search_fn="strong_wolfe", tolerance_change=1e-12
    )

    def closure():
        lbfgs.zero_grad()
        loss = pinn_loss(net)
        loss.backward()
        return loss

    for _ in range(lbfgs_steps):
        lbfgs.step(closure)
    return after_adam, error()


def main():
    adam, lbfgs = train(5000, 20)
    print(f"max |u - sin x| after Adam: {adam:.2e}, after L-BFGS: {lbfgs:.2e}")
    assert adam < 1e-2, f"max error after Adam {adam}"
    # after 5000 Adam steps the error is already near 2e-5: L-BFGS divides
    # it by about 8 here (by about 19 after only 1000 Adam steps)
    assert lbfgs < 1e-4, f"max error after L-BFGS {lbfgs}"
    assert lbfgs < adam, f"L-BFGS took the error from {adam} to {lbfgs}"


if __name__ == "__main__":
    main()
