//! Elementwise unary ops: each one's value `f` and derivative rule side by side.
//!
//! Non-smooth points: `relu`, `abs` and `clamp` take derivative 0 at their kinks (`x = 0`,
//! `x = lo`, `x = hi`), as PyTorch does for relu; gradient tests keep inputs away from them.

use crate::float::Float;
use crate::ops::{EngineExt, Op};
use crate::tape::{Engine, Var};
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum UnaryOp<F> {
    /// `x * scale + shift`: negation, scalar add and scalar multiply in one op.
    Affine(F, F),
    Exp,
    Log,
    Sqrt,
    Sin,
    Cos,
    Tan,
    Tanh,
    Sigmoid,
    Softplus,
    Erf,
    Relu,
    Abs,
    Powf(F),
    Clamp(F, F),
}

#[inline(always)]
fn sigmoid<F: Float>(x: F) -> F {
    // Stable on both sides: exp of a non-positive number never overflows.
    if x >= F::ZERO {
        F::ONE / (F::ONE + (-x).exp_())
    } else {
        let e = x.exp_();
        e / (F::ONE + e)
    }
}

#[inline(always)]
fn softplus<F: Float>(x: F) -> F {
    // log(1 + e^x) = max(x, 0) + log1p(e^-|x|)
    let m = if x > F::ZERO { x } else { F::ZERO };
    m + (-x.abs_()).exp_().ln_1p_()
}

impl<F: Float> UnaryOp<F> {
    #[inline]
    pub(crate) fn forward(self, x: &Tensor<F>) -> Tensor<F> {
        match self {
            UnaryOp::Affine(s, t) => x.map(move |v| v * s + t),
            UnaryOp::Exp => x.map(F::exp_),
            UnaryOp::Log => x.map(F::ln_),
            UnaryOp::Sqrt => x.map(F::sqrt_),
            UnaryOp::Sin => x.map(F::sin_),
            UnaryOp::Cos => x.map(F::cos_),
            UnaryOp::Tan => x.map(F::tan_),
            UnaryOp::Tanh => x.map(F::tanh_),
            UnaryOp::Sigmoid => x.map(sigmoid),
            UnaryOp::Softplus => x.map(softplus),
            UnaryOp::Erf => x.map(F::erf_),
            UnaryOp::Relu => x.map(|v| if v > F::ZERO { v } else { F::ZERO }),
            UnaryOp::Abs => x.map(F::abs_),
            UnaryOp::Powf(p) => x.map(move |v| v.powf_(p)),
            UnaryOp::Clamp(lo, hi) => x.map(move |v| {
                if v < lo {
                    lo
                } else if v > hi {
                    hi
                } else {
                    v
                }
            }),
        }
    }

    /// `dL/dx` from `g = dL/dy`, with `y = f(x)`.
    pub(crate) fn backward<E: Engine<F>>(self, e: &E, x: &E::V, y: &E::V, g: &E::V) -> E::V {
        match self {
            // d(sx + t) = s
            UnaryOp::Affine(s, _) => e.affine(g, s, F::ZERO),
            // d e^x = e^x = y
            UnaryOp::Exp => e.mul(g, y),
            // d ln x = 1 / x
            UnaryOp::Log => e.div(g, x),
            // d sqrt x = 1 / (2 y)
            UnaryOp::Sqrt => e.div(g, &e.affine(y, F::from_f64(2.0), F::ZERO)),
            // d sin x = cos x
            UnaryOp::Sin => e.mul(g, &e.un(UnaryOp::Cos, x)),
            // d cos x = -sin x
            UnaryOp::Cos => e.mul(g, &e.affine(&e.un(UnaryOp::Sin, x), -F::ONE, F::ZERO)),
            // d tan x = 1 + y^2
            UnaryOp::Tan => e.mul(g, &e.affine(&e.mul(y, y), F::ONE, F::ONE)),
            // d tanh x = 1 - y^2
            UnaryOp::Tanh => e.mul(g, &e.affine(&e.mul(y, y), -F::ONE, F::ONE)),
            // d sigmoid x = y (1 - y)
            UnaryOp::Sigmoid => e.mul(g, &e.mul(y, &e.affine(y, -F::ONE, F::ONE))),
            // d softplus x = sigmoid x
            UnaryOp::Softplus => e.mul(g, &e.un(UnaryOp::Sigmoid, x)),
            // d erf x = 2/sqrt(pi) e^(-x^2)
            UnaryOp::Erf => {
                let two_over_sqrt_pi = F::from_f64(std::f64::consts::FRAC_2_SQRT_PI);
                let e2 = e.un(UnaryOp::Exp, &e.affine(&e.mul(x, x), -F::ONE, F::ZERO));
                e.mul(g, &e.affine(&e2, two_over_sqrt_pi, F::ZERO))
            }
            // d relu x = [x > 0]
            UnaryOp::Relu => e.mul_const(g, e.value(x).map(|v| if v > F::ZERO { F::ONE } else { F::ZERO })),
            // d |x| = sign x (0 at 0)
            UnaryOp::Abs => e.mul_const(
                g,
                e.value(x).map(|v| {
                    if v > F::ZERO {
                        F::ONE
                    } else if v < F::ZERO {
                        -F::ONE
                    } else {
                        F::ZERO
                    }
                }),
            ),
            // d x^p = p x^(p-1)
            UnaryOp::Powf(p) => {
                if p == F::ZERO {
                    return e.affine(g, F::ZERO, F::ZERO);
                }
                let d = if p == F::ONE {
                    return g.clone();
                } else {
                    e.un(UnaryOp::Powf(p - F::ONE), x)
                };
                e.mul(g, &e.affine(&d, p, F::ZERO))
            }
            // d clamp x = [lo < x < hi]
            UnaryOp::Clamp(lo, hi) => e.mul_const(
                g,
                e.value(x).map(move |v| if v > lo && v < hi { F::ONE } else { F::ZERO }),
            ),
        }
    }
}

macro_rules! unary_methods {
    ($($(#[$doc:meta])* $name:ident => $op:expr;)*) => {
        impl<'t, F: Float> Var<'t, F> {
            $(
                $(#[$doc])*
                #[track_caller]
                pub fn $name(self) -> Var<'t, F> {
                    self.unary(Op::Unary($op))
                }
            )*
        }
    };
}

unary_methods! {
    /// `e^x`.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(1.0));
    /// let y = x.exp();
    /// assert_eq!(y.backward()[x].item(), 1f64.exp());
    /// ```
    exp => UnaryOp::Exp;
    /// Natural logarithm; derivative `1/x`.
    log => UnaryOp::Log;
    /// Square root; derivative `1/(2 sqrt x)`.
    sqrt => UnaryOp::Sqrt;
    /// Sine.
    sin => UnaryOp::Sin;
    /// Cosine.
    cos => UnaryOp::Cos;
    /// Tangent; derivative `1 + tan^2 x`.
    tan => UnaryOp::Tan;
    /// Hyperbolic tangent; derivative `1 - tanh^2 x`.
    tanh => UnaryOp::Tanh;
    /// Logistic sigmoid `1/(1+e^-x)`, computed without overflow for large `|x|`.
    sigmoid => UnaryOp::Sigmoid;
    /// `log(1 + e^x)`, computed stably as `max(x,0) + log1p(e^-|x|)`; derivative `sigmoid x`.
    softplus => UnaryOp::Softplus;
    /// The error function (`libm`); derivative `2/sqrt(pi) e^(-x^2)`.
    erf => UnaryOp::Erf;
    /// `max(x, 0)`; derivative 1 for `x > 0`, 0 otherwise (0 at the kink, as in PyTorch).
    relu => UnaryOp::Relu;
    /// `|x|`; derivative `sign x`, 0 at 0.
    abs => UnaryOp::Abs;
}

impl<'t, F: Float> Var<'t, F> {
    /// `x^2`.
    #[track_caller]
    pub fn square(self) -> Var<'t, F> {
        self * self
    }

    /// `x^p` for a scalar exponent `p`; derivative `p x^(p-1)`.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(2.0));
    /// assert_eq!(x.powf(3.0).backward()[x].item(), 12.0);
    /// ```
    #[track_caller]
    pub fn powf(self, p: F) -> Var<'t, F> {
        self.unary(Op::Unary(UnaryOp::Powf(p)))
    }

    /// Limits every element to `[lo, hi]`; derivative 1 strictly inside, 0 outside.
    #[track_caller]
    pub fn clamp(self, lo: F, hi: F) -> Var<'t, F> {
        assert!(lo <= hi, "clamp: lo {lo} is above hi {hi}");
        self.unary(Op::Unary(UnaryOp::Clamp(lo, hi)))
    }

    /// `x * scale + shift` in one op.
    #[track_caller]
    pub fn affine(self, scale: F, shift: F) -> Var<'t, F> {
        self.unary(Op::Unary(UnaryOp::Affine(scale, shift)))
    }
}
