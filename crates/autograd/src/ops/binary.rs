//! Arithmetic with NumPy broadcasting. Each block of the `binary_ops!` table holds one op
//! whole: its `value` per pair of elements and the gradients of its two operands (`da`, `db`)
//! from `g = dL/dy`, given the operands `a`, `b` and the output `y`. The backward of a
//! broadcast operand sums its gradient over the broadcast axes (`sum_to`). A block that names
//! its second operand (`Pow(pow: exponent)`) also yields the `Var` method and its `Tensor`
//! twin, with the block's doc; the property-test list below must have a line for every op
//! (a test checks it against the table).
//!
//! Adding an op touches its block, its line in `op_props!` and the README's row of ops.
//!
//! The operators `+ - * /` (with vars or scalars on either side) follow the table.

use std::borrow::Cow;
use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::float::Float;
use crate::ops::{EngineExt, Family, Grads, Operand, Unary, kernels};
use crate::tape::{Engine, Var};
use crate::tensor::Tensor;

/// Declares the broadcasting binary ops: the `Binary` enum, its names, its forward and
/// backward (one arm per op, generated from the op's block) and, for an op whose block names
/// its second operand (`Pow(pow: exponent)`), its `Var` method and its `Tensor` twin.
macro_rules! binary_ops {
    ($(
        $(#[$doc:meta])*
        $Variant:ident($name:ident $(: $other:ident)?) {
            value: |$va:ident, $vb:ident| $value:expr,
            da: |$e1:ident, $a1:ident, $b1:ident, $y1:ident, $g1:ident| $da:expr,
            db: |$e2:ident, $a2:ident, $b2:ident, $y2:ident, $g2:ident| $db:expr $(,)?
        }
    )*) => {
        /// Which broadcasting binary op a node applies.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum Binary {
            $($(#[$doc])* $Variant,)*
        }

        impl Binary {
            /// Every op's name, in table order.
            #[cfg(test)]
            pub(crate) const NAMES: &'static [&'static str] = &[$(stringify!($name)),*];

            /// The op's name in error messages.
            pub(crate) fn name(self) -> &'static str {
                match self {
                    $(Binary::$Variant => stringify!($name),)*
                }
            }
        }

        impl<F: Float> Family<F> for Binary {
            fn name(&self) -> Cow<'static, str> {
                Cow::Borrowed(Binary::name(*self))
            }

            #[track_caller]
            #[inline]
            fn forward(&self, x: &[&Tensor<F>]) -> Tensor<F> {
                match self {
                    $(Binary::$Variant => kernels::zip(stringify!($name), x[0], x[1], |$va: F, $vb: F| $value),)*
                }
            }

            fn backward<E: Engine<F>>(&self, e: &E, x: &[&E::V], y: &E::V, g: E::V, needs: &[bool]) -> Grads<E::V> {
                let mut grads: Grads<E::V> = smallvec::smallvec![None, None];
                self.backward_into(e, x, y, g, needs, |k, gk| grads[k] = Some(gk));
                grads
            }

            #[allow(unused_variables)]
            #[inline]
            fn backward_into<E: Engine<F>>(
                &self,
                e: &E,
                x: &[&E::V],
                y: &E::V,
                g: E::V,
                needs: &[bool],
                mut out: impl FnMut(usize, E::V),
            ) {
                let (a, b) = (x[0], x[1]);
                let (ga, gb) = match self {
                    $(Binary::$Variant => (
                        needs[0].then(|| {
                            let ($e1, $a1, $b1, $y1, $g1) = (e, a, b, y, &g);
                            $da
                        }),
                        needs[1].then(|| {
                            let ($e2, $a2, $b2, $y2, $g2) = (e, a, b, y, &g);
                            $db
                        }),
                    ),)*
                };
                // Both reduced before either is handed on: the order the nodes are recorded in
                // under create_graph stays that of the list this replaced.
                let ga = ga.map(|ga| e.sum_to(ga, &e.shape(a)));
                let gb = gb.map(|gb| e.sum_to(gb, &e.shape(b)));
                if let Some(ga) = ga {
                    out(0, ga);
                }
                if let Some(gb) = gb {
                    out(1, gb);
                }
            }

            /// Each operand's tangent, broadcast to the output's shape, through the same
            /// partial-derivative expressions as the gradients (without their reduction):
            /// `dy = df/da da + df/db db`.
            #[allow(unused_variables)]
            fn tangent<E: Engine<F>>(&self, e: &E, x: &[&E::V], y: &E::V, dx: &[Option<E::V>]) -> Option<E::V> {
                let (a, b) = (x[0], x[1]);
                let ys = e.shape(y);
                let (ta, tb) = match self {
                    $(Binary::$Variant => (
                        dx[0].as_ref().map(|d| {
                            let g = e.broadcast_to(d, &ys);
                            let ($e1, $a1, $b1, $y1, $g1) = (e, a, b, y, &g);
                            $da
                        }),
                        dx[1].as_ref().map(|d| {
                            let g = e.broadcast_to(d, &ys);
                            let ($e2, $a2, $b2, $y2, $g2) = (e, a, b, y, &g);
                            $db
                        }),
                    ),)*
                };
                super::sum_terms(e, [ta, tb])
            }
        }

        $(binary_method!([$(#[$doc])*] $Variant $name $($other)?);)*
    };
}

/// The `Var` method and the `Tensor` twin of a binary op whose block names its second operand.
macro_rules! binary_method {
    ([$($doc:tt)*] $Variant:ident $name:ident) => {};
    ([$($doc:tt)*] $Variant:ident $name:ident $other:ident) => {
        impl<'t, F: Float> Var<'t, F> {
            $($doc)*
            #[track_caller]
            pub fn $name(self, $other: impl Operand<'t, F>) -> Var<'t, F> {
                self.bin(Binary::$Variant, $other.into_var(self.tape))
            }
        }

        impl<F: Float> Tensor<F> {
            #[doc = concat!("[`Var::", stringify!($name), "`] on tensors, off the tape: the same kernel, so \
                the same value bit for bit, and the same broadcasting and panics.")]
            #[track_caller]
            pub fn $name(&self, $other: &Tensor<F>) -> Tensor<F> {
                self.binary(Binary::$Variant, $other)
            }
        }
    };
}

binary_ops! {
    /// `a + b`.
    Add(add) {
        value: |a, b| a + b,
        da: |e, a, b, y, g| g.clone(),
        db: |e, a, b, y, g| g.clone(),
    }
    /// `a - b`.
    Sub(sub) {
        value: |a, b| a - b,
        da: |e, a, b, y, g| g.clone(),
        db: |e, a, b, y, g| e.neg(g),
    }
    /// `a * b`: `d(ab) = b da + a db`.
    Mul(mul) {
        value: |a, b| a * b,
        da: |e, a, b, y, g| e.mul(g, b),
        db: |e, a, b, y, g| e.mul(g, a),
    }
    /// `a / b`: `d(a/b) = da / b - (a/b) db / b`.
    Div(div) {
        value: |a, b| a / b,
        da: |e, a, b, y, g| e.div(g, b),
        db: |e, a, b, y, g| e.neg(&e.div(&e.mul(g, y), b)),
    }
    /// `self ^ exponent` elementwise with broadcasting, both differentiable; `exponent` is a
    /// var or a scalar. `d(a^b) = b a^(b-1) da + a^b ln(a) db`, so the exponent's gradient
    /// needs `self > 0`, except at `self = 0` with a non-negative exponent, where it is 0 as in
    /// PyTorch; the base's gradient is 0 where the exponent is 0 (at base 0 too).
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
    Pow(pow: exponent) {
        value: |a, b| a.powf(b),
        da: |e, a, b, y, g| {
            let bm1 = e.affine(b, F::ONE, -F::ONE);
            let d = e.mul(g, &e.mul(b, &e.apply_binary(Binary::Pow, a, &bm1)));
            e.where_const(pick(e, b, b, |b, _| b != F::ZERO), &d, &e.zeros_like(&d))
        },
        db: |e, a, b, y, g| {
            let d = e.mul(g, &e.mul(y, &e.apply_unary(Unary::Log, a)));
            e.where_const(pick(e, a, b, |a, b| !(a == F::ZERO && b >= F::ZERO)), &d, &e.zeros_like(&d))
        },
    }
    /// Elementwise maximum with broadcasting; `other` is a var or a scalar. NaN propagates,
    /// ties split the gradient equally and a NaN sends it to both, as in PyTorch.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![-1.0, 2.0], &[2]));
    /// assert_eq!(x.maximum(tape.scalar(0.0)).value().data(), &[0.0, 2.0]);
    /// ```
    Maximum(maximum: other) {
        value: |a, b| if a >= b || a.is_nan() { a } else { b },
        da: |e, a, b, y, g| e.mul_const(g, split(e, a, b, |x, y| x < y)),
        db: |e, a, b, y, g| e.mul_const(g, split(e, a, b, |x, y| x > y)),
    }
    /// Elementwise minimum with broadcasting; `other` is a var or a scalar. NaN propagates,
    /// ties split the gradient equally and a NaN sends it to both, as in PyTorch.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![-1.0, 2.0], &[2]));
    /// assert_eq!(x.minimum(tape.scalar(0.0)).value().data(), &[-1.0, 0.0]);
    /// ```
    Minimum(minimum: other) {
        value: |a, b| if a <= b || a.is_nan() { a } else { b },
        da: |e, a, b, y, g| e.mul_const(g, split(e, a, b, |x, y| x > y)),
        db: |e, a, b, y, g| e.mul_const(g, split(e, a, b, |x, y| x < y)),
    }
    /// The angle of the point `(x, y)` in radians, in `[-pi, pi]`, with `self` as `y`:
    /// PyTorch's `atan2(input, other)`, elementwise with broadcasting; `x` is a var or a
    /// scalar. `d atan2(y, x) = (x dy - y dx) / (x^2 + y^2)`, and 0 for both operands where
    /// `x^2 + y^2` is 0, as in PyTorch. Computed in f64 for either type.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let y = tape.var(Tensor::from_vec(vec![1.0, 0.0], &[2]));
    /// let x = tape.var(Tensor::from_vec(vec![1.0, 0.0], &[2]));
    /// let angle = y.atan2(x);
    /// assert_eq!(angle.value().data(), &[std::f64::consts::FRAC_PI_4, 0.0]);
    /// let g = angle.sum().backward();
    /// assert_eq!((g[y].data(), g[x].data()), (&[0.5, 0.0][..], &[-0.5, 0.0][..]));
    /// ```
    Atan2(atan2: x) {
        value: |a, b| F::from_f64(a.to_f64().atan2(b.to_f64())),
        da: |e, a, b, y, g| {
            let d = e.div(&e.mul(g, b), &e.apply_binary(Binary::Add, &e.mul(a, a), &e.mul(b, b)));
            e.where_const(pick(e, a, b, |a, b| a * a + b * b != F::ZERO), &d, &e.zeros_like(&d))
        },
        db: |e, a, b, y, g| {
            let d = e.div(&e.mul(g, &e.neg(a)), &e.apply_binary(Binary::Add, &e.mul(a, a), &e.mul(b, b)));
            e.where_const(pick(e, a, b, |a, b| a * a + b * b != F::ZERO), &d, &e.zeros_like(&d))
        },
    }
    /// `a * step(b)`: relu's backward, the gradient `a` where the input `b` is positive
    /// (PyTorch's `threshold_backward`); `b` may be relu's input or its output.
    ReluBackward(relu_backward) {
        value: |a, b| a * if b <= F::ZERO { F::ZERO } else { F::ONE },
        da: |e, a, b, y, g| e.apply_binary(Binary::ReluBackward, g, b),
        db: |e, a, b, y, g| e.zeros_like(g),
    }
    /// `a * b (1 - b)`: sigmoid's backward, `a` the output's gradient and `b` the output.
    SigmoidBackward(sigmoid_backward) {
        value: |a, b| a * (b * (F::ONE - b)),
        da: |e, a, b, y, g| e.apply_binary(Binary::SigmoidBackward, g, b),
        db: |e, a, b, y, g| e.mul(g, &e.mul(a, &e.affine(b, -F::from_f64(2.0), F::ONE))),
    }
    /// `a (1 - b^2)`: tanh's backward, `a` the output's gradient and `b` the output.
    TanhBackward(tanh_backward) {
        value: |a, b| a * (F::ONE - b * b),
        da: |e, a, b, y, g| e.apply_binary(Binary::TanhBackward, g, b),
        db: |e, a, b, y, g| e.mul(g, &e.mul(a, &e.affine(b, -F::from_f64(2.0), F::ZERO))),
    }
}

/// The share of the gradient an operand of `maximum`/`minimum` gets: 0 where `loses`, 1/2 on
/// ties, 1 elsewhere (where it wins, or where a NaN makes every comparison false).
fn split<F: Float, E: Engine<F>>(e: &E, a: &E::V, b: &E::V, loses: impl Fn(F, F) -> bool + Sync + Send) -> Tensor<F> {
    let half = F::from_f64(0.5);
    kernels::zip("mask", &e.value(a), &e.value(b), move |x, y| {
        if loses(x, y) {
            F::ZERO
        } else if x == y {
            half
        } else {
            F::ONE
        }
    })
}

/// The constant mask (broadcast shape) of the pairs of values where `picked` holds.
fn pick<F: Float, E: Engine<F>>(e: &E, a: &E::V, b: &E::V, picked: impl Fn(F, F) -> bool + Sync + Send) -> Tensor<F> {
    kernels::zip("mask", &e.value(a), &e.value(b), move |x, y| {
        if picked(x, y) { F::ONE } else { F::ZERO }
    })
}

impl<'t, F: Float> Var<'t, F> {
    #[track_caller]
    #[inline]
    fn bin(self, op: Binary, other: Var<'t, F>) -> Var<'t, F> {
        self.binary(op, op.name(), other)
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
    Binary::Add,
    |v: Var<'t, _>, s| v.affine(F::ONE, s),
    |s, v: Var<'t, _>| v.affine(1.0, s)
);
binop!(
    Sub,
    sub,
    Binary::Sub,
    |v: Var<'t, _>, s: F| v.affine(F::ONE, -s),
    |s, v: Var<'t, _>| v.affine(-1.0, s)
);
binop!(
    Mul,
    mul,
    Binary::Mul,
    |v: Var<'t, _>, s| v.affine(s, F::ZERO),
    |s, v: Var<'t, _>| v.affine(s, 0.0)
);
binop!(
    Div,
    div,
    Binary::Div,
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

#[cfg(test)]
mod tests {
    use super::Binary;
    use crate::ops::testing::*;

    /// Two tensors of one shape (rank 0 to 3), the second at least 0.05 from each of `avoid`.
    fn same_shape(
        a: (f64, f64),
        b: (f64, f64),
        avoid: &'static [f64],
    ) -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>)> {
        shape(0, 3).prop_flat_map(move |s| (values_of(s.clone(), a.0, a.1), values_in(s, b.0, b.1, avoid, 0.05)))
    }

    /// Values and gradients of `a.pow(b)` at base 0, against PyTorch's `pow_backward_self` and
    /// `pow_backward_exponent`: `da` is 0 where `b = 0`, `db` is 0 where `a = 0` and `b >= 0`;
    /// elsewhere the plain formulas, infinities included.
    #[test]
    fn pow_gradients_at_base_zero_match_pytorch() {
        let tape = Tape::<f64>::new();
        let a = tape.var(Tensor::from_vec(vec![0.0, 0.0, 0.0, 0.0, 2.0, 0.0], &[6]));
        let b = tape.var(Tensor::from_vec(vec![0.0, 2.0, 0.5, -1.0, 3.0, 1.0], &[6]));
        let y = a.pow(b);
        assert_eq!(y.value().data(), &[1.0, 0.0, 0.0, f64::INFINITY, 8.0, 0.0]);
        let g = y.sum().backward();
        let inf = f64::INFINITY;
        assert_eq!(g[a].data(), &[0.0, 0.0, inf, -inf, 12.0, 1.0]);
        assert_eq!(g[b].data(), &[0.0, 0.0, 0.0, -inf, 8.0 * 2f64.ln(), 0.0]);
        // x^0 has derivative 0 everywhere, also through powf.
        let x = tape.var(Tensor::from_vec(vec![0.0, 3.0], &[2]));
        assert_eq!(x.powf(0.0).sum().backward()[x].data(), &[0.0, 0.0]);
    }

    #[test]
    fn maximum_and_minimum_propagate_nan_and_split_ties() {
        let nan = f64::NAN;
        let tape = Tape::<f64>::new();
        let a = tape.var(Tensor::from_vec(vec![nan, 0.0, 1.0, 2.0, 5.0], &[5]));
        let b = tape.var(Tensor::from_vec(vec![0.0, nan, 1.0, 3.0, 4.0], &[5]));
        for (y, wins_a) in [
            (a.maximum(b), [0.0, 0.0, 0.5, 0.0, 1.0]),
            (a.minimum(b), [0.0, 0.0, 0.5, 1.0, 0.0]),
        ] {
            let v = y.value();
            assert!(v.data()[0].is_nan() && v.data()[1].is_nan());
            let g = y.sum().backward();
            // A NaN sends the whole gradient to both operands, as in PyTorch.
            assert_eq!(&g[a].data()[..2], &[1.0, 1.0]);
            assert_eq!(&g[b].data()[..2], &[1.0, 1.0]);
            assert_eq!(&g[a].data()[2..], &wins_a[2..]);
            let wins_b: Vec<f64> = wins_a[2..].iter().map(|w| 1.0 - w).collect();
            assert_eq!(&g[b].data()[2..], &wins_b[..]);
        }
    }

    op_props! {
        ops: Binary::NAMES;
        add((a, b) in broadcast_values((-2.0, 2.0), (-2.0, 2.0))) for [a, b] => |v| (v[0] + v[1]).sin();
        sub((a, b) in broadcast_values((-2.0, 2.0), (-2.0, 2.0))) for [a, b] => |v| (v[0] - v[1]).sin();
        mul((a, b) in broadcast_values((-2.0, 2.0), (-2.0, 2.0))) for [a, b] => |v| v[0] * v[1];
        div((a, b) in broadcast_values((-2.0, 2.0), (0.5, 2.0))) for [a, b] => |v| v[0] / v[1];
        pow((a, b) in broadcast_values((0.5, 2.0), (-1.5, 2.0))) for [a, b] => |v| v[0].pow(v[1]);
        maximum((a, b) in separated_pair()) for [a, b] => |v| v[0].maximum(v[1]).square();
        minimum((a, b) in separated_pair()) for [a, b] => |v| v[0].minimum(v[1]).square();
        atan2((a, b) in broadcast_values((-2.0, 2.0), (0.5, 2.0))) for [a, b] => |v| v[0].atan2(v[1]);
        maximum_scalar(x in values(-2.0, 2.0, &[0.5])) for [x] => |v| v[0].maximum(0.5).square() + v[0].minimum(0.5);
        relu_backward((a, b) in same_shape((-2.0, 2.0), (-2.0, 2.0), &[0.0])) for [a, b] =>
            |v| v[0].bin(Binary::ReluBackward, v[1]).sin();
        sigmoid_backward((a, b) in same_shape((-2.0, 2.0), (-2.0, 2.0), &[])) for [a, b] =>
            |v| v[0].bin(Binary::SigmoidBackward, v[1]);
        tanh_backward((a, b) in same_shape((-2.0, 2.0), (-2.0, 2.0), &[])) for [a, b] =>
            |v| v[0].bin(Binary::TanhBackward, v[1]);
    }
}
