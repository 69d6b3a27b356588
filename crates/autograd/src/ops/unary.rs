//! Elementwise functions and activations. Each block of the `unary_ops!` table holds one op
//! whole: its public method (doc and example, on `Var` and, with the same body, on `Tensor`),
//! its `value` per element, and its `grad`: the input's gradient from `g = dL/dy`, given the
//! input `x` and the output `y`, written with the differentiable ops of [`EngineExt`] so the
//! one rule serves every order of derivative. The property-test list below must have a line
//! for every op of the table (a test checks it); adding an op touches its block, its test line
//! and the README's row of ops.
//! The composites after the table (square, leaky_relu, elu, gelu, gelu_tanh, silu) are built
//! from these and have no rule of their own.
//!
//! Non-smooth points take PyTorch's choices: `relu`, `abs` and `clamp` have derivative 0 at
//! their kinks (`x = 0`, `x = lo`, `x = hi`); gradient tests keep inputs away from them.

use std::borrow::Cow;

use crate::float::Float;
use crate::ops::{Binary, EngineExt, Family, Grads};
use crate::tape::{Engine, Var};
use crate::tensor::Tensor;

/// Declares the elementwise ops: the `Unary` enum, its names, its forward and backward (one
/// arm per op, generated from the op's block), each op's `Var` method and its `Tensor` twin
/// (the same body on a tensor, so both run the same kernel).
macro_rules! unary_ops {
    ($(
        $(#[$doc:meta])*
        pub fn $name:ident($self:ident $(, $arg:ident: $aty:ty)*) $body:block
        $Variant:ident $(($($p:ident: $pty:ty),+))? {
            value: |$x:ident| $value:expr,
            grad: |$e:ident, $gx:ident, $gy:ident, $g:ident| $grad:expr $(,)?
        }
    )*) => {
        /// Which elementwise function a node applies.
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub(crate) enum Unary<F> {
            $($Variant $(($($pty),+))?,)*
        }

        impl<F: Float> Unary<F> {
            /// Every op's name, in table order.
            #[cfg(test)]
            pub(crate) const NAMES: &'static [&'static str] = &[$(stringify!($name)),*];
        }

        impl<F: Float> Family<F> for Unary<F> {
            fn name(&self) -> Cow<'static, str> {
                Cow::Borrowed(match self {
                    $(Unary::$Variant { .. } => stringify!($name),)*
                })
            }

            #[inline]
            fn forward(&self, x: &[&Tensor<F>]) -> Tensor<F> {
                match *self {
                    $(Unary::$Variant $(($($p),+))? => x[0].map(move |$x: F| $value),)*
                }
            }

            fn backward<E: Engine<F>>(&self, e: &E, x: &[&E::V], y: &E::V, g: E::V, _: &[bool]) -> Grads<E::V> {
                smallvec::smallvec![Some(self.grad(e, x[0], y, &g))]
            }

            #[inline]
            fn backward_into<E: Engine<F>>(
                &self,
                e: &E,
                x: &[&E::V],
                y: &E::V,
                g: E::V,
                _: &[bool],
                mut out: impl FnMut(usize, E::V),
            ) {
                out(0, self.grad(e, x[0], y, &g));
            }

            /// Elementwise, so the tangent is the backward rule applied to the input's
            /// tangent: `f'(x) dx`, the same derivative as the gradient's, written once.
            fn tangent<E: Engine<F>>(&self, e: &E, x: &[&E::V], y: &E::V, dx: &[Option<E::V>]) -> Option<E::V> {
                dx[0].as_ref().map(|d| self.grad(e, x[0], y, d))
            }
        }

        impl<F: Float> Unary<F> {
            /// The input's gradient, given the input `x`, the output `y` and its gradient `g`.
            #[allow(unused_variables)]
            #[inline]
            fn grad<E: Engine<F>>(&self, e: &E, x: &E::V, y: &E::V, g: &E::V) -> E::V {
                match *self {
                    $(Unary::$Variant $(($($p),+))? => {
                        let ($e, $gx, $gy, $g) = (e, x, y, g);
                        $grad
                    })*
                }
            }
        }

        impl<'t, F: Float> Var<'t, F> {
            $(
                $(#[$doc])*
                #[track_caller]
                pub fn $name($self $(, $arg: $aty)*) -> Var<'t, F> $body
            )*
        }

        impl<F: Float> Tensor<F> {
            $(
                #[doc = concat!("[`Var::", stringify!($name), "`] on a tensor, off the tape: the same kernel, so \
                    the same value bit for bit, and the same panics.")]
                #[track_caller]
                pub fn $name(&$self $(, $arg: $aty)*) -> Tensor<F> $body
            )*
        }
    };
}

/// The logistic function, stable on both sides (`e^-|x|` never overflows) and without a
/// branch on the sign, so that a loop over it compiles to selects.
#[inline(always)]
pub(crate) fn sigmoid<F: Float>(x: F) -> F {
    let e = F::exp_inline(-x.abs());
    let num = if x >= F::ZERO { F::ONE } else { e };
    num / (F::ONE + e)
}

/// `max(x, 0)`, NaN kept.
#[inline(always)]
pub(crate) fn relu<F: Float>(x: F) -> F {
    if x <= F::ZERO { F::ZERO } else { x }
}

/// A constant tensor of `x`'s shape: `f` of each value (a mask, a sign).
fn from_values<F: Float, E: Engine<F>>(e: &E, x: &E::V, f: impl Fn(F) -> F + Sync + Send) -> Tensor<F> {
    e.value(x).map(f)
}

unary_ops! {
    /// `x * scale + shift` in one op (what `-x`, `x + 2.0` and `x * 2.0` record).
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(3.0));
    /// let y = x.affine(2.0, 1.0);
    /// assert_eq!(y.item(), 7.0);
    /// assert_eq!(y.backward()[x].item(), 2.0);
    /// ```
    pub fn affine(self, scale: F, shift: F) { self.unary(Unary::Affine(scale, shift)) }
    Affine(s: F, t: F) {
        value: |x| x * s + t,
        grad: |e, x, y, g| if s == F::ONE { g.clone() } else { e.affine(g, s, F::ZERO) },
    }

    /// `e^x`; derivative `e^x`.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(1.0));
    /// let y = x.exp();
    /// assert_eq!(y.backward()[x].item(), 1f64.exp());
    /// ```
    pub fn exp(self) { self.unary(Unary::Exp) }
    Exp {
        value: |x| x.exp(),
        grad: |e, x, y, g| e.mul(g, y),
    }

    /// Natural logarithm; derivative `1/x`.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(4.0));
    /// assert_eq!(x.log().backward()[x].item(), 0.25);
    /// ```
    pub fn log(self) { self.unary(Unary::Log) }
    Log {
        value: |x| x.ln(),
        grad: |e, x, y, g| e.div(g, x),
    }

    /// Square root; derivative `1/(2 sqrt x)`.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(4.0));
    /// assert_eq!(x.sqrt().backward()[x].item(), 0.25);
    /// ```
    pub fn sqrt(self) { self.unary(Unary::Sqrt) }
    Sqrt {
        value: |x| x.sqrt(),
        grad: |e, x, y, g| e.div(g, &e.affine(y, F::from_f64(2.0), F::ZERO)),
    }

    /// Sine; derivative `cos x`.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(0.0));
    /// assert_eq!(x.sin().backward()[x].item(), 1.0);
    /// ```
    pub fn sin(self) { self.unary(Unary::Sin) }
    Sin {
        value: |x| x.sin(),
        grad: |e, x, y, g| e.mul(g, &e.apply_unary(Unary::Cos, x)),
    }

    /// Cosine; derivative `-sin x`.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(0.0));
    /// assert_eq!(x.cos().backward()[x].item(), 0.0);
    /// ```
    pub fn cos(self) { self.unary(Unary::Cos) }
    Cos {
        value: |x| x.cos(),
        grad: |e, x, y, g| e.mul(g, &e.neg(&e.apply_unary(Unary::Sin, x))),
    }

    /// Tangent; derivative `1 + tan^2 x`.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(0.0));
    /// assert_eq!(x.tan().backward()[x].item(), 1.0);
    /// ```
    pub fn tan(self) { self.unary(Unary::Tan) }
    Tan {
        value: |x| x.tan(),
        grad: |e, x, y, g| e.mul(g, &e.affine(&e.mul(y, y), F::ONE, F::ONE)),
    }

    /// Hyperbolic tangent; derivative `1 - tanh^2 x`.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(0.0));
    /// assert_eq!(x.tanh().backward()[x].item(), 1.0);
    /// ```
    pub fn tanh(self) { self.unary(Unary::Tanh) }
    Tanh {
        value: |x| x.tanh(),
        grad: |e, x, y, g| e.apply_binary(Binary::TanhBackward, g, y),
    }

    /// The error function (`libm`); derivative `2/sqrt(pi) e^(-x^2)`.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(0.0));
    /// assert_eq!(x.erf().backward()[x].item(), std::f64::consts::FRAC_2_SQRT_PI);
    /// ```
    pub fn erf(self) { self.unary(Unary::Erf) }
    Erf {
        value: |x| x.erf(),
        grad: |e, x, y, g| {
            let two_over_sqrt_pi = F::from_f64(std::f64::consts::FRAC_2_SQRT_PI);
            let gauss = e.apply_unary(Unary::Exp, &e.neg(&e.mul(x, x)));
            e.mul(g, &e.affine(&gauss, two_over_sqrt_pi, F::ZERO))
        },
    }

    /// `|x|`; derivative `sign x`, 0 at 0.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![-2.0, 0.0, 3.0], &[3]));
    /// assert_eq!(x.abs().sum().backward()[x].data(), &[-1.0, 0.0, 1.0]);
    /// ```
    pub fn abs(self) { self.unary(Unary::Abs) }
    Abs {
        value: |x| x.abs(),
        grad: |e, x, y, g| {
            let sign = from_values(e, x, |v| if v > F::ZERO { F::ONE } else if v < F::ZERO { -F::ONE } else { F::ZERO });
            e.mul_const(g, sign)
        },
    }

    /// `x^p` for a scalar exponent `p`; derivative `p x^(p-1)`, and exactly 0 for `p = 0`
    /// (PyTorch's rule).
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(2.0));
    /// assert_eq!(x.powf(3.0).backward()[x].item(), 12.0);
    /// ```
    pub fn powf(self, p: F) { self.unary(Unary::Powf(p)) }
    Powf(p: F) {
        value: |x| x.powf(p),
        grad: |e, x, y, g| {
            if p == F::ZERO {
                e.zeros_like(x)
            } else if p == F::ONE {
                g.clone()
            } else {
                e.mul(g, &e.affine(&e.apply_unary(Unary::Powf(p - F::ONE), x), p, F::ZERO))
            }
        },
    }

    /// Limits every element to `[lo, hi]`; derivative 1 strictly inside, 0 outside.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![-2.0, 0.5, 3.0], &[3]));
    /// let y = x.clamp(0.0, 1.0);
    /// assert_eq!(y.value().data(), &[0.0, 0.5, 1.0]);
    /// assert_eq!(y.sum().backward()[x].data(), &[0.0, 1.0, 0.0]);
    /// ```
    pub fn clamp(self, lo: F, hi: F) {
        if lo > hi {
            panic!("clamp: lo {lo} is above hi {hi}");
        }
        self.unary(Unary::Clamp(lo, hi))
    }
    Clamp(lo: F, hi: F) {
        value: |x| if x < lo { lo } else if x > hi { hi } else { x },
        grad: |e, x, y, g| e.mul_const(g, from_values(e, x, move |v| if v > lo && v < hi { F::ONE } else { F::ZERO })),
    }

    /// `max(x, 0)`; derivative 1 for `x > 0`, 0 otherwise (0 at the kink, as in PyTorch).
    /// NaN propagates: `relu(NaN)` is NaN, as in PyTorch, so a diverged value is not hidden.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![-1.0, 2.0], &[2]));
    /// assert_eq!(x.relu().value().data(), &[0.0, 2.0]);
    /// assert_eq!(x.relu().sum().backward()[x].data(), &[0.0, 1.0]);
    /// ```
    pub fn relu(self) { self.unary(Unary::Relu) }
    Relu {
        value: |x| relu(x),
        grad: |e, x, y, g| e.apply_binary(Binary::ReluBackward, g, x),
    }

    /// Logistic sigmoid `1/(1+e^-x)`, computed without overflow for large `|x|`; derivative
    /// `y (1 - y)`.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(0.0));
    /// assert_eq!(x.sigmoid().item(), 0.5);
    /// assert_eq!(x.sigmoid().backward()[x].item(), 0.25);
    /// ```
    pub fn sigmoid(self) { self.unary(Unary::Sigmoid) }
    Sigmoid {
        value: |x| sigmoid(x),
        grad: |e, x, y, g| e.apply_binary(Binary::SigmoidBackward, g, y),
    }

    /// `log(1 + e^x)`, computed stably as `max(x,0) + log1p(e^-|x|)`; derivative `sigmoid x`.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(1000.0));
    /// assert_eq!(x.softplus().item(), 1000.0);
    /// assert_eq!(x.softplus().backward()[x].item(), 1.0);
    /// ```
    pub fn softplus(self) { self.unary(Unary::Softplus) }
    Softplus {
        value: |x| (if x > F::ZERO { x } else { F::ZERO }) + (-x.abs()).exp().ln_1p(),
        grad: |e, x, y, g| e.mul(g, &e.apply_unary(Unary::Sigmoid, x)),
    }
}

impl<'t, F: Float> Var<'t, F> {
    /// `x^2`, as the product `x * x`.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(3.0));
    /// assert_eq!(x.square().backward()[x].item(), 6.0);
    /// ```
    #[track_caller]
    pub fn square(self) -> Var<'t, F> {
        self * self
    }

    /// `x` for `x > 0`, `alpha x` otherwise (Keras' default `alpha` is 0.3, PyTorch's 0.01).
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![-2.0, 3.0], &[2]));
    /// assert_eq!(x.leaky_relu(0.5).value().data(), &[-1.0, 3.0]);
    /// ```
    #[track_caller]
    pub fn leaky_relu(self, alpha: F) -> Var<'t, F> {
        let zero = self.tape.scalar(F::ZERO);
        Var::where_(self.gt(zero), self, self * alpha)
    }

    /// `x` for `x > 0`, `alpha (e^x - 1)` otherwise.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::from_vec(vec![-1000.0, 2.0], &[2]));
    /// assert_eq!(x.elu(1.0).value().data(), &[-1.0, 2.0]);
    /// ```
    #[track_caller]
    pub fn elu(self, alpha: F) -> Var<'t, F> {
        let zero = self.tape.scalar(F::ZERO);
        // exp of min(x, 0): the branch not taken must not overflow, or its zero gradient
        // times an infinite derivative would give NaN. (A `where_`, not `minimum`, so that
        // x = 0 takes the whole derivative alpha, as in PyTorch.)
        let neg = (Var::where_(self.gt(zero), zero, self).exp() - F::ONE) * alpha;
        Var::where_(self.gt(zero), self, neg)
    }

    /// Exact GELU, `x Phi(x) = x/2 (1 + erf(x / sqrt 2))` (PyTorch's default, Keras'
    /// `approximate=False`).
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(0.0));
    /// assert_eq!(x.gelu().backward()[x].item(), 0.5);
    /// ```
    #[track_caller]
    pub fn gelu(self) -> Var<'t, F> {
        let phi = (self * F::from_f64(std::f64::consts::FRAC_1_SQRT_2))
            .erf()
            .affine(F::from_f64(0.5), F::from_f64(0.5));
        self * phi
    }

    /// GELU's tanh approximation, `x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))` (PyTorch's
    /// `approximate='tanh'`).
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(1.0));
    /// assert!((x.gelu_tanh().item() - x.gelu().item()).abs() < 1e-3);
    /// ```
    #[track_caller]
    pub fn gelu_tanh(self) -> Var<'t, F> {
        let c = F::from_f64((2.0 / std::f64::consts::PI).sqrt());
        let inner = (self + self * self * self * F::from_f64(0.044715)) * c;
        self * inner.tanh().affine(F::from_f64(0.5), F::from_f64(0.5))
    }

    /// SiLU / swish: `x sigmoid(x)`.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(0.0));
    /// assert_eq!(x.silu().backward()[x].item(), 0.5);
    /// ```
    #[track_caller]
    pub fn silu(self) -> Var<'t, F> {
        self * self.sigmoid()
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::*;

    #[test]
    fn relu_propagates_nan_and_passes_its_gradient() {
        let tape = Tape::<f32>::new();
        let x = tape.var(Tensor::from_vec(vec![f32::NAN, -1.0, 2.0], &[3]));
        let y = x.relu();
        let v = y.value();
        assert!(v.data()[0].is_nan());
        assert_eq!(&v.data()[1..], &[0.0, 2.0]);
        // PyTorch's threshold_backward: the gradient is zeroed only where x <= 0.
        assert_eq!(y.sum().backward()[x].data(), &[1.0, 0.0, 1.0]);
    }

    #[test]
    fn elu_takes_the_whole_derivative_at_zero() {
        let tape = Tape::<f64>::new();
        let x = tape.var(Tensor::from_vec(vec![0.0, -1.0], &[2]));
        let g = x.elu(0.7).sum().backward();
        assert_eq!(g[x].data(), &[0.7, 0.7 * (-1f64).exp()]);
    }

    op_props! {
        ops: super::Unary::<f64>::NAMES;
        neg(x in values(-2.0, 2.0, &[])) for [x] => |v| -v[0];
        affine_of_scalar_ops(x in values(-2.0, 2.0, &[])) for [x] => |v| (2.0 - v[0] * 3.0 + 1.0) / 4.0 * v[0];
        scalar_div(x in values(0.3, 2.0, &[])) for [x] => |v| 2.0 / v[0];
        exp(x in values(-2.0, 2.0, &[])) for [x] => |v| v[0].exp();
        log(x in values(0.2, 3.0, &[])) for [x] => |v| v[0].log();
        sqrt(x in values(0.2, 3.0, &[])) for [x] => |v| v[0].sqrt();
        sin(x in values(-3.0, 3.0, &[])) for [x] => |v| v[0].sin();
        cos(x in values(-3.0, 3.0, &[])) for [x] => |v| v[0].cos();
        tan(x in values(-1.2, 1.2, &[])) for [x] => |v| v[0].tan();
        tanh(x in values(-3.0, 3.0, &[])) for [x] => |v| v[0].tanh();
        erf(x in values(-2.0, 2.0, &[])) for [x] => |v| v[0].erf();
        abs(x in values(-2.0, 2.0, &[0.0])) for [x] => |v| v[0].abs().sin();
        powf_cube(x in values(0.3, 2.0, &[])) for [x] => |v| v[0].powf(3.0);
        powf_neg(x in values(0.3, 2.0, &[])) for [x] => |v| v[0].powf(-1.5);
        clamp(x in values(-1.0, 1.0, &[-0.5, 0.5])) for [x] => |v| v[0].clamp(-0.5, 0.5).sin();
        relu(x in values(-2.0, 2.0, &[0.0])) for [x] => |v| v[0].relu().square();
        sigmoid(x in values(-5.0, 5.0, &[])) for [x] => |v| v[0].sigmoid();
        softplus(x in values(-5.0, 5.0, &[])) for [x] => |v| v[0].softplus();
        square(x in values(-2.0, 2.0, &[])) for [x] => |v| v[0].square();
        leaky_relu(x in values(-2.0, 2.0, &[0.0])) for [x] => |v| v[0].leaky_relu(0.3).square();
        elu(x in values(-2.0, 2.0, &[0.0])) for [x] => |v| v[0].elu(0.7);
        gelu(x in values(-3.0, 3.0, &[])) for [x] => |v| v[0].gelu();
        gelu_tanh(x in values(-3.0, 3.0, &[])) for [x] => |v| v[0].gelu_tanh();
        silu(x in values(-3.0, 3.0, &[])) for [x] => |v| v[0].silu();
    }
}
