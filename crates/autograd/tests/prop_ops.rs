//! Every differentiable op against central finite differences in f64, first and second order,
//! over random shapes (broadcasting and size-1 dims included) and values kept inside each
//! op's smooth domain.

#![allow(clippy::cloned_ref_to_slice_refs)]

use borel_autograd::{GradcheckOptions, Tensor, Var, gradcheck, gradgradcheck};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const CASES: u32 = 24;

fn numel(s: &[usize]) -> usize {
    s.iter().product()
}

/// A shape of rank `lo..=hi` with dims 1..=3.
fn shape(lo: usize, hi: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..=3, lo..=hi)
}

/// A tensor of `shape` with values in `lo..hi`, at least `gap` away from every point in `avoid`.
fn tensor_in(
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

fn any_tensor(lo: usize, hi: usize) -> impl Strategy<Value = Tensor<f64>> {
    shape(lo, hi).prop_flat_map(|s| tensor_in(s, -2.0, 2.0, &[], 0.0))
}

/// An output shape and two operand shapes that broadcast to it (leading dims dropped, some
/// dims set to 1).
fn broadcast_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
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

fn check<Fun>(f: Fun, inputs: &[Tensor<f64>]) -> Result<(), TestCaseError>
where
    Fun: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64> + Copy,
{
    let o = GradcheckOptions::default();
    let r1 = gradcheck(f, inputs, &o);
    prop_assert!(r1.passed, "{}", r1);
    let r2 = gradgradcheck(f, inputs, &o);
    prop_assert!(r2.passed, "{}", r2);
    Ok(())
}

macro_rules! unary_props {
    ($($name:ident: ($lo:expr, $hi:expr, $avoid:expr), $f:expr;)*) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(CASES))]
            $(
                #[test]
                fn $name(x in shape(0, 3).prop_flat_map(|s| tensor_in(s, $lo, $hi, $avoid, 0.05))) {
                    check($f, &[x])?;
                }
            )*
        }
    };
}

unary_props! {
    neg: (-2.0, 2.0, &[]), |v| -v[0];
    exp: (-2.0, 2.0, &[]), |v| v[0].exp();
    log: (0.2, 3.0, &[]), |v| v[0].log();
    sqrt: (0.2, 3.0, &[]), |v| v[0].sqrt();
    square: (-2.0, 2.0, &[]), |v| v[0].square();
    abs: (-2.0, 2.0, &[0.0]), |v| v[0].abs().sin();
    sin: (-3.0, 3.0, &[]), |v| v[0].sin();
    cos: (-3.0, 3.0, &[]), |v| v[0].cos();
    tan: (-1.2, 1.2, &[]), |v| v[0].tan();
    tanh: (-3.0, 3.0, &[]), |v| v[0].tanh();
    sigmoid: (-5.0, 5.0, &[]), |v| v[0].sigmoid();
    relu: (-2.0, 2.0, &[0.0]), |v| v[0].relu().square();
    leaky_relu: (-2.0, 2.0, &[0.0]), |v| v[0].leaky_relu(0.3).square();
    elu: (-2.0, 2.0, &[0.0]), |v| v[0].elu(0.7);
    gelu: (-3.0, 3.0, &[]), |v| v[0].gelu();
    gelu_tanh: (-3.0, 3.0, &[]), |v| v[0].gelu_tanh();
    softplus: (-5.0, 5.0, &[]), |v| v[0].softplus();
    silu: (-3.0, 3.0, &[]), |v| v[0].silu();
    erf: (-2.0, 2.0, &[]), |v| v[0].erf();
    clamp: (-1.0, 1.0, &[-0.5, 0.5]), |v| v[0].clamp(-0.5, 0.5).sin();
    powf_cube: (0.3, 2.0, &[]), |v| v[0].powf(3.0);
    powf_neg: (0.3, 2.0, &[]), |v| v[0].powf(-1.5);
    scalar_affine: (-2.0, 2.0, &[]), |v| (2.0 - v[0] * 3.0 + 1.0) / 4.0 * v[0];
    scalar_div: (0.3, 2.0, &[]), |v| 2.0 / v[0];
}

macro_rules! binary_props {
    ($($name:ident: ($alo:expr, $ahi:expr), ($blo:expr, $bhi:expr), $f:expr;)*) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(CASES))]
            $(
                #[test]
                fn $name((a, b) in broadcast_pair().prop_flat_map(|(sa, sb)| {
                    (tensor_in(sa, $alo, $ahi, &[], 0.0), tensor_in(sb, $blo, $bhi, &[], 0.0))
                })) {
                    check($f, &[a, b])?;
                }
            )*
        }
    };
}

binary_props! {
    add: (-2.0, 2.0), (-2.0, 2.0), |v| (v[0] + v[1]).sin();
    sub: (-2.0, 2.0), (-2.0, 2.0), |v| (v[0] - v[1]).sin();
    mul: (-2.0, 2.0), (-2.0, 2.0), |v| v[0] * v[1];
    div: (-2.0, 2.0), (0.5, 2.0), |v| v[0] / v[1];
    pow: (0.5, 2.0), (-1.5, 2.0), |v| v[0].pow(v[1]);
}

/// Pairs whose broadcast elements differ by at least 0.05 (away from the tie).
fn separated_pair() -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>)> {
    broadcast_pair()
        .prop_flat_map(|(sa, sb)| (tensor_in(sa, -2.0, 2.0, &[], 0.0), tensor_in(sb, -2.0, 2.0, &[], 0.0)))
        .prop_filter("ties", |(a, b)| {
            let t = borel_autograd::Tape::<f64>::new();
            let d = (t.constant(a.clone()) - t.constant(b.clone())).abs().min().item();
            d > 0.05
        })
}

/// Tensors whose elements are pairwise at least 1e-3 apart, so max/min have no ties.
fn distinct(lo: usize, hi: usize) -> impl Strategy<Value = Tensor<f64>> {
    any_tensor(lo, hi).prop_filter("ties", |t| {
        let mut d = t.to_vec();
        d.sort_by(|a, b| a.partial_cmp(b).unwrap());
        d.windows(2).all(|w| w[1] - w[0] > 1e-3)
    })
}

/// A tensor of rank 1..=3 and a list of distinct axes of it.
fn with_axes() -> impl Strategy<Value = (Tensor<f64>, Vec<isize>, bool)> {
    distinct(1, 3).prop_flat_map(|t| {
        let r = t.rank();
        (
            Just(t),
            prop::sample::subsequence((0..r as isize).collect::<Vec<_>>(), 1..=r),
            any::<bool>(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn maximum((a, b) in separated_pair()) {
        check(|v| v[0].maximum(v[1]).square(), &[a.clone(), b.clone()])?;
        check(|v| v[0].minimum(v[1]).square(), &[a, b])?;
    }

    #[test]
    fn sum_axes((x, axes, keep) in with_axes()) {
        check(|v| v[0].sum_axes(&axes, keep).sin(), &[x.clone()])?;
        check(|v| v[0].sum().sin(), &[x])?;
    }

    #[test]
    fn mean_axes((x, axes, keep) in with_axes()) {
        check(|v| v[0].mean_axes(&axes, keep).sin(), &[x.clone()])?;
        check(|v| v[0].mean().sin(), &[x])?;
    }

    #[test]
    fn max_min_axes((x, axes, keep) in with_axes()) {
        check(|v| v[0].max_axes(&axes, keep).sin(), &[x.clone()])?;
        check(|v| v[0].min_axes(&axes, keep).sin(), &[x.clone()])?;
        check(|v| v[0].max().square() + v[0].min().square(), &[x])?;
    }

    #[test]
    fn logsumexp((x, axes, keep) in with_axes()) {
        check(|v| v[0].logsumexp(&axes, keep), &[x])?;
    }

    #[test]
    fn softmax(x in any_tensor(1, 3), axis in -1isize..=0) {
        check(|v| v[0].softmax(axis), &[x.clone()])?;
        check(|v| v[0].log_softmax(axis), &[x])?;
    }

    #[test]
    fn matmul(
        (a, b, ta, tb) in (shape(0, 2), shape(0, 2), 1usize..=3, 1usize..=3, 1usize..=3, any::<bool>(), any::<bool>())
            .prop_flat_map(|(ba, bb, m, k, n, ta, tb)| {
                // batch dims that broadcast: align from the right, use 1 where they differ
                let r = ba.len().max(bb.len());
                let pad = |v: &Vec<usize>| { let mut p = vec![1; r - v.len()]; p.extend(v); p };
                let (pa, pb) = (pad(&ba), pad(&bb));
                let fix = |x: &Vec<usize>, y: &Vec<usize>| x.iter().zip(y).map(|(&p, &q)| if p == q { p } else { 1 }).collect::<Vec<_>>();
                let mut sa = fix(&pa, &pb)[r - ba.len()..].to_vec();
                let mut sb = pb.iter().zip(&pa).map(|(&q, &p)| if p == q || p == 1 { q } else { 1 }).collect::<Vec<_>>()[r - bb.len()..].to_vec();
                sa.extend(if ta { [k, m] } else { [m, k] });
                sb.extend(if tb { [n, k] } else { [k, n] });
                (tensor_in(sa, -2.0, 2.0, &[], 0.0), tensor_in(sb, -2.0, 2.0, &[], 0.0), Just(ta), Just(tb))
            })
    ) {
        match (ta, tb) {
            (false, false) => check(|v| v[0].matmul(v[1]), &[a, b])?,
            (true, false) => check(|v| v[0].t_matmul(v[1]), &[a, b])?,
            (false, true) => check(|v| v[0].matmul_t(v[1]), &[a, b])?,
            (true, true) => check(|v| v[0].t().matmul(v[1].t()), &[a, b])?,
        }
    }

    #[test]
    fn reshape_and_permute(x in any_tensor(1, 3), flip in any::<bool>()) {
        let n = x.numel();
        check(|v| v[0].reshape(&[n]).sin(), &[x.clone()])?;
        let r = x.rank();
        let perm: Vec<usize> = if flip { (0..r).rev().collect() } else { (0..r).map(|i| (i + 1) % r).collect() };
        check(|v| v[0].permute(&perm).sin() * v[0].permute(&perm), &[x.clone()])?;
        if r >= 2 {
            check(|v| v[0].t().sin(), &[x])?;
        }
    }

    #[test]
    fn broadcast_to((from, to) in broadcast_pair().prop_map(|(a, _)| a).prop_flat_map(|a| {
        let r = a.len();
        (Just(a.clone()), prop::collection::vec(1usize..=3, r..=r).prop_map(move |big| {
            // a broadcasts to: each size-1 dim of `a` may grow, plus one leading dim.
            let mut to: Vec<usize> = a.iter().zip(&big).map(|(&d, &b)| if d == 1 { b } else { d }).collect();
            to.insert(0, 2);
            to
        }))
    }).prop_flat_map(|(a, to)| (tensor_in(a, -2.0, 2.0, &[], 0.0), Just(to)))) {
        check(|v| v[0].broadcast_to(&to).sin(), &[from])?;
    }

    #[test]
    fn squeeze_unsqueeze(x in any_tensor(0, 3)) {
        check(|v| v[0].unsqueeze(0).unsqueeze(-1).squeeze(0).sin(), &[x])?;
    }

    #[test]
    fn slice_and_pad(x in any_tensor(1, 3), start in 0usize..3, len in 0usize..3, before in 0usize..3, after in 0usize..3) {
        let d = x.shape()[0];
        let (s, e) = (start.min(d), (start + len).min(d));
        check(|v| v[0].slice(0, s, e).sin(), &[x.clone()])?;
        check(|v| v[0].pad(-1, before, after).sin(), &[x])?;
    }

    #[test]
    fn concat_and_stack(a in any_tensor(1, 3), k in 1usize..=3) {
        let mut bs = a.shape().to_vec();
        bs[0] = k;
        let b = Tensor::from_fn(&bs, |i| (i as f64 * 0.37).sin());
        check(|v| Var::concat(&[v[0], v[1], v[0]], 0).sin(), &[a.clone(), b])?;
        check(|v| Var::stack(&[v[0], v[0].cos()], -1).sin(), &[a])?;
    }

    #[test]
    fn index_select(x in any_tensor(1, 3), picks in prop::collection::vec(0usize..3, 0..5)) {
        let d = x.shape()[0];
        let idx: Vec<usize> = picks.iter().map(|&i| i % d).collect();
        check(|v| v[0].index_select(0, &idx).sin(), &[x])?;
    }

    #[test]
    fn gather(x in any_tensor(2, 2), m in 1usize..4, seed in any::<u64>()) {
        let (rows, cols) = (x.shape()[0], x.shape()[1]);
        let idx: Vec<usize> = (0..rows * m).map(|i| ((seed >> (i % 60)) as usize + i) % cols).collect();
        check(|v| v[0].gather(1, &idx, &[rows, m]).sin(), &[x])?;
    }

    #[test]
    fn where_((a, b) in broadcast_pair().prop_flat_map(|(sa, sb)| (tensor_in(sa, -2.0, 2.0, &[], 0.0), tensor_in(sb, -2.0, 2.0, &[], 0.0)))) {
        check(|v| Var::where_(v[0].gt(v[1]), v[0].sin(), v[1] * v[1]), &[a, b])?;
    }
}
