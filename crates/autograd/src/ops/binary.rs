//! Binary elementwise ops with NumPy broadcasting. The backward of a broadcast input sums
//! the gradient over the broadcast axes (`sum_to`).
//!
//! `maximum`/`minimum` send the whole gradient to the first operand on ties.

use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::float::Float;
use crate::ops::{EngineExt, Op, UnaryOp, kernels};
use crate::tape::{Engine, Var};
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Maximum,
    Minimum,
}

impl BinaryOp {
    fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Pow => "pow",
            BinaryOp::Maximum => "maximum",
            BinaryOp::Minimum => "minimum",
        }
    }

    #[track_caller]
    #[inline]
    pub(crate) fn forward<F: Float>(self, a: &Tensor<F>, b: &Tensor<F>) -> Tensor<F> {
        let n = self.name();
        match self {
            BinaryOp::Add => kernels::zip(n, a, b, |x, y| x + y),
            BinaryOp::Sub => kernels::zip(n, a, b, |x, y| x - y),
            BinaryOp::Mul => kernels::zip(n, a, b, |x, y| x * y),
            BinaryOp::Div => kernels::zip(n, a, b, |x, y| x / y),
            BinaryOp::Pow => kernels::zip(n, a, b, |x, y| x.powf_(y)),
            BinaryOp::Maximum => kernels::zip(n, a, b, |x, y| if x >= y { x } else { y }),
            BinaryOp::Minimum => kernels::zip(n, a, b, |x, y| if x <= y { x } else { y }),
        }
    }

    pub(crate) fn backward<F: Float, E: Engine<F>>(
        self,
        e: &E,
        a: &E::V,
        b: &E::V,
        y: &E::V,
        g: &E::V,
        needs: &[bool],
    ) -> super::Grads<E::V> {
        let (ga, gb) = match self {
            BinaryOp::Add => (needs[0].then(|| g.clone()), needs[1].then(|| g.clone())),
            BinaryOp::Sub => (needs[0].then(|| g.clone()), needs[1].then(|| e.neg(g))),
            // d(ab) = b da + a db
            BinaryOp::Mul => (needs[0].then(|| e.mul(g, b)), needs[1].then(|| e.mul(g, a))),
            // d(a/b) = da / b - (a/b) db / b
            BinaryOp::Div => (
                needs[0].then(|| e.div(g, b)),
                needs[1].then(|| e.neg(&e.div(&e.mul(g, y), b))),
            ),
            // d(a^b) = b a^(b-1) da + a^b ln(a) db
            BinaryOp::Pow => (
                needs[0].then(|| {
                    let bm1 = e.affine(b, F::ONE, -F::ONE);
                    e.mul(g, &e.mul(b, &e.bin(BinaryOp::Pow, a, &bm1)))
                }),
                needs[1].then(|| e.mul(g, &e.mul(y, &e.un(UnaryOp::Log, a)))),
            ),
            BinaryOp::Maximum | BinaryOp::Minimum => {
                let max = self == BinaryOp::Maximum;
                let (va, vb) = (e.value(a), e.value(b));
                let to_a = kernels::zip("mask", &va, &vb, move |x, y| {
                    if (max && x >= y) || (!max && x <= y) {
                        F::ONE
                    } else {
                        F::ZERO
                    }
                });
                let to_b = to_a.map(|m| F::ONE - m);
                (
                    needs[0].then(|| e.mul_const(g, to_a)),
                    needs[1].then(|| e.mul_const(g, to_b)),
                )
            }
        };
        smallvec::smallvec![
            ga.map(|ga| e.sum_to(ga, &e.shape(a))),
            gb.map(|gb| e.sum_to(gb, &e.shape(b)))
        ]
    }
}

impl<'t, F: Float> Var<'t, F> {
    #[track_caller]
    #[inline]
    fn bin(self, op: BinaryOp, other: Var<'t, F>) -> Var<'t, F> {
        self.binary(Op::Binary(op), op.name(), other)
    }

    /// `self ^ exponent` elementwise, both differentiable; needs `self > 0` where the
    /// exponent's gradient is wanted (it involves `ln self`).
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let a = tape.var(Tensor::scalar(2.0));
    /// let b = tape.var(Tensor::scalar(3.0));
    /// let g = a.pow(b).backward();
    /// assert_eq!(g[a].item(), 12.0);
    /// assert!((g[b].item() - 8.0 * 2f64.ln()).abs() < 1e-12);
    /// ```
    #[track_caller]
    pub fn pow(self, exponent: Var<'t, F>) -> Var<'t, F> {
        self.bin(BinaryOp::Pow, exponent)
    }

    /// Elementwise maximum with broadcasting; on ties the gradient goes to `self`.
    #[track_caller]
    pub fn maximum(self, other: Var<'t, F>) -> Var<'t, F> {
        self.bin(BinaryOp::Maximum, other)
    }

    /// Elementwise minimum with broadcasting; on ties the gradient goes to `self`.
    #[track_caller]
    pub fn minimum(self, other: Var<'t, F>) -> Var<'t, F> {
        self.bin(BinaryOp::Minimum, other)
    }
}

macro_rules! binop {
    ($trait:ident, $method:ident, $op:expr, $scalar:expr, $rscalar:expr) => {
        impl<'t, F: Float> $trait<Var<'t, F>> for Var<'t, F> {
            type Output = Var<'t, F>;
            #[track_caller]
            #[inline]
            fn $method(self, rhs: Var<'t, F>) -> Var<'t, F> {
                self.bin($op, rhs)
            }
        }
        impl<'t, F: Float> $trait<F> for Var<'t, F> {
            type Output = Var<'t, F>;
            #[track_caller]
            #[inline]
            fn $method(self, rhs: F) -> Var<'t, F> {
                #[allow(clippy::redundant_closure_call)]
                ($scalar)(self, rhs)
            }
        }
        impl<'t> $trait<Var<'t, f32>> for f32 {
            type Output = Var<'t, f32>;
            #[track_caller]
            #[inline]
            fn $method(self, rhs: Var<'t, f32>) -> Var<'t, f32> {
                #[allow(clippy::redundant_closure_call)]
                ($rscalar)(self, rhs)
            }
        }
        impl<'t> $trait<Var<'t, f64>> for f64 {
            type Output = Var<'t, f64>;
            #[track_caller]
            #[inline]
            fn $method(self, rhs: Var<'t, f64>) -> Var<'t, f64> {
                #[allow(clippy::redundant_closure_call)]
                ($rscalar)(self, rhs)
            }
        }
    };
}

binop!(
    Add,
    add,
    BinaryOp::Add,
    |v: Var<'t, _>, s| v.affine(F::ONE, s),
    |s, v: Var<'t, _>| v.affine(1.0, s)
);
binop!(
    Sub,
    sub,
    BinaryOp::Sub,
    |v: Var<'t, _>, s: F| v.affine(F::ONE, -s),
    |s, v: Var<'t, _>| v.affine(-1.0, s)
);
binop!(
    Mul,
    mul,
    BinaryOp::Mul,
    |v: Var<'t, _>, s| v.affine(s, F::ZERO),
    |s, v: Var<'t, _>| v.affine(s, 0.0)
);
binop!(
    Div,
    div,
    BinaryOp::Div,
    |v: Var<'t, _>, s| v.affine(F::ONE / s, F::ZERO),
    |s, v: Var<'t, _>| v.powf(-1.0).affine(s, 0.0)
);

impl<'t, F: Float> Neg for Var<'t, F> {
    type Output = Var<'t, F>;
    #[track_caller]
    fn neg(self) -> Var<'t, F> {
        self.affine(-F::ONE, F::ZERO)
    }
}

macro_rules! comparisons {
    ($($(#[$doc:meta])* $name:ident: $cmp:expr;)*) => {
        impl<'t, F: Float> Var<'t, F> {
            $(
                $(#[$doc])*
                /// The result is a constant mask of 0s and 1s (broadcast shape); nothing flows
                /// back through it.
                #[track_caller]
                pub fn $name(self, other: Var<'t, F>) -> Var<'t, F> {
                    self.tape.check_same(stringify!($name), other.tape);
                    let m = kernels::zip(stringify!($name), &self.value(), &other.value(), |x, y| {
                        if $cmp(x, y) { F::ONE } else { F::ZERO }
                    });
                    self.tape.constant(m)
                }
            )*
        }
    };
}

comparisons! {
    /// `self > other` elementwise.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![-1.0, 2.0], &[2]));
    /// assert_eq!(x.gt(tape.scalar(0.0)).value().data(), &[0.0, 1.0]);
    /// ```
    gt: |x, y| x > y;
    /// `self < other` elementwise.
    lt: |x, y| x < y;
    /// `self >= other` elementwise.
    ge: |x, y| x >= y;
    /// `self <= other` elementwise.
    le: |x, y| x <= y;
    /// `self == other` elementwise.
    eq: |x, y| x == y;
}
