//! Forward mode against reverse mode in f64: `jvp` and `jacfwd` against vector-Jacobian
//! products and `jacobian`, the forward-over-reverse `hvp` against reverse-over-reverse
//! products and the Hessian's columns, on MLPs (unfused and fused dense layers) and
//! on user ops; tangents recorded with `create_graph` differentiate again.

use borel_autograd::{
    CustomFn, CustomVarFn, DenseAct, Tape, Tensor, Var, func, hessian, hessian_many, hvp, hvp_many, jacfwd, jacobian,
    jvp, jvp_many,
};

fn close(a: &Tensor<f64>, b: &Tensor<f64>, tol: f64) {
    assert_eq!(a.shape(), b.shape());
    assert!(a.max_abs_diff(b) <= tol, "{a:?} vs {b:?}");
}

/// Deterministic values in `[-1, 1)` of `shape`, different for each `seed`.
fn wave(shape: &[usize], seed: f64) -> Tensor<f64> {
    Tensor::from_fn(shape, |i| ((i as f64 + 1.0) * 0.731 + seed * 1.37).sin())
}

/// `tanh(x w1 + b1) w2 + b2`, with its parameters as constants.
fn mlp<'t>(x: Var<'t, f64>, fused: bool) -> Var<'t, f64> {
    let tape = x.tape();
    let (i, h, o) = (x.shape()[1], 16, 5);
    let w1 = tape.constant(wave(&[i, h], 1.0) * 0.5);
    let b1 = tape.constant(wave(&[h], 2.0) * 0.1);
    let w2 = tape.constant(wave(&[h, o], 3.0) * 0.5);
    let b2 = tape.constant(wave(&[o], 4.0) * 0.1);
    if fused {
        x.dense(w1, Some(b1), DenseAct::Tanh)
            .dense(w2, Some(b2), DenseAct::Linear)
    } else {
        (x.matmul(w1) + b1).tanh().matmul(w2) + b2
    }
}

/// `J u` from reverse mode: one vector-Jacobian product per output element.
fn reverse_jvp(
    f: &dyn for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>,
    xs: &[Tensor<f64>],
    us: &[Tensor<f64>],
) -> Tensor<f64> {
    let tape = Tape::new();
    let vars: Vec<Var<'_, f64>> = xs.iter().map(|x| tape.var(x.clone())).collect();
    let y = f(&vars);
    let shape = y.shape();
    let m: usize = shape.iter().product();
    let data = (0..m)
        .map(|j| {
            let seed = Tensor::from_fn(&shape, |i| if i == j { 1.0 } else { 0.0 });
            let g = tape.grad_with(y, seed, &vars, false);
            g.iter()
                .zip(us)
                .map(|(g, u)| g.value().data().iter().zip(u.data()).map(|(a, b)| a * b).sum::<f64>())
                .sum()
        })
        .collect();
    Tensor::from_vec(data, &shape)
}

/// The Hessian blocks of a scalar `f` by reverse over reverse (rows of the recorded gradient).
fn reverse_hessian(f: &dyn for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>, xs: &[Tensor<f64>]) -> Vec<Vec<Tensor<f64>>> {
    let tape = Tape::new();
    let vars: Vec<Var<'_, f64>> = xs.iter().map(|x| tape.var(x.clone())).collect();
    let g = tape.grad(f(&vars), &vars, true);
    g.iter()
        .map(|gi| {
            let shape = gi.shape();
            let m: usize = shape.iter().product();
            let mut data: Vec<Vec<f64>> = vec![Vec::new(); vars.len()];
            for j in 0..m {
                let seed = Tensor::from_fn(&shape, |i| if i == j { 1.0 } else { 0.0 });
                for (d, r) in data.iter_mut().zip(tape.grad_with(*gi, seed, &vars, false)) {
                    d.extend_from_slice(r.value().data());
                }
            }
            data.into_iter()
                .zip(&vars)
                .map(|(d, v)| Tensor::from_vec(d, &[shape.as_slice(), v.shape().as_slice()].concat()))
                .collect()
        })
        .collect()
}

#[test]
fn jvp_of_an_mlp_is_the_reverse_mode_product() {
    let x = wave(&[3, 4], 5.0);
    let u = wave(&[3, 4], 6.0);
    for fused in [false, true] {
        let (y, d) = jvp(|v| mlp(v, fused), &x, &u);
        let tape = Tape::new();
        assert_eq!(y, mlp(tape.constant(x.clone()), fused).value());
        close(
            &d,
            &reverse_jvp(
                &|v| mlp(v[0], fused),
                std::slice::from_ref(&x),
                std::slice::from_ref(&u),
            ),
            1e-12,
        );
    }
}

#[test]
fn jvp_through_fused_dense_moves_weights_and_bias_too() {
    let xs = [wave(&[2, 3], 1.0), wave(&[3, 4], 2.0), wave(&[4], 3.0)];
    let us = [wave(&[2, 3], 4.0), wave(&[3, 4], 5.0), wave(&[4], 6.0)];
    for act in [DenseAct::Linear, DenseAct::Relu, DenseAct::Sigmoid, DenseAct::Tanh] {
        let f: &dyn for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64> = &|v| v[0].dense(v[1], Some(v[2]), act);
        let (_, d) = jvp_many(|v| v[0].dense(v[1], Some(v[2]), act), &xs, &us);
        close(&d, &reverse_jvp(f, &xs, &us), 1e-12);
        // A subset of the inputs moving: the others' tangents are zero.
        let zero = [us[0].clone(), Tensor::zeros(&[3, 4]), us[2].clone()];
        let (_, d) = jvp_many(|v| v[0].dense(v[1], Some(v[2]), act), &xs, &zero);
        close(&d, &reverse_jvp(f, &xs, &zero), 1e-12);
    }
}

#[test]
fn jacfwd_equals_jacobian_of_an_mlp_with_many_outputs() {
    let x = wave(&[1, 2], 7.0);
    for fused in [false, true] {
        let f = func(move |v| mlp(v, fused));
        let j = jacfwd(f, &x);
        assert_eq!(j.shape(), &[1, 5, 1, 2]);
        close(&j, &jacobian(f, &x), 1e-12);
    }
    // Outputs of another rank than the inputs, and an output that ignores part of its input.
    let x = wave(&[2, 3], 8.0);
    let g = func(|v| {
        Var::stack(
            &[
                v.sum_axes(&[0], false).exp(),
                v.slice(0, 0, 1).reshape(&[3]).sin() + 1.0,
            ],
            0,
        )
    });
    close(&jacfwd(g, &x), &jacobian(g, &x), 1e-12);
}

/// A scalar loss of an MLP's input, through every kind of node the Hessian has to cross.
fn loss<'t>(v: &[Var<'t, f64>]) -> Var<'t, f64> {
    let h = mlp(v[0], false);
    (h * v[1]).tanh().square().mean() + mlp(v[0], true).softmax(-1).max() + (v[1].sin() * v[1]).sum()
}

#[test]
fn hessian_equals_the_reference_and_its_columns_are_forward_over_reverse_hvps() {
    let xs = [wave(&[2, 3], 9.0), wave(&[2, 5], 10.0)];
    let want = reverse_hessian(&loss, &xs);
    let got = hessian_many(loss, &xs);
    for (gi, wi) in got.iter().zip(&want) {
        for (g, w) in gi.iter().zip(wi) {
            close(g, w, 1e-12);
        }
    }
    // Column (k, q) of the blocks is H e_(k, q), by forward over reverse.
    for (k, x) in xs.iter().enumerate() {
        let n = x.data().len();
        for q in 0..n {
            let es: Vec<Tensor<f64>> = xs
                .iter()
                .enumerate()
                .map(|(j, xj)| Tensor::from_fn(xj.shape(), |i| if j == k && i == q { 1.0 } else { 0.0 }))
                .collect();
            for (i, col) in hvp_many(loss, &xs, &es).iter().enumerate() {
                let block = &got[i][k];
                let want: Vec<f64> = (0..col.data().len()).map(|p| block.data()[p * n + q]).collect();
                close(col, &Tensor::from_vec(want, col.shape()), 1e-12);
            }
        }
    }
    let single = hessian(|v| mlp(v, true).tanh().sum(), &xs[0]);
    close(
        &single,
        &reverse_hessian(&|v| mlp(v[0], true).tanh().sum(), &xs[..1])[0][0],
        1e-12,
    );
}

#[test]
fn forward_over_reverse_hvp_equals_reverse_over_reverse() {
    let xs = [wave(&[2, 3], 11.0), wave(&[2, 5], 12.0)];
    let vs = [wave(&[2, 3], 13.0), wave(&[2, 5], 14.0)];
    let tape = Tape::new();
    let vars: Vec<Var<'_, f64>> = xs.iter().map(|x| tape.var(x.clone())).collect();
    let g = tape.grad(loss(&vars), &vars, true);
    let gv = (g[0] * tape.constant(vs[0].clone())).sum() + (g[1] * tape.constant(vs[1].clone())).sum();
    let want = tape.grad(gv, &vars, false);
    for (h, w) in hvp_many(loss, &xs, &vs).iter().zip(&want) {
        close(h, &w.value(), 1e-12);
    }
    let single = hvp(|v| mlp(v, false).tanh().sum(), &xs[0], &vs[0]);
    let h = hessian(|v| mlp(v, false).tanh().sum(), &xs[0]);
    let hv: Vec<f64> = (0..6)
        .map(|i| (0..6).map(|j| h.data()[i * 6 + j] * vs[0].data()[j]).sum())
        .collect();
    close(&single, &Tensor::from_vec(hv, &[2, 3]), 1e-12);
}

#[test]
fn recorded_tangents_differentiate_again() {
    // Reverse over forward: the gradient of <J u, 1> for a scalar f is H u.
    let x = wave(&[2, 3], 15.0);
    let u = wave(&[2, 3], 16.0);
    let tape = Tape::new();
    let xv = tape.var(x.clone());
    let y = mlp(xv, true).tanh().sum();
    let d = tape.jvp(&[y], &[xv], std::slice::from_ref(&u), true)[0];
    let hu = tape.grad(d, &[xv], false)[0].value();
    close(&hu, &hvp(|v| mlp(v, true).tanh().sum(), &x, &u), 1e-12);
}

#[test]
fn user_ops_get_tangents_from_their_backward() {
    let cube = CustomFn::<f64>::new(
        "cube",
        |x| x[0].map(|v| v * v * v),
        |x, _y, g| {
            vec![Tensor::from_fn(x[0].shape(), |i| {
                3.0 * x[0].data()[i].powi(2) * g.data()[i]
            })]
        },
    );
    let cube_var = CustomVarFn::<f64>::new("cube", |x| x[0].powf(3.0), |x, _y, g| vec![g * x[0].square() * 3.0]);
    let x = wave(&[2, 2], 17.0);
    let u = wave(&[2, 2], 18.0);
    let want: Vec<f64> = x.data().iter().zip(u.data()).map(|(x, u)| 3.0 * x * x * u).collect();
    let want = Tensor::from_vec(want, &[2, 2]);
    let (_, d) = jvp(|v| v.tape().custom(cube.clone(), &[v]), &x, &u);
    close(&d, &want, 1e-12);
    let (_, d) = jvp(|v| v.tape().custom_var(cube_var.clone(), &[v]), &x, &u);
    close(&d, &want, 1e-12);
    // Through the double-vjp trick the tangent is recorded too: H u of sum(x^3) is 6 x u.
    let h = hvp(|v| v.tape().custom_var(cube_var.clone(), &[v]).sum(), &x, &u);
    let want: Vec<f64> = x.data().iter().zip(u.data()).map(|(x, u)| 6.0 * x * u).collect();
    close(&h, &Tensor::from_vec(want, &[2, 2]), 1e-12);
}

#[test]
#[should_panic(expected = "custom op 'cube': its backward is written on tensors")]
fn recording_the_tangent_of_a_tensor_backward_panics_naming_the_op() {
    let cube = CustomFn::<f64>::new("cube", |x| x[0].map(|v| v * v * v), |x, _y, g| vec![x[0] * g]);
    let tape = Tape::new();
    let x = tape.var(Tensor::scalar(2.0));
    let y = tape.custom(cube, &[x]);
    tape.jvp(&[y], &[x], &[Tensor::scalar(1.0)], true);
}

#[test]
#[should_panic(expected = "jvp: wrt 0 is not a var leaf (made with Tape::var)")]
fn jvp_with_respect_to_an_intermediate_panics() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::scalar(2.0));
    let y = x.sin();
    tape.jvp(&[y], &[y], &[Tensor::scalar(1.0)], false);
}

#[test]
fn an_output_that_does_not_depend_on_the_input_has_a_zero_tangent() {
    let (y, d) = jvp(
        |v| v.tape().constant(Tensor::ones(&[3])) * 2.0,
        &wave(&[2], 1.0),
        &wave(&[2], 2.0),
    );
    assert_eq!(y.data(), &[2.0, 2.0, 2.0]);
    assert_eq!(d.data(), &[0.0, 0.0, 0.0]);
}
