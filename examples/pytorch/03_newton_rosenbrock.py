"""Derivatives you can trust, then use: gradcheck and gradgradcheck of an expression, a
custom op (swish with a hand-written backward) checked against finite differences, and
Newton's method on Rosenbrock with the Hessian taken from autograd.

python3 examples/pytorch/03_newton_rosenbrock.py
"""
import torch
from torch.autograd import gradcheck, gradgradcheck
from torch.autograd.functional import hessian, jacobian

torch.set_default_dtype(torch.float64)


def f(A, b):
    """f(A, b) = logsumexp(A b) + ||A||_F^2."""
    return torch.logsumexp(A @ b, dim=0) + A.square().sum()


class Swish(torch.autograd.Function):
    """swish(x) = x sigmoid(x) as a custom op, with
    swish' = swish + sigmoid (1 - swish) by hand, in torch
    ops: so it can be differentiated again."""

    @staticmethod
    def forward(ctx, x):
        y = x * torch.sigmoid(x)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        s = torch.sigmoid(x)
        return grad * (y + s * (1 - y))


def rosenbrock(p):
    x, y = p
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def run():
    """The checks (each raises with its report if it fails), then ten Newton steps from
    (-1.2, 1); returns the distance to the minimum (1, 1)."""
    A = (3 * torch.sin(torch.arange(12.0))).reshape(3, 4).requires_grad_()
    b = (3 * torch.sin(torch.arange(4.0))).requires_grad_()
    gradcheck(f, (A, b))
    gradgradcheck(f, (A, b))
    # swish, at the entries of A.
    gradcheck(Swish.apply, (A,))
    gradgradcheck(Swish.apply, (A,))
    p = torch.tensor([-1.2, 1.0])
    for _ in range(10):
        H = hessian(rosenbrock, p)
        g = jacobian(rosenbrock, p)
        p = p - torch.linalg.solve(H, g)
    return (p - 1).abs().max().item()


def main():
    err = run()
    print(f"|p - (1, 1)| = {err:.1e}")
    assert err < 1e-8


if __name__ == "__main__":
    main()
