//! Tape semantics: higher-order gradients, accumulation, no_grad/detach, zero gradients,
//! errors that name the op and both shapes at the caller's line.

use borel_autograd::{Tape, Tensor, Var, hessian, hvp, jacobian, jvp, vjp};

#[path = "common/panic_site.rs"]
mod panic_site;
use panic_site::panic_site;

#[test]
fn hessian_of_sum_of_cubes_is_diag_6x() {
    let x = Tensor::from_vec(vec![0.5, -1.0, 2.0], &[3]);
    let h = hessian(|v| v.powf(3.0).sum(), &x);
    assert_eq!(h.shape(), &[3, 3]);
    for i in 0..3 {
        for j in 0..3 {
            let want: f64 = if i == j { 6.0 * x.data()[i] } else { 0.0 };
            assert!(
                (h.at(&[i, j]) - want).abs() < 1e-12,
                "H[{i},{j}] = {} want {want}",
                h.at(&[i, j])
            );
        }
    }
    // The same through x*x*x, which accumulates three uses of x.
    let h2 = hessian(|v| (v * v * v).sum(), &x);
    assert!(h2.max_abs_diff(&h) < 1e-12);
}

#[test]
fn hvp_matches_finite_differences_of_gradients() {
    fn f<'t>(v: Var<'t, f64>) -> Var<'t, f64> {
        (v.matmul(v.t()).matmul(v) * v.sin()).sum() + v.exp().sum().log()
    }
    let x = Tensor::from_vec(vec![0.3, -0.7, 1.1, 0.2, 0.5, -0.4], &[2, 3]);
    let u = Tensor::from_vec(vec![1.0, 0.5, -0.3, 0.2, -1.0, 0.7], &[2, 3]);
    let got = hvp(f, &x, &u);
    let grad_at = |x: &Tensor<f64>| {
        let tape = Tape::new();
        let xv = tape.var(x.clone());
        f(xv).backward()[xv].clone()
    };
    let eps = 1e-6;
    let plus = Tensor::from_fn(x.shape(), |i| x.data()[i] + eps * u.data()[i]);
    let minus = Tensor::from_fn(x.shape(), |i| x.data()[i] - eps * u.data()[i]);
    let (gp, gm) = (grad_at(&plus), grad_at(&minus));
    let fd = Tensor::from_fn(x.shape(), |i| (gp.data()[i] - gm.data()[i]) / (2.0 * eps));
    assert!(got.max_abs_diff(&fd) < 1e-7, "hvp {got:?} vs fd {fd:?}");
    // H u from the full Hessian agrees too.
    let h = hessian(f, &x);
    let hu = Tensor::from_fn(&[6], |i| (0..6).map(|j| h.data()[i * 6 + j] * u.data()[j]).sum());
    assert!(hu.reshape(&[2, 3]).max_abs_diff(&got) < 1e-12);
}

#[test]
fn third_derivative_of_sin_is_minus_cos() {
    for &x0 in &[-2.0, 0.0, 0.4, 1.3] {
        let tape = Tape::<f64>::new();
        let x = tape.var(Tensor::scalar(x0));
        let d1 = tape.grad(x.sin(), &[x], true)[0];
        let d2 = tape.grad(d1, &[x], true)[0];
        let d3 = tape.grad(d2, &[x], true)[0];
        assert!((d1.item() - x0.cos()).abs() < 1e-14);
        assert!((d2.item() + x0.sin()).abs() < 1e-14);
        assert!((d3.item() + x0.cos()).abs() < 1e-14);
    }
}

#[test]
fn jacobian_vjp_jvp_agree() {
    fn f<'t>(v: Var<'t, f64>) -> Var<'t, f64> {
        (v.matmul(v.t()) * 0.5).tanh()
    }
    let x = Tensor::from_vec(vec![0.1, 0.2, -0.3, 0.4], &[2, 2]);
    let j = jacobian(f, &x); // [2,2,2,2]
    let u = Tensor::from_vec(vec![1.0, -1.0, 0.5, 2.0], &[2, 2]);
    let (_, ju) = jvp(f, &x, &u);
    let (_, utj) = vjp(f, &x, &u);
    for o in 0..4 {
        let want: f64 = (0..4).map(|i| j.data()[o * 4 + i] * u.data()[i]).sum();
        assert!((ju.data()[o] - want).abs() < 1e-12);
        let want_t: f64 = (0..4).map(|i| j.data()[i * 4 + o] * u.data()[i]).sum();
        assert!((utj.data()[o] - want_t).abs() < 1e-12);
    }
}

#[test]
fn gradients_accumulate_over_uses() {
    let tape = Tape::<f32>::new();
    let x = tape.var(Tensor::from_vec(vec![1.0, 2.0], &[2]));
    let y = (x + x * 3.0 + x.sum()).sum();
    assert_eq!(y.backward()[x].data(), &[6.0, 6.0]);
}

#[test]
fn unused_var_gets_explicit_zero_gradient() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::ones(&[2]));
    let unused = tape.var(Tensor::ones(&[3, 1]));
    let y = x.exp().sum();
    let g = y.backward();
    assert_eq!(g[unused].data(), &[0.0, 0.0, 0.0]);
    assert_eq!(tape.grad(y, &[unused], true)[0].value().data(), &[0.0; 3]);
    // A var created after the output cannot influence it either.
    let later = tape.var(Tensor::ones(&[1]));
    assert_eq!(y.backward()[later].data(), &[0.0]);
}

#[test]
fn output_without_inputs_gives_zero_gradients() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::ones(&[2]));
    let c = tape.constant(Tensor::ones(&[2])).sum();
    assert_eq!(c.backward()[x].data(), &[0.0, 0.0]);
}

#[test]
fn no_grad_and_detach_stop_gradients() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::scalar(3.0));
    let frozen = tape.no_grad(|| x * x);
    assert!(!frozen.requires_grad());
    assert!(tape.is_recording());
    let y = x * frozen + x.detach() * x;
    // d/dx (9x + 3x) = 12
    assert_eq!(y.backward()[x].item(), 12.0);
}

#[test]
fn no_grad_restores_recording_after_panic() {
    let tape = Tape::<f64>::new();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tape.no_grad(|| panic!("boom"))));
    assert!(r.is_err());
    assert!(tape.is_recording());
}

#[test]
fn vector_jacobian_product_of_non_scalar_output() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::from_vec(vec![1.0, 2.0], &[2]));
    let y = x * x;
    let g = y.backward_with(Tensor::from_vec(vec![1.0, 10.0], &[2]));
    assert_eq!(g[x].data(), &[2.0, 40.0]);
}

#[test]
fn intermediate_gradients_via_grad() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::scalar(2.0));
    let h = x * x;
    let y = h.sin();
    let g = tape.grad(y, &[h, x], false);
    assert!((g[0].item() - 4f64.cos()).abs() < 1e-15);
    assert!((g[1].item() - 4.0 * 4f64.cos()).abs() < 1e-15);
    assert!(y.backward().get(h).is_none());
}

#[test]
fn tape_reset_reuses_the_allocation() {
    let mut tape = Tape::<f32>::new();
    for _ in 0..3 {
        let x = tape.var(Tensor::ones(&[4]));
        let y = (x * 2.0).sum();
        assert_eq!(y.backward()[x].data(), &[2.0; 4]);
        assert_eq!(tape.len(), 3);
        tape.reset();
    }
}

#[test]
fn shape_mismatch_names_op_and_shapes_at_callers_line() {
    let tape = Tape::<f32>::new();
    let a = tape.var(Tensor::zeros(&[2, 3]));
    let b = tape.var(Tensor::zeros(&[4]));
    let (msg, file, line) = panic_site(|| {
        let _ = a + b;
    });
    assert_eq!(msg, "add: shapes [2, 3] and [4] cannot be broadcast together");
    assert!(file.ends_with("tests/tape.rs"), "reported in {file}");
    assert_eq!(line, line!() - 4);

    let w = tape.var(Tensor::zeros(&[4, 5]));
    let (msg, file, line) = panic_site(|| {
        let _ = a.matmul(w);
    });
    assert_eq!(msg, "matmul: inner dimensions differ: shapes [2, 3] and [4, 5]");
    assert!(file.ends_with("tests/tape.rs"));
    assert_eq!(line, line!() - 4);

    let (msg, _, line) = panic_site(|| {
        let _ = a.reshape(&[7]);
    });
    assert_eq!(msg, "reshape: cannot view shape [2, 3] as [7]");
    assert_eq!(line, line!() - 3);
}

#[test]
fn mixing_tapes_panics_with_the_op_name() {
    let t1 = Tape::<f64>::new();
    let t2 = Tape::<f64>::new();
    let a = t1.var(Tensor::scalar(1.0));
    let b = t2.var(Tensor::scalar(1.0));
    let (msg, file, _) = panic_site(|| {
        let _ = a * b;
    });
    assert_eq!(msg, "mul: operands belong to different tapes");
    assert!(file.ends_with("tests/tape.rs"));
    let y = a.exp();
    let (msg, _, _) = panic_site(|| {
        let _ = t1.grad(y, &[b], false);
    });
    assert_eq!(msg, "grad: operands belong to different tapes");
    let g = y.backward();
    let (msg, _, _) = panic_site(|| {
        let _ = &g[b];
    });
    assert!(
        msg.starts_with("GradStore: var #0 belongs to tape recording #"),
        "{msg}"
    );
}

#[test]
fn backward_of_non_scalar_needs_a_seed() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::ones(&[2]));
    let (msg, _, _) = panic_site(|| {
        let _ = (x * 2.0).backward();
    });
    assert!(msg.starts_with("backward: output has shape [2]"), "{msg}");
}

#[test]
fn f32_and_f64_agree() {
    fn run<F: borel_autograd::Float>() -> Vec<f64> {
        let tape = Tape::<F>::new();
        let x = tape.var(Tensor::from_vec(
            vec![0.5, -0.25, 1.0, 2.0].into_iter().map(F::from_f64).collect(),
            &[2, 2],
        ));
        let y = (x.matmul(x).sigmoid() + x.softmax(-1)).logsumexp();
        y.backward()[x].data().iter().map(|v| v.to_f64()).collect()
    }
    let (a, b) = (run::<f32>(), run::<f64>());
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-6, "{a:?} vs {b:?}");
    }
}

#[test]
fn stable_sigmoid_softplus_and_softmax_at_extremes() {
    let tape = Tape::<f32>::new();
    let x = tape.var(Tensor::from_vec(vec![-1000.0, 1000.0], &[2]));
    assert_eq!(x.sigmoid().value().data(), &[0.0, 1.0]);
    assert_eq!(x.softplus().value().data(), &[0.0, 1000.0]);
    let p = x.softmax(0).value();
    assert_eq!(p.data(), &[0.0, 1.0]);
    let g = x.softplus().sum().backward();
    assert!(g[x].all_finite());
}

#[test]
fn gradients_of_an_earlier_recording_are_refused_after_reset() {
    let mut tape = Tape::<f64>::new();
    let grads = {
        let a = tape.var(Tensor::scalar(3.0));
        (a * a).backward()
    };
    tape.reset();
    let b = tape.var(Tensor::scalar(5.0)); // the same node id as `a`
    let by_get = panic_site(|| {
        let _ = grads.get(b);
    });
    let by_index = panic_site(|| {
        let _ = &grads[b];
    });
    for (msg, file, _) in [by_get, by_index] {
        assert!(msg.contains("(another tape, or this one before Tape::reset)"), "{msg}");
        assert!(file.ends_with("tests/tape.rs"), "reported in {file}");
    }
}

/// `grad` with many `wrt` vars costs about what `backward` does: it was quadratic (a lookup
/// in the `wrt` list per node; 40,000 vars took 20 times as long as backward). A generous
/// ratio, not a speed: the best of three runs of each, and 10x allowed where linear code
/// takes about 2x and the quadratic one took about 40x at this size.
#[test]
fn grad_is_linear_in_the_number_of_wrt_vars() {
    let tape = Tape::<f64>::new();
    let xs: Vec<Var<'_, f64>> = (0..80_000).map(|i| tape.var(Tensor::scalar(i as f64))).collect();
    let y = xs.iter().fold(tape.scalar(0.0), |acc, &x| acc + x * x);
    let best = |f: &dyn Fn()| {
        (0..3)
            .map(|_| {
                let start = std::time::Instant::now();
                f();
                start.elapsed()
            })
            .min()
            .expect("three runs")
    };
    let backward = best(&|| drop(y.backward()));
    let grad = best(&|| {
        let g = tape.grad(y, &xs, false);
        assert_eq!(g[7].item(), 14.0);
    });
    assert!(
        grad < backward * 10,
        "grad with {} vars took {grad:?}, backward {backward:?}",
        xs.len()
    );
}
