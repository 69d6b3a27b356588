//! Tensor arithmetic off the tape: every op gives the tape op's value bit for bit, on random
//! shapes with broadcasting, in f32 and f64; shape errors name the op and both shapes at the
//! caller's line; argmax/argmin/one_hot follow PyTorch on ties and NaNs.

use std::any::Any;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use borel_autograd::{Float, Tensor};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Same shape, and every element has the same bits (NaNs match any NaN).
#[track_caller]
fn assert_same<F: Float>(got: &Tensor<F>, want: &Tensor<F>, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shapes differ");
    for (i, (g, w)) in got.data().iter().zip(want.data()).enumerate() {
        let (g, w) = (g.to_f64(), w.to_f64());
        let same = g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan());
        assert!(same, "{what}: element {i} is {g:e}, the tape gives {w:e}");
    }
}

/// A shape of rank 0..=4 and two shapes that broadcast to it (leading dims dropped, some
/// dims set to 1).
fn broadcast_pair(rng: &mut StdRng) -> (Vec<usize>, Vec<usize>) {
    let rank = rng.random_range(0..=4usize);
    let out: Vec<usize> = (0..rank).map(|_| rng.random_range(1..=3usize)).collect();
    let operand = |rng: &mut StdRng| -> Vec<usize> {
        let drop = rng.random_range(0..=rank);
        out[drop..]
            .iter()
            .map(|&d| if rng.random_bool(0.3) { 1 } else { d })
            .collect()
    };
    (operand(rng), operand(rng))
}

/// Normal values, or (with `ties`) small integers so that comparisons and extremes tie.
fn values<F: Float>(rng: &mut StdRng, shape: &[usize], ties: bool) -> Tensor<F> {
    let t = Tensor::<F>::rand_normal(shape, 0.0, 1.5, rng);
    if ties {
        t.map(|v| F::from_f64(v.to_f64().round()))
    } else {
        t
    }
}

/// A random subset of `0..rank` as axes, some written negative.
fn random_axes(rng: &mut StdRng, rank: usize) -> Vec<isize> {
    let mut axes = Vec::new();
    for a in 0..rank as isize {
        match rng.random_range(0..3) {
            0 => axes.push(a),
            1 => axes.push(a - rank as isize),
            _ => {}
        }
    }
    axes
}

/// The panic message of `f`.
fn panic_message(f: impl FnOnce()) -> String {
    let err: Box<dyn Any + Send> = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    match err.downcast::<String>() {
        Ok(s) => *s,
        Err(e) => e.downcast_ref::<&str>().map(|s| s.to_string()).unwrap_or_default(),
    }
}

thread_local! {
    static PANIC_AT: Cell<Option<(&'static str, u32)>> = const { Cell::new(None) };
}

/// The file and line a panic of `f` was reported at (each thread records its own).
fn panic_location(f: impl FnOnce()) -> (&'static str, u32) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(loc) = info.location() {
                // Leaked once per recorded panic, in tests only: a &'static str fits a Cell.
                let file: &'static str = Box::leak(loc.file().to_string().into_boxed_str());
                PANIC_AT.with(|p| p.set(Some((file, loc.line()))));
            }
            prev(info);
        }));
    });
    PANIC_AT.with(|p| p.set(None));
    let _ = panic_message(f);
    PANIC_AT.with(|p| p.get()).expect("the hook saw the panic")
}

macro_rules! per_float {
    ($($t:ident),*) => {$(
        mod $t {
            use super::*;
            use borel_autograd::{Tape, Var};

            type F = $t;

            #[test]
            fn binary_ops_match_the_tape_with_broadcasting() {
                let mut rng = StdRng::seed_from_u64(1);
                for trial in 0..200 {
                    let (sa, sb) = broadcast_pair(&mut rng);
                    let ties = trial % 2 == 0;
                    let (a, b) = (values::<F>(&mut rng, &sa, ties), values::<F>(&mut rng, &sb, ties));
                    let tape = Tape::<F>::new();
                    let (x, y) = (tape.var(a.clone()), tape.var(b.clone()));
                    let ctx = |op: &str| format!("{op} {sa:?} {sb:?}");
                    assert_same(&(&a + &b), &(x + y).value(), &ctx("add"));
                    assert_same(&(&a - &b), &(x - y).value(), &ctx("sub"));
                    assert_same(&(&a * &b), &(x * y).value(), &ctx("mul"));
                    assert_same(&(&a / &b), &(x / y).value(), &ctx("div"));
                    let pos = a.abs() + 0.5;
                    let xp = tape.var(pos.clone());
                    assert_same(&pos.pow(&b), &xp.pow(y).value(), &ctx("pow"));
                    assert_same(&a.maximum(&b), &x.maximum(y).value(), &ctx("maximum"));
                    assert_same(&a.minimum(&b), &x.minimum(y).value(), &ctx("minimum"));
                    assert_same(&a.gt(&b), &x.gt(y).value(), &ctx("gt"));
                    assert_same(&a.ge(&b), &x.ge(y).value(), &ctx("ge"));
                    assert_same(&a.lt(&b), &x.lt(y).value(), &ctx("lt"));
                    assert_same(&a.le(&b), &x.le(y).value(), &ctx("le"));
                    assert_same(&a.eq_elem(&b), &x.eq(y).value(), &ctx("eq_elem"));
                    let m = a.gt(&Tensor::scalar(0.0));
                    let w = Var::where_(tape.constant(m.clone()), x, y).value();
                    assert_same(&Tensor::where_(&m, &a, &b), &w, &ctx("where_"));
                }
            }

            #[test]
            fn operators_take_references_and_values_alike() {
                let mut rng = StdRng::seed_from_u64(2);
                let (a, b) = (values::<F>(&mut rng, &[2, 3], false), values::<F>(&mut rng, &[3], false));
                let want = &a * &b;
                assert_same(&(a.clone() * b.clone()), &want, "value * value");
                assert_same(&(a.clone() * &b), &want, "value * ref");
                assert_same(&(&a * b.clone()), &want, "ref * value");
                assert_same(&(-a.clone()), &(-&a), "neg");
                assert_same(&(a.clone() / 3.0), &(&a / 3.0), "value / scalar");
                assert_same(&(3.0 / a.clone()), &(3.0 / &a), "scalar / value");
            }

            #[test]
            fn scalar_operands_match_the_tape() {
                let mut rng = StdRng::seed_from_u64(3);
                for _ in 0..50 {
                    let (shape, _) = broadcast_pair(&mut rng);
                    let a = values::<F>(&mut rng, &shape, false);
                    let s: F = rng.random_range(-3.0..3.0);
                    let tape = Tape::<F>::new();
                    let x = tape.var(a.clone());
                    assert_same(&(&a + s), &(x + s).value(), "t + s");
                    assert_same(&(&a - s), &(x - s).value(), "t - s");
                    assert_same(&(&a * s), &(x * s).value(), "t * s");
                    assert_same(&(&a / s), &(x / s).value(), "t / s");
                    assert_same(&(s + &a), &(s + x).value(), "s + t");
                    assert_same(&(s - &a), &(s - x).value(), "s - t");
                    assert_same(&(s * &a), &(s * x).value(), "s * t");
                    assert_same(&(s / &a), &(s / x).value(), "s / t");
                    assert_same(&(-&a), &(-x).value(), "neg");
                }
            }

            #[test]
            fn unary_ops_match_the_tape() {
                let mut rng = StdRng::seed_from_u64(4);
                for _ in 0..50 {
                    let (shape, _) = broadcast_pair(&mut rng);
                    // Negative inputs too: log and sqrt must give the tape's NaNs.
                    let a = values::<F>(&mut rng, &shape, false);
                    let tape = Tape::<F>::new();
                    let x = tape.var(a.clone());
                    let cases: [(&str, Tensor<F>, Var<'_, F>); 17] = [
                        ("exp", a.exp(), x.exp()),
                        ("log", a.log(), x.log()),
                        ("sqrt", a.sqrt(), x.sqrt()),
                        ("sin", a.sin(), x.sin()),
                        ("cos", a.cos(), x.cos()),
                        ("tan", a.tan(), x.tan()),
                        ("tanh", a.tanh(), x.tanh()),
                        ("sigmoid", a.sigmoid(), x.sigmoid()),
                        ("softplus", a.softplus(), x.softplus()),
                        ("erf", a.erf(), x.erf()),
                        ("relu", a.relu(), x.relu()),
                        ("abs", a.abs(), x.abs()),
                        ("square", a.square(), x.square()),
                        ("powf", a.abs().powf(2.5), x.abs().powf(2.5)),
                        ("affine", a.affine(0.3, -1.0), x.affine(0.3, -1.0)),
                        ("clamp", a.clamp(-0.5, 0.7), x.clamp(-0.5, 0.7)),
                        ("neg", -&a, -x),
                    ];
                    for (name, got, want) in cases {
                        assert_same(&got, &want.value(), &format!("{name} {shape:?}"));
                    }
                }
            }

            #[test]
            fn reductions_match_the_tape() {
                let mut rng = StdRng::seed_from_u64(5);
                for trial in 0..100 {
                    let (shape, _) = broadcast_pair(&mut rng);
                    let a = values::<F>(&mut rng, &shape, trial % 2 == 0);
                    let tape = Tape::<F>::new();
                    let x = tape.var(a.clone());
                    assert_same(&a.sum(), &x.sum().value(), "sum");
                    assert_same(&a.mean(), &x.mean().value(), "mean");
                    assert_same(&a.max(), &x.max().value(), "max");
                    assert_same(&a.min(), &x.min().value(), "min");
                    let axes = random_axes(&mut rng, shape.len());
                    let keep = rng.random_bool(0.5);
                    let ctx = |op: &str| format!("{op} {shape:?} axes {axes:?} keepdim {keep}");
                    assert_same(&a.sum_axes(&axes, keep), &x.sum_axes(&axes, keep).value(), &ctx("sum_axes"));
                    assert_same(&a.mean_axes(&axes, keep), &x.mean_axes(&axes, keep).value(), &ctx("mean_axes"));
                    assert_same(&a.max_axes(&axes, keep), &x.max_axes(&axes, keep).value(), &ctx("max_axes"));
                    assert_same(&a.min_axes(&axes, keep), &x.min_axes(&axes, keep).value(), &ctx("min_axes"));
                }
            }

            #[test]
            fn matmul_matches_the_tape_with_batch_broadcasting() {
                let mut rng = StdRng::seed_from_u64(6);
                for _ in 0..60 {
                    let (ba, bb) = broadcast_pair(&mut rng);
                    let (ba, bb) = (&ba[..ba.len().min(2)], &bb[..bb.len().min(2)]);
                    let [m, k, n] = [0; 3].map(|_| rng.random_range(1..=5usize));
                    let sa = [ba, &[m, k]].concat();
                    let sb = [bb, &[k, n]].concat();
                    let sbt = [bb, &[n, k]].concat();
                    let sat = [ba, &[k, m]].concat();
                    let (a, b) = (values::<F>(&mut rng, &sa, false), values::<F>(&mut rng, &sb, false));
                    let (at, bt) = (values::<F>(&mut rng, &sat, false), values::<F>(&mut rng, &sbt, false));
                    let tape = Tape::<F>::new();
                    let [x, y, xt, yt] = [&a, &b, &at, &bt].map(|t| tape.var(t.clone()));
                    let ctx = |op: &str| format!("{op} {sa:?} {sb:?}");
                    assert_same(&a.matmul(&b), &x.matmul(y).value(), &ctx("matmul"));
                    assert_same(&at.t_matmul(&b), &xt.t_matmul(y).value(), &ctx("t_matmul"));
                    assert_same(&a.matmul_t(&bt), &x.matmul_t(yt).value(), &ctx("matmul_t"));
                }
            }

            #[test]
            fn argmax_and_argmin_pick_the_first_extreme_or_the_first_nan() {
                let nan = F::NAN;
                let row = |v: &[F]| Tensor::from_vec(v.to_vec(), &[v.len()]);
                assert_eq!(row(&[1.0, 3.0, 3.0, 0.0]).argmax(0), vec![1]);
                assert_eq!(row(&[2.0, 0.0, 5.0, 0.0]).argmin(0), vec![1]);
                assert_eq!(row(&[1.0, nan, 3.0, nan]).argmax(0), vec![1]);
                assert_eq!(row(&[1.0, nan, -3.0, nan]).argmin(-1), vec![1]);
                assert_eq!(row(&[nan, 1.0]).argmax(0), vec![0]);
                assert_eq!(row(&[F::NEG_INFINITY, F::NEG_INFINITY]).argmax(0), vec![0]);
                assert_eq!(row(&[F::INFINITY, 1.0, F::INFINITY]).argmax(0), vec![0]);
                assert_eq!(row(&[7.0]).argmin(0), vec![0]);
                // Middle axis of [2, 3, 2]: one index per (i, k), row-major.
                let t = Tensor::from_vec(
                    vec![0.0, 9.0, 5.0, 9.0, 5.0, 1.0, 2.0, nan, 2.0, 4.0, 1.0, 4.0],
                    &[2, 3, 2],
                );
                assert_eq!(t.argmax(1), vec![1, 0, 0, 0]);
                assert_eq!(t.argmin(-2), vec![0, 2, 2, 0]);
                assert_eq!(Tensor::<F>::zeros(&[0, 3]).argmax(1), Vec::<usize>::new());
            }

            #[test]
            fn argmax_agrees_with_max_axes_on_random_tensors() {
                let mut rng = StdRng::seed_from_u64(7);
                for _ in 0..100 {
                    let (shape, _) = broadcast_pair(&mut rng);
                    if shape.is_empty() {
                        continue;
                    }
                    let a = values::<F>(&mut rng, &shape, true);
                    let axis = rng.random_range(0..shape.len());
                    let (n, inner) = (shape[axis], shape[axis + 1..].iter().product::<usize>());
                    for (idx, ext, op) in [
                        (a.argmax(axis as isize), a.max_axes(&[axis as isize], false), "argmax"),
                        (a.argmin(axis as isize), a.min_axes(&[axis as isize], false), "argmin"),
                    ] {
                        assert_eq!(idx.len(), ext.numel(), "{op} {shape:?} axis {axis}");
                        for (j, (&i, &e)) in idx.iter().zip(ext.data()).enumerate() {
                            let at = |k: usize| a.data()[(j / inner * n + k) * inner + j % inner];
                            assert_eq!(at(i), e, "{op} {shape:?} axis {axis}: not the extreme");
                            assert!((0..i).all(|k| at(k) != e), "{op} {shape:?}: not the first");
                        }
                    }
                }
            }

            #[test]
            fn one_hot_marks_each_label() {
                let t = Tensor::<F>::one_hot(&[1, 0, 3, 1], 4);
                assert_eq!(t.shape(), &[4, 4]);
                assert_eq!(t.argmax(1), vec![1, 0, 3, 1]);
                assert_eq!(t.sum().item(), 4.0);
                assert_eq!(t.sum_axes(&[1], false).data(), &[1.0; 4]);
                assert_eq!(Tensor::<F>::one_hot(&[], 3).shape(), &[0, 3]);
                let msg = panic_message(|| drop(Tensor::<F>::one_hot(&[0, 5, 1], 3)));
                assert_eq!(msg, "one_hot: label 5 (at position 1) is out of range for 3 classes");
            }

            #[test]
            fn shape_errors_name_the_op_and_both_shapes() {
                let (a, b) = (Tensor::<F>::ones(&[2, 3]), Tensor::<F>::ones(&[4]));
                let cases: [(&str, Box<dyn Fn()>); 7] = [
                    ("add", Box::new(|| drop(&a + &b))),
                    ("sub", Box::new(|| drop(a.clone() - b.clone()))),
                    ("mul", Box::new(|| drop(&a * b.clone()))),
                    ("div", Box::new(|| drop(a.clone() / &b))),
                    ("maximum", Box::new(|| drop(a.maximum(&b)))),
                    ("gt", Box::new(|| drop(a.gt(&b)))),
                    ("eq_elem", Box::new(|| drop(a.eq_elem(&b)))),
                ];
                for (op, f) in cases {
                    let want = format!("{op}: shapes [2, 3] and [4] cannot be broadcast together");
                    assert_eq!(panic_message(f), want);
                }
                let msg = panic_message(|| drop(a.matmul(&a)));
                assert_eq!(msg, "matmul: inner dimensions differ: shapes [2, 3] and [2, 3]");
                let msg = panic_message(|| drop(a.argmax(2)));
                assert_eq!(msg, "argmax: axis 2 is out of range for a tensor of rank 2");
                let msg = panic_message(|| drop(Tensor::<F>::zeros(&[2, 0]).argmin(1)));
                assert_eq!(msg, "argmin: cannot reduce over empty axis 1 of shape [2, 0]");
            }
        }
    )*};
}

per_float!(f32, f64);

/// Each case's panic is reported at its own line of this file: `line!()` sits outside any
/// macro, so a panic reported inside the crate (or at a macro call site) fails the test.
fn panics_are_reported_at_the_callers_line<F: Float>() {
    let (a, b) = (Tensor::<F>::ones(&[2, 3]), Tensor::<F>::ones(&[4]));
    let (one, zero) = (F::ONE, F::ZERO);
    let cases: [(u32, (&str, u32)); 12] = [
        (line!(), panic_location(|| drop(&a + &b))),
        (line!(), panic_location(|| drop(a.clone() * b.clone()))),
        (line!(), panic_location(|| drop(a.matmul(&b)))),
        (line!(), panic_location(|| drop(a.lt(&b)))),
        (line!(), panic_location(|| drop(Tensor::where_(&a, &a, &b)))),
        (line!(), panic_location(|| drop(a.sum_axes(&[5], false)))),
        (line!(), panic_location(|| drop(a.mean_axes(&[0, 0], false)))),
        (line!(), panic_location(|| drop(a.max_axes(&[-3], false)))),
        (line!(), panic_location(|| drop(a.clamp(one, zero)))),
        (line!(), panic_location(|| drop(a.argmin(-3)))),
        (line!(), panic_location(|| drop(Tensor::<F>::one_hot(&[3], 3)))),
        (line!(), panic_location(|| drop(Tensor::<F>::zeros(&[0]).argmax(0)))),
    ];
    for (i, (line, at)) in cases.into_iter().enumerate() {
        assert_eq!(at, (file!(), line), "case {i}");
    }
}

#[test]
fn panics_are_reported_at_the_callers_line_f32() {
    panics_are_reported_at_the_callers_line::<f32>();
}

#[test]
fn panics_are_reported_at_the_callers_line_f64() {
    panics_are_reported_at_the_callers_line::<f64>();
}
