//! Function transforms: grad, value_and_grad, hessian_many, hvp_many against hand-derived
//! values and finite differences in f64; every way of passing the function compiles.

use borel_autograd::{
    Tape, Tensor, Var, grad, hessian, hessian_many, hvp, hvp_many, jacobian, jvp, value_and_grad, vjp,
};

const EPS: f64 = 1e-6;

fn close(a: &Tensor<f64>, b: &Tensor<f64>, tol: f64) {
    assert_eq!(a.shape(), b.shape());
    assert!(a.max_abs_diff(b) <= tol, "{a:?} vs {b:?}");
}

fn t(data: &[f64], shape: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(data.to_vec(), shape)
}

/// `xs` with element `i` of input `k` moved by `d`.
fn shifted(xs: &[Tensor<f64>], k: usize, i: usize, d: f64) -> Vec<Tensor<f64>> {
    let mut out = xs.to_vec();
    out[k].data_mut()[i] += d;
    out
}

/// Gradients of `f` at `xs` from a plain backward pass (the reference for second order).
fn grads_at(f: &dyn for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>, xs: &[Tensor<f64>]) -> Vec<Tensor<f64>> {
    let tape = Tape::new();
    let vars: Vec<Var<'_, f64>> = xs.iter().map(|x| tape.var(x.clone())).collect();
    let g = f(&vars).backward();
    vars.iter().map(|v| g[*v].clone()).collect()
}

fn value_at(f: fn(Var<'_, f64>) -> Var<'_, f64>, x: &Tensor<f64>) -> f64 {
    let tape = Tape::new();
    f(tape.var(x.clone())).item()
}

fn wavy(v: Var<'_, f64>) -> Var<'_, f64> {
    (v.sin() * v * v).sum() + v.matmul(v.t()).tanh().mean()
}

#[test]
fn grad_and_value_and_grad_match_finite_differences() {
    let x = t(&[0.3, -0.7, 1.1, 0.2, 0.5, -0.4], &[2, 3]);
    let (y, g) = value_and_grad(wavy, &x);
    assert_eq!(y, value_at(wavy, &x));
    let fd = Tensor::from_fn(x.shape(), |i| {
        let plus = shifted(from_one(&x), 0, i, EPS);
        let minus = shifted(from_one(&x), 0, i, -EPS);
        (value_at(wavy, &plus[0]) - value_at(wavy, &minus[0])) / (2.0 * EPS)
    });
    close(&g, &fd, 1e-7);
    assert_eq!(grad(wavy, &x).data(), g.data());
}

fn from_one(x: &Tensor<f64>) -> &[Tensor<f64>] {
    std::slice::from_ref(x)
}

#[test]
fn grad_of_hand_derived_functions() {
    // d/dx sum(x^2 * exp(x)) = (2x + x^2) exp(x)
    let x = t(&[-1.0, 0.0, 0.5], &[3]);
    let want = Tensor::from_fn(&[3], |i| {
        let v = x.data()[i];
        (2.0 * v + v * v) * v.exp()
    });
    close(&grad(|v| (v * v * v.exp()).sum(), &x), &want, 1e-14);
    // A one-element output of shape [1] counts as a scalar.
    let (y, g) = value_and_grad(|v| v.sum().reshape(&[1]) * 3.0, &x);
    assert!((y + 1.5).abs() < 1e-15);
    assert_eq!(g.data(), &[3.0, 3.0, 3.0]);
    // f32 too.
    let g32 = grad(|v| (v * v).sum(), &Tensor::from_vec(vec![1.5f32, -2.0], &[2]));
    assert_eq!(g32.data(), &[3.0f32, -4.0]);
}

#[test]
#[should_panic(expected = "grad: f must return a scalar, but its output has shape [3]")]
fn grad_of_non_scalar_panics_naming_the_shape() {
    grad(|v| v * 2.0, &t(&[1.0, 2.0, 3.0], &[3]));
}

#[test]
#[should_panic(expected = "backward: output has shape [4, 1], not a scalar: reduce it first (`.mean()`")]
fn backward_of_a_per_sample_loss_says_to_reduce_it() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::ones(&[4, 1]));
    let _ = (x * x).backward();
}

#[test]
#[should_panic(expected = "value_and_grad: f must return a scalar")]
fn value_and_grad_of_non_scalar_panics() {
    value_and_grad(|v| v * 2.0, &t(&[1.0, 2.0], &[2]));
}

/// f = sum over i, j of x_i^2 y_j, with x of shape [2] and y of shape [3].
fn outer_x2_y<'t>(v: &[Var<'t, f64>]) -> Var<'t, f64> {
    (v[0].square().reshape(&[2, 1]) * v[1].reshape(&[1, 3])).sum()
}

#[test]
fn hessian_blocks_of_sum_x2_y_are_hand_derived() {
    let (x, y) = (t(&[0.5, -2.0], &[2]), t(&[1.0, 3.0, -0.5], &[3]));
    let h = hessian_many(outer_x2_y, &[x.clone(), y.clone()]);
    assert_eq!(h.len(), 2);
    let sum_y: f64 = y.data().iter().sum();
    // d2f/dxi dxk = 2 sum(y) [i == k]; d2f/dxi dyj = 2 x_i; d2f/dy2 = 0.
    let hxx = Tensor::from_fn(&[2, 2], |n| if n / 2 == n % 2 { 2.0 * sum_y } else { 0.0 });
    let hxy = Tensor::from_fn(&[2, 3], |n| 2.0 * x.data()[n / 3]);
    let hyx = Tensor::from_fn(&[3, 2], |n| 2.0 * x.data()[n % 2]);
    close(&h[0][0], &hxx, 1e-14);
    close(&h[0][1], &hxy, 1e-14);
    close(&h[1][0], &hyx, 1e-14);
    close(&h[1][1], &Tensor::zeros(&[3, 3]), 0.0);
}

#[test]
fn hessian_of_elementwise_x2_y_has_diagonal_cross_blocks() {
    // f = sum(x^2 y) elementwise: H_xx = diag(2y), H_xy = H_yx = diag(2x), H_yy = 0.
    let (x, y) = (t(&[1.0, -2.0, 0.5], &[3]), t(&[3.0, 0.25, -1.0], &[3]));
    let h = hessian_many(|v| (v[0] * v[0] * v[1]).sum(), &[x.clone(), y.clone()]);
    let diag =
        |d: &Tensor<f64>, s: f64| Tensor::from_fn(&[3, 3], |n| if n / 3 == n % 3 { s * d.data()[n / 3] } else { 0.0 });
    close(&h[0][0], &diag(&y, 2.0), 1e-14);
    close(&h[0][1], &diag(&x, 2.0), 1e-14);
    close(&h[1][0], &diag(&x, 2.0), 1e-14);
    close(&h[1][1], &Tensor::zeros(&[3, 3]), 0.0);
}

fn coupled<'t>(v: &[Var<'t, f64>]) -> Var<'t, f64> {
    v[0].matmul(v[1]).tanh().sum() + (v[0].sin() * v[0]).sum() * v[2].exp().sum()
}

fn coupled_inputs() -> Vec<Tensor<f64>> {
    vec![
        t(&[0.3, -0.7, 1.1, 0.2, 0.5, -0.4], &[2, 3]),
        t(&[0.1, 0.9, -0.6, 0.4, 0.2, -1.2], &[3, 2]),
        Tensor::scalar(0.35),
    ]
}

#[test]
fn hessian_blocks_match_finite_differences_and_are_transposes() {
    let xs = coupled_inputs();
    let h = hessian_many(coupled, &xs);
    for (j, xj) in xs.iter().enumerate() {
        for e in 0..xj.numel() {
            // Column (j, e) of H is d grad / d xj[e].
            let gp = grads_at(&coupled, &shifted(&xs, j, e, EPS));
            let gm = grads_at(&coupled, &shifted(&xs, j, e, -EPS));
            for (i, xi) in xs.iter().enumerate() {
                assert_eq!(h[i][j].shape(), [xi.shape(), xj.shape()].concat().as_slice());
                assert_eq!(h[j][i].shape(), [xj.shape(), xi.shape()].concat().as_slice());
                for d in 0..xi.numel() {
                    let fd = (gp[i].data()[d] - gm[i].data()[d]) / (2.0 * EPS);
                    let ana = h[i][j].data()[d * xj.numel() + e];
                    assert!((ana - fd).abs() < 1e-6, "H[{i}][{j}][{d}, {e}] = {ana} vs fd {fd}");
                    assert!((ana - h[j][i].data()[e * xi.numel() + d]).abs() < 1e-12);
                }
            }
        }
    }
}

#[test]
fn single_input_hessian_is_the_only_block() {
    let x = t(&[0.3, -0.7, 1.1, 0.2], &[2, 2]);
    let h = hessian_many(|v| wavy(v[0]), from_one(&x));
    assert_eq!(hessian(wavy, &x).data(), h[0][0].data());
    assert_eq!(h[0][0].shape(), &[2, 2, 2, 2]);
}

#[test]
fn hvp_many_is_the_hessian_times_the_stacked_vector() {
    let xs = coupled_inputs();
    let vs = vec![
        t(&[1.0, 0.5, -0.3, 0.2, -1.0, 0.7], &[2, 3]),
        t(&[-0.4, 0.8, 0.1, 0.3, -0.9, 0.6], &[3, 2]),
        Tensor::scalar(-1.5),
    ];
    let hv = hvp_many(coupled, &xs, &vs);
    let h = hessian_many(coupled, &xs);
    for (i, xi) in xs.iter().enumerate() {
        let want = Tensor::from_fn(xi.shape(), |d| {
            let row = |j: usize| -> f64 {
                let n = xs[j].numel();
                (0..n).map(|e| h[i][j].data()[d * n + e] * vs[j].data()[e]).sum()
            };
            (0..xs.len()).map(row).sum()
        });
        close(&hv[i], &want, 1e-12);
    }
    // Against finite differences of the gradient along the stacked direction.
    let along = |s: f64| -> Vec<Tensor<f64>> {
        xs.iter()
            .zip(&vs)
            .map(|(x, v)| Tensor::from_fn(x.shape(), |n| x.data()[n] + s * v.data()[n]))
            .collect()
    };
    let (gp, gm) = (grads_at(&coupled, &along(EPS)), grads_at(&coupled, &along(-EPS)));
    for i in 0..xs.len() {
        let fd = Tensor::from_fn(xs[i].shape(), |n| (gp[i].data()[n] - gm[i].data()[n]) / (2.0 * EPS));
        close(&hv[i], &fd, 1e-6);
    }
}

#[test]
fn hvp_of_a_linear_function_is_zero() {
    let xs = [t(&[1.0, 2.0], &[2]), t(&[3.0], &[1])];
    let hv = hvp_many(
        |v| v[0].sum() * 2.0 - v[1].sum(),
        &xs,
        &[t(&[1.0, 1.0], &[2]), t(&[1.0], &[1])],
    );
    close(&hv[0], &Tensor::zeros(&[2]), 0.0);
    close(&hv[1], &Tensor::zeros(&[1]), 0.0);
}

#[test]
#[should_panic(expected = "hvp: vector 0 has shape [3] but input 0 has shape [2]")]
fn hvp_with_a_vector_of_another_shape_panics() {
    hvp(|v| v.square().sum(), &t(&[1.0, 2.0], &[2]), &t(&[1.0, 2.0, 3.0], &[3]));
}

#[test]
#[should_panic(expected = "hvp: 2 inputs but 1 vectors")]
fn hvp_many_with_too_few_vectors_panics() {
    let x = t(&[1.0], &[1]);
    hvp_many(|v| (v[0] * v[1]).sum(), &[x.clone(), x.clone()], &[x]);
}

#[test]
#[should_panic(expected = "jvp: tangent 0 has shape [1] but input 0 has shape [2]")]
fn jvp_with_a_tangent_of_another_shape_panics() {
    jvp(|v| v.sin(), &t(&[1.0, 2.0], &[2]), &t(&[1.0], &[1]));
}

#[test]
#[should_panic(expected = "hessian: f must return a scalar, but its output has shape [2]")]
fn hessian_of_non_scalar_panics() {
    hessian(|v| v * v, &t(&[1.0, 2.0], &[2]));
}

/// Each transform on `f = sum((k x)^3)`: gradient 3 k^3 x^2, Hessian diag(6 k^3 x).
fn all_single_input(f: &dyn Fn(Var<'_, f64>) -> Var<'_, f64>, k: f64) {
    let x = t(&[1.0, 2.0], &[2]);
    let u = t(&[1.0, -1.0], &[2]);
    let k3 = k * k * k;
    close(&grad(f, &x), &t(&[3.0 * k3, 12.0 * k3], &[2]), 1e-12);
    assert!((value_and_grad(f, &x).0 - 9.0 * k3).abs() < 1e-12);
    close(&hessian(f, &x), &t(&[6.0 * k3, 0.0, 0.0, 12.0 * k3], &[2, 2]), 1e-12);
    close(&hvp(f, &x, &u), &t(&[6.0 * k3, -12.0 * k3], &[2]), 1e-12);
    close(&jacobian(f, &x), &t(&[3.0 * k3, 12.0 * k3], &[2]), 1e-12);
    close(
        &vjp(f, &x, &Tensor::scalar(2.0)).1,
        &t(&[6.0 * k3, 24.0 * k3], &[2]),
        1e-12,
    );
    close(&jvp(f, &x, &u).1, &Tensor::scalar(-9.0 * k3), 1e-12);
}

fn cubes(v: Var<'_, f64>) -> Var<'_, f64> {
    v.powf(3.0).sum()
}

#[test]
fn every_way_of_passing_a_function_compiles_and_agrees() {
    // fn item, inline closure, and let-bound closures with the signature on the binding.
    all_single_input(&cubes, 1.0);
    let k = 2.0;
    all_single_input(&|v| (v * k).powf(3.0).sum(), k);
    let plain: fn(Var<'_, f64>) -> Var<'_, f64> = |v| v.powf(3.0).sum();
    let capturing: &dyn Fn(Var<'_, f64>) -> Var<'_, f64> = &|v| (v * k).powf(3.0).sum();
    // The same binding goes to several transforms, by value.
    assert_eq!(grad(plain, &t(&[2.0], &[1])).data(), &[12.0]);
    assert_eq!(hessian(plain, &t(&[2.0], &[1])).data(), &[12.0]);
    assert_eq!(grad(capturing, &t(&[1.0], &[1])).data(), &[24.0]);
    assert_eq!(hvp(capturing, &t(&[1.0], &[1]), &t(&[1.0], &[1])).data(), &[48.0]);
    // Inline closures straight into the calls.
    assert_eq!(grad(|v| (v * k).sum(), &t(&[5.0], &[1])).data(), &[2.0]);
    assert_eq!(hessian(|v| (v * v * k).sum(), &t(&[5.0], &[1])).data(), &[4.0]);
}

#[test]
fn every_way_of_passing_a_many_input_function_compiles() {
    let xs = [Tensor::scalar(3.0), Tensor::scalar(5.0)];
    let vs = [Tensor::scalar(1.0), Tensor::scalar(0.0)];
    let k = 1.0;
    let plain: for<'t> fn(&[Var<'t, f64>]) -> Var<'t, f64> = |v| v[0] * v[0] * v[1];
    let capturing: &dyn for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64> = &|v| v[0] * v[0] * v[1] * k;
    for h in [
        hessian_many(plain, &xs),
        hessian_many(capturing, &xs),
        hessian_many(|v| v[0] * v[0] * v[1] * k, &xs),
    ] {
        assert_eq!(h[0][1].item(), 6.0);
    }
    for hv in [hvp_many(plain, &xs, &vs), hvp_many(capturing, &xs, &vs)] {
        assert_eq!([hv[0].item(), hv[1].item()], [10.0, 6.0]);
    }
}
