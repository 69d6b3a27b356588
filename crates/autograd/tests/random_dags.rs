//! Random expression graphs (depth up to 8; unary, binary with broadcasting, reductions,
//! matmul, softmax and shape ops; values inside every op's smooth domain) pass gradcheck and
//! gradgradcheck, and their forward-mode derivatives (`jvp_many`, forward-over-reverse
//! `hvp_many`) equal the reverse-mode ones. proptest shrinks a failing program and prints it
//! with its seed.

use borel_autograd::{GradcheckOptions, Tape, Tensor, Var, gradcheck, gradgradcheck, hvp_many, jvp_many};
use proptest::prelude::*;

/// One instruction: an op applied to earlier nodes (indices taken modulo the nodes so far).
#[derive(Clone, Debug)]
enum Step {
    Unary(u8, usize),
    Binary(u8, usize, usize),
    Reduce(u8, usize, bool),
    MatMulW(usize),
    MatMulT(usize, usize),
    Softmax(usize),
    Reshape(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u8..9, any::<usize>()).prop_map(|(k, i)| Step::Unary(k, i)),
        (0u8..5, any::<usize>(), any::<usize>()).prop_map(|(k, i, j)| Step::Binary(k, i, j)),
        (0u8..6, any::<usize>(), any::<bool>()).prop_map(|(k, i, kd)| Step::Reduce(k, i, kd)),
        any::<usize>().prop_map(Step::MatMulW),
        (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Step::MatMulT(i, j)),
        any::<usize>().prop_map(Step::Softmax),
        any::<usize>().prop_map(Step::Reshape),
    ]
}

/// Inputs: x [2, 3], a broadcasting operand of shape [3], [1, 3], [2, 1] or [], and W [3, 3].
fn inputs() -> impl Strategy<Value = Vec<Tensor<f64>>> {
    let b_shapes = prop_oneof![Just(vec![3]), Just(vec![1, 3]), Just(vec![2, 1]), Just(vec![])];
    (
        prop::collection::vec(-1.5f64..1.5, 6),
        b_shapes,
        prop::collection::vec(-1.5f64..1.5, 3),
        prop::collection::vec(-1.0f64..1.0, 9),
    )
        .prop_map(|(x, bs, b, w)| {
            let n: usize = bs.iter().product();
            vec![
                Tensor::from_vec(x, &[2, 3]),
                Tensor::from_vec(b[..n].to_vec(), &bs),
                Tensor::from_vec(w, &[3, 3]),
            ]
        })
}

/// Elementwise op `k` (kept inside its smooth domain).
fn unary<'t>(k: u8, a: Var<'t, f64>) -> Var<'t, f64> {
    match k {
        0 => a.sin(),
        1 => a.cos(),
        2 => a.tanh(),
        3 => a.sigmoid(),
        4 => a.softplus(),
        5 => (a * a + 1.0).log(),
        6 => (a * a + 1.0).sqrt(),
        7 => a.gelu(),
        _ => -a * 0.5,
    }
}

/// Broadcasting op `k`; `b` is reduced to a scalar when the shapes do not broadcast.
fn binary<'t>(k: u8, a: Var<'t, f64>, b: Var<'t, f64>) -> Var<'t, f64> {
    let fits = borel_autograd::shape::broadcast_shapes(&a.shape(), &b.shape()).is_some();
    let b = if fits { b } else { b.mean() };
    match k {
        0 => a + b,
        1 => a - b,
        2 => a * b,
        3 => a / (b * b + 1.0),
        _ => (a * b).tanh(),
    }
}

/// Reduction `k` over the last or the first axis (a scalar gets `sin` instead).
fn reduce<'t>(k: u8, a: Var<'t, f64>, keep: bool) -> Var<'t, f64> {
    if a.shape().is_empty() {
        return a.sin();
    }
    match k {
        0 => a.sum_axes(&[-1], keep),
        1 => a.mean_axes(&[-1], keep),
        2 => a.logsumexp_axes(&[-1], keep),
        3 => a.sum(),
        4 => a.mean_axes(&[0], keep),
        _ => a.logsumexp_axes(&[0], keep),
    }
}

fn run<'t>(program: &[Step], v: &[Var<'t, f64>]) -> Var<'t, f64> {
    let mut nodes: Vec<Var<'t, f64>> = vec![v[0], v[1]];
    let w = v[2];
    for s in program {
        let pick = |i: usize| nodes[i % nodes.len()];
        let out = match *s {
            Step::Unary(k, i) => unary(k, pick(i)),
            Step::Binary(k, i, j) => binary(k, pick(i), pick(j)),
            Step::Reduce(k, i, keep) => reduce(k, pick(i), keep),
            Step::MatMulW(i) => {
                let a = pick(i);
                if a.shape().last() == Some(&3) && a.shape().len() == 2 {
                    a.matmul(w)
                } else {
                    a * w.mean()
                }
            }
            Step::MatMulT(i, j) => {
                let (a, b) = (pick(i), pick(j));
                let (sa, sb) = (a.shape(), b.shape());
                if sa.len() == 2 && sb.len() == 2 && sa[1] == sb[1] {
                    a.matmul_t(b)
                } else {
                    a * 0.5 + b.sum()
                }
            }
            Step::Softmax(i) => {
                let a = pick(i);
                if a.shape().is_empty() {
                    a.sigmoid()
                } else {
                    a.softmax(-1)
                }
            }
            Step::Reshape(i) => {
                let a = pick(i);
                let s = a.shape();
                if s.len() == 2 {
                    a.t().reshape(&[s[0] * s[1]]).sin()
                } else {
                    a.unsqueeze(0).squeeze(0).cos()
                }
            }
        };
        nodes.push(out);
    }
    // The output mixes the last node with every input, so all of them get gradients.
    let last = *nodes.last().unwrap();
    last.sum() + (v[0] * v[1]).sin().sum() + w.tanh().sum() * 0.1
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn random_graphs_pass_first_and_second_order_checks(
        program in prop::collection::vec(step(), 1..=8),
        xs in inputs(),
    ) {
        let o = GradcheckOptions::default();
        let r1 = gradcheck(|v| run(&program, v), &xs, &o);
        prop_assert!(r1.passed, "{}", r1);
        let r2 = gradgradcheck(|v| run(&program, v), &xs, &o);
        prop_assert!(r2.passed, "{}", r2);
    }
}

/// Directions of the inputs' shapes, from a proptest-drawn vector.
fn directions(xs: &[Tensor<f64>], d: &[f64]) -> Vec<Tensor<f64>> {
    let mut k = 0;
    xs.iter()
        .map(|x| {
            Tensor::from_fn(x.shape(), |_| {
                k += 1;
                d[(k - 1) % d.len()]
            })
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn random_graphs_forward_mode_equals_reverse_mode(
        program in prop::collection::vec(step(), 1..=8),
        xs in inputs(),
        d in prop::collection::vec(-1.0f64..1.0, 18),
    ) {
        let us = directions(&xs, &d);
        let tape = Tape::new();
        let vars: Vec<Var<'_, f64>> = xs.iter().map(|x| tape.var(x.clone())).collect();
        let g = tape.grad(run(&program, &vars), &vars, true);
        // J u of the scalar output is <grad, u>.
        let want: f64 = g.iter().zip(&us).map(|(g, u)| (*g * tape.constant(u.clone())).sum().item()).sum();
        let (_, got) = jvp_many(|v| run(&program, v), &xs, &us);
        prop_assert!((got.item() - want).abs() <= 1e-9 * want.abs().max(1.0), "jvp {} vs reverse {}", got.item(), want);
        // H u by reverse over reverse: the gradient of <grad, u>.
        let gu = g.iter().zip(&us).fold(tape.scalar(0.0), |s, (g, u)| s + (*g * tape.constant(u.clone())).sum());
        let want = tape.grad(gu, &vars, false);
        for (h, w) in hvp_many(|v| run(&program, v), &xs, &us).iter().zip(&want) {
            let w = w.value();
            let scale = w.data().iter().fold(1.0f64, |m, v| m.max(v.abs()));
            prop_assert!(h.max_abs_diff(&w) <= 1e-9 * scale, "hvp {:?} vs reverse {:?}", h, w);
        }
    }
}
