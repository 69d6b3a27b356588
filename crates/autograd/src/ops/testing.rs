//! What the families' property tests share: strategies for shapes and values inside each op's
//! smooth domain, and [`check`], which runs one expression in f64 through `gradcheck`,
//! `gradgradcheck` and the forward-mode check [`check_tangent`], and in f32 against the f64
//! values, gradients and second derivatives.

pub(crate) use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

pub(crate) use crate::float::Float;
pub(crate) use crate::gradcheck::{GradcheckOptions, gradcheck, gradgradcheck};
pub(crate) use crate::tape::{Tape, Var};
pub(crate) use crate::tensor::Tensor;

/// Cases per property: small shapes make each case cheap, and the random-DAG test adds
/// breadth.
pub(crate) const CASES: u32 = 24;

/// How far f32 may be from f64, relative to the largest f64 magnitude of the compared tensor
/// (at least 1): single-precision rounding through a few ops and their derivatives.
const F32_TOL: f64 = 1e-3;

/// One property test per op: a strategy, the inputs it yields (as f64 tensors) and the
/// expression, written once and run in f64 and f32.
///
/// `name(pattern in strategy) for [inputs] => |v| expression;`
///
/// A family with an op table starts the list with `ops: Family::NAMES;`, which adds a test
/// that fails when an op of the table has no line (a line named after the op, or after the op
/// and a suffix: `powf_cube` covers `powf`).
macro_rules! op_props {
    (ops: $ops:expr; $($rest:tt)*) => {
        #[test]
        fn every_op_has_a_property_line() {
            $crate::ops::testing::assert_every_op_tested($ops, &op_props!(@names $($rest)*));
        }
        op_props!($($rest)*);
    };
    (@names $($name:ident($p:pat in $s:expr) for [$($input:expr),+] => |$v:ident| $body:expr;)*) => {
        [$(stringify!($name)),*]
    };
    ($($name:ident($p:pat in $s:expr) for [$($input:expr),+] => |$v:ident| $body:expr;)*) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases($crate::ops::testing::CASES))]
            $(
                #[test]
                #[allow(clippy::cloned_ref_to_slice_refs)]
                fn $name($p in $s) {
                    $crate::ops::testing::check(&[$($input.clone()),+], |$v| $body, |$v| $body)?;
                }
            )*
        }
    };
}
pub(crate) use op_props;

/// Panics naming the ops of `ops` that no line of `lines` tests.
pub(crate) fn assert_every_op_tested(ops: &[&str], lines: &[&str]) {
    let tested = |op: &str| {
        lines
            .iter()
            .any(|l| *l == op || l.strip_prefix(op).is_some_and(|rest| rest.starts_with('_')))
    };
    let missing: Vec<&str> = ops.iter().copied().filter(|op| !tested(op)).collect();
    assert!(
        missing.is_empty(),
        "ops without a property-test line in op_props!: {missing:?}"
    );
}

#[test]
#[should_panic(expected = "ops without a property-test line in op_props!: [\"atan2\"]")]
fn an_op_without_a_property_line_fails() {
    assert_every_op_tested(&["pow", "atan2"], &["pow_scalar", "atan"]);
}

/// `wide` passes gradcheck and gradgradcheck at `xs`, and `narrow` (the same expression in
/// f32) gives the same values, gradients and second derivatives within [`F32_TOL`].
pub(crate) fn check<A, B>(xs: &[Tensor<f64>], wide: A, narrow: B) -> Result<(), TestCaseError>
where
    A: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64> + Copy,
    B: for<'t> Fn(&[Var<'t, f32>]) -> Var<'t, f32>,
{
    let o = GradcheckOptions::default();
    let r1 = gradcheck(wide, xs, &o);
    prop_assert!(r1.passed, "{}", r1);
    let r2 = gradgradcheck(wide, xs, &o);
    prop_assert!(r2.passed, "{}", r2);
    check_tangent(xs, wide)?;
    let w = derivatives(xs, wide);
    let xs32: Vec<Tensor<f32>> = xs.iter().map(|x| x.cast()).collect();
    let n = derivatives(&xs32, narrow);
    for (k, (a, b)) in n.iter().zip(&w).enumerate() {
        let what = match k {
            0 => "value",
            k if k <= xs.len() => "gradient",
            _ => "second derivative",
        };
        prop_assert_eq!(a.shape(), b.shape(), "f32 {} has another shape", what);
        let scale = b.data().iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (i, (&x, &y)) in a.data().iter().zip(b.data()).enumerate() {
            let ok = (x - y).abs() <= F32_TOL * scale || (x.is_nan() && y.is_nan());
            prop_assert!(ok, "f32 {} element {}: {} vs f64 {} (scale {})", what, i, x, y, scale);
        }
    }
    Ok(())
}

/// The forward-mode tangent `J u` of `f` at `xs` along a direction `u` drawn from the inputs'
/// values (so it changes with every case) equals, in f64, `J u` assembled from reverse mode
/// (one vector-Jacobian product per output element) to rounding, and the central finite
/// difference `(f(x + h u) - f(x - h u)) / 2h` within gradcheck's tolerances; the tangent
/// sweep recorded on the tape (`create_graph`) gives the same values as the eager one.
pub(crate) fn check_tangent<A>(xs: &[Tensor<f64>], f: A) -> Result<(), TestCaseError>
where
    A: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64> + Copy,
{
    let us = directions(xs);
    let tape = Tape::<f64>::new();
    let vars: Vec<Var<'_, f64>> = xs.iter().map(|x| tape.var(x.clone())).collect();
    let y = f(&vars);
    let fwd = tape.jvp(&[y], &vars, &us, false)[0].value();
    let recorded = tape.jvp(&[y], &vars, &us, true)[0].value();
    let ys = y.shape();
    let rev: Vec<f64> = (0..numel(&ys))
        .map(|j| {
            let seed = Tensor::from_fn(&ys, |i| if i == j { 1.0 } else { 0.0 });
            let g = tape.grad_with(y, seed, &vars, false);
            g.iter().zip(&us).map(|(g, u)| dot(g.value().data(), u.data())).sum()
        })
        .collect();
    let h = 1e-6;
    let at = |s: f64| {
        let t = Tape::<f64>::new();
        let v: Vec<Var<'_, f64>> = xs.iter().zip(&us).map(|(x, u)| t.constant(x + &(u * s))).collect();
        f(&v).value()
    };
    let (plus, minus) = (at(h), at(-h));
    let scale = fwd.data().iter().fold(1.0f64, |m, v| m.max(v.abs()));
    prop_assert_eq!(fwd.shape(), ys.as_slice(), "tangent has another shape than the output");
    for (i, &a) in fwd.data().iter().enumerate() {
        let (r, c) = (rev[i], recorded.data()[i]);
        let fd = (plus.data()[i] - minus.data()[i]) / (2.0 * h);
        prop_assert!(
            (a - r).abs() <= 1e-9 * scale,
            "tangent element {}: forward {} vs reverse {}",
            i,
            a,
            r
        );
        prop_assert!(
            (a - c).abs() <= 1e-12 * scale,
            "tangent element {}: eager {} vs recorded {}",
            i,
            a,
            c
        );
        let ok = (a - fd).abs() <= 1e-5 + 1e-3 * fd.abs();
        prop_assert!(ok, "tangent element {}: forward {} vs finite difference {}", i, a, fd);
    }
    Ok(())
}

/// One direction per input, of its shape, with entries in `[-1, 1)` from a generator seeded by
/// the inputs' values.
fn directions(xs: &[Tensor<f64>]) -> Vec<Tensor<f64>> {
    let mut state = xs
        .iter()
        .flat_map(|x| x.data().iter())
        .fold(0x9e37_79b9_7f4a_7c15u64, |h, v| {
            (h ^ v.to_bits()).wrapping_mul(0x100_0000_01b3)
        });
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    xs.iter().map(|x| Tensor::from_fn(x.shape(), |_| next())).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(p, q)| p * q).sum()
}

/// The value, a vector-Jacobian product, and the gradient of a fixed projection of that
/// product (a second derivative), all as f64 tensors.
fn derivatives<F, Fun>(xs: &[Tensor<F>], f: Fun) -> Vec<Tensor<f64>>
where
    F: Float,
    Fun: for<'t> Fn(&[Var<'t, F>]) -> Var<'t, F>,
{
    let tape = Tape::<F>::new();
    let vars: Vec<Var<'_, F>> = xs.iter().map(|x| tape.var(x.clone())).collect();
    let y = f(&vars);
    let seed = Tensor::from_fn(&y.shape(), |i| F::from_f64(0.5 + (i as f64 * 0.7).sin()));
    let g = tape.grad_with(y, seed, &vars, true);
    let mut s = tape.scalar(F::ZERO);
    for (k, gk) in g.iter().enumerate() {
        let u = Tensor::from_fn(&gk.shape(), |i| F::from_f64((i as f64 * 1.3 + k as f64).cos()));
        s = s + (*gk * tape.constant(u)).sum();
    }
    let h = tape.grad(s, &vars, false);
    let mut out = vec![y.value().cast()];
    out.extend(g.iter().chain(&h).map(|t| t.value().cast()));
    out
}

fn numel(s: &[usize]) -> usize {
    s.iter().product()
}

/// A shape of rank `lo..=hi` with dims 1..=3.
pub(crate) fn shape(lo: usize, hi: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..=3, lo..=hi)
}

/// A tensor of `shape` with values in `lo..hi`, at least `gap` away from every point in `avoid`.
pub(crate) fn values_in(
    shape: Vec<usize>,
    lo: f64,
    hi: f64,
    avoid: &'static [f64],
    gap: f64,
) -> impl Strategy<Value = Tensor<f64>> {
    let n = numel(&shape);
    prop::collection::vec(
        (lo..hi).prop_filter("kink", move |v: &f64| avoid.iter().all(|p| (v - p).abs() > gap)),
        n,
    )
    .prop_map(move |d| Tensor::from_vec(d, &shape))
}

/// A tensor of `shape` with values in `lo..hi`.
pub(crate) fn values_of(shape: Vec<usize>, lo: f64, hi: f64) -> impl Strategy<Value = Tensor<f64>> {
    values_in(shape, lo, hi, &[], 0.0)
}

/// A tensor of rank 0 to 3 with values in `lo..hi`, at least 0.05 away from each kink in
/// `avoid`.
pub(crate) fn values(lo: f64, hi: f64, avoid: &'static [f64]) -> impl Strategy<Value = Tensor<f64>> {
    shape(0, 3).prop_flat_map(move |s| values_in(s, lo, hi, avoid, 0.05))
}

/// A tensor of rank `lo..=hi` with values in `-2..2`.
pub(crate) fn any_values(lo: usize, hi: usize) -> impl Strategy<Value = Tensor<f64>> {
    shape(lo, hi).prop_flat_map(|s| values_of(s, -2.0, 2.0))
}

/// Two shapes that broadcast together (leading dims dropped, some dims set to 1).
pub(crate) fn broadcast_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    shape(1, 3).prop_flat_map(|out| {
        let r = out.len();
        let side = move |o: Vec<usize>| {
            (0..=r, prop::collection::vec(any::<bool>(), r)).prop_map(move |(drop, ones)| {
                o.iter()
                    .zip(&ones)
                    .skip(drop)
                    .map(|(&d, &one)| if one { 1 } else { d })
                    .collect::<Vec<_>>()
            })
        };
        (side(out.clone()), side(out))
    })
}

/// Two tensors that broadcast together, with values in the given ranges.
pub(crate) fn broadcast_values(a: (f64, f64), b: (f64, f64)) -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>)> {
    broadcast_pair().prop_flat_map(move |(sa, sb)| (values_of(sa, a.0, a.1), values_of(sb, b.0, b.1)))
}

/// Two tensors that broadcast together, whose broadcast elements differ by at least 0.05
/// (away from the ties of maximum and minimum).
pub(crate) fn separated_pair() -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>)> {
    broadcast_values((-2.0, 2.0), (-2.0, 2.0)).prop_filter("ties", |(a, b)| {
        let t = Tape::<f64>::new();
        let d = (t.constant(a.clone()) - t.constant(b.clone())).abs().min().item();
        d > 0.05
    })
}

/// Tensors of rank `lo..=hi` whose elements are pairwise at least 1e-3 apart, so max/min have
/// no ties.
pub(crate) fn distinct(lo: usize, hi: usize) -> impl Strategy<Value = Tensor<f64>> {
    any_values(lo, hi).prop_filter("ties", |t| {
        let mut d = t.to_vec();
        d.sort_by(|a, b| a.partial_cmp(b).unwrap());
        d.windows(2).all(|w| w[1] - w[0] > 1e-3)
    })
}

/// A tensor of rank 1..=3 without ties, a list of distinct axes of it, and `keepdim`.
pub(crate) fn with_axes() -> impl Strategy<Value = (Tensor<f64>, Vec<isize>, bool)> {
    distinct(1, 3).prop_flat_map(|t| {
        let r = t.rank();
        (
            Just(t),
            prop::sample::subsequence((0..r as isize).collect::<Vec<_>>(), 1..=r),
            any::<bool>(),
        )
    })
}
