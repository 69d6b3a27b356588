use borel_autograd::*;

#[test]
fn readme_example() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3]));
    let c = tape.constant(Tensor::scalar(2.0));
    let y = (x.sin() * x + c).sum();
    let grads = y.backward();
    let dx = &grads[x];
    for (i, xv) in [1.0f64, 2.0, 3.0].iter().enumerate() {
        assert!((dx.data()[i] - (xv.sin() + xv * xv.cos())).abs() < 1e-12);
    }
    let g = tape.grad(y, &[x], true);
    let v = tape.constant(Tensor::ones(&[3]));
    let hvp = (g[0] * v).sum().backward();
    for (i, xv) in [1.0f64, 2.0, 3.0].iter().enumerate() {
        assert!((hvp[x].data()[i] - (2.0 * xv.cos() - xv * xv.sin())).abs() < 1e-12);
    }
}

#[test]
fn mlp_grads() {
    let tape = Tape::<f64>::new();
    let x = Tensor::from_vec(vec![0.5, -1.0, 0.3, 0.9], &[2, 2]);
    let w1 = Tensor::from_vec(vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6], &[2, 3]);
    let b1 = Tensor::from_vec(vec![0.1, -0.1, 0.2], &[3]);
    let w2 = Tensor::from_vec(vec![1.0, -1.0, 0.5], &[3, 1]);
    gradcheck(
        |v| {
            let h = (v[0].matmul(v[1]) + v[2]).tanh();
            (h.matmul(v[3]) - 1.0).square().mean()
        },
        &[x.clone(), w1.clone(), b1.clone(), w2.clone()],
        &GradcheckOptions::default(),
    )
    .assert();
    gradgradcheck(
        |v| {
            let h = (v[0].matmul(v[1]) + v[2]).tanh();
            (h.matmul(v[3]) - 1.0).square().mean()
        },
        &[x, w1, b1, w2],
        &GradcheckOptions::default(),
    )
    .assert();
    let _ = tape;
}
