//! Optimizers against reference trajectories (tests/fixtures/make_trajectories.py, from
//! PyTorch's and Keras' update formulas), resume from saved state, schedules and clipping.

use std::collections::BTreeMap;

use borel_autograd::Tensor;
use borel_optim::clip::{clip_by_global_norm, clip_by_value};
use borel_optim::schedule::{Cosine, ExponentialLr, ReduceOnPlateau, Schedule, StepLr};
use borel_optim::{Adagrad, Adam, AdamW, Optimizer, Param, RmsProp, Sgd, State};

fn make(case: &str, lr: f64) -> Box<dyn Optimizer<f64>> {
    match case {
        "sgd" => Box::new(Sgd::new(lr)),
        "sgd_momentum" => Box::new(Sgd::new(lr).momentum(0.9)),
        "sgd_dampening" => Box::new(Sgd::new(lr).momentum(0.9).dampening(0.1)),
        "sgd_nesterov" => Box::new(Sgd::new(lr).momentum(0.9).nesterov(true)),
        "sgd_weight_decay" => Box::new(Sgd::new(lr).momentum(0.5).weight_decay(0.1)),
        "adam" => Box::new(Adam::new(lr)),
        "adam_amsgrad" => Box::new(Adam::new(lr).amsgrad(true)),
        "adam_weight_decay" => Box::new(Adam::new(lr).weight_decay(0.1)),
        "adam_betas" => Box::new(Adam::new(lr).betas(0.8, 0.99)),
        "adamw" => Box::new(AdamW::new(lr).weight_decay(0.1)),
        "adamw_amsgrad" => Box::new(AdamW::new(lr).weight_decay(0.1).amsgrad(true)),
        "adam_keras" => {
            let mut a = Adam::keras();
            a.set_learning_rate(lr);
            Box::new(a)
        }
        "adam_keras_amsgrad" => {
            let mut a = Adam::keras().amsgrad(true);
            a.set_learning_rate(lr);
            Box::new(a)
        }
        "adagrad" => Box::new(Adagrad::new(lr)),
        "adagrad_decay" => Box::new(Adagrad::new(lr).lr_decay(0.01).weight_decay(0.1)),
        "rmsprop_keras3" => Box::new(RmsProp::keras().lr(lr)),
        "rmsprop_keras3_momentum" => Box::new(RmsProp::keras().lr(lr).momentum(0.9)),
        "rmsprop_keras3_centered" => Box::new(RmsProp::keras().lr(lr).centered(true)),
        "rmsprop_keras3_centered_momentum" => Box::new(RmsProp::keras().lr(lr).momentum(0.5).centered(true)),
        "rmsprop_tf_keras2" => Box::new(RmsProp::tf_keras2().lr(lr)),
        "rmsprop_tf_keras2_momentum" => Box::new(RmsProp::tf_keras2().lr(lr).momentum(0.9)),
        "rmsprop_tf_keras2_centered" => Box::new(RmsProp::tf_keras2().lr(lr).centered(true)),
        "rmsprop_pytorch" => Box::new(RmsProp::pytorch().lr(lr)),
        "rmsprop_pytorch_momentum" => Box::new(RmsProp::pytorch().lr(lr).momentum(0.9)),
        "rmsprop_pytorch_centered" => Box::new(RmsProp::pytorch().lr(lr).centered(true)),
        "rmsprop_pytorch_weight_decay" => Box::new(RmsProp::pytorch().lr(lr).weight_decay(0.1)),
        other => panic!("no optimizer for fixture case {other}"),
    }
}

fn grad(problem: &str, x: &[f64]) -> Vec<f64> {
    match problem {
        "quadratic" => vec![x[0] + 0.5, 10.0 * x[1] - 1.0],
        "small_quadratic" => vec![1e-4 * (x[0] + 0.5), 1e-4 * (10.0 * x[1] - 1.0)],
        _ => vec![
            -2.0 * (1.0 - x[0]) - 400.0 * x[0] * (x[1] - x[0] * x[0]),
            200.0 * (x[1] - x[0] * x[0]),
        ],
    }
}

fn start(problem: &str) -> Vec<f64> {
    if problem.ends_with("quadratic") {
        vec![1.5, -0.5]
    } else {
        vec![-1.2, 1.0]
    }
}

#[test]
fn trajectories_match_the_references() {
    let csv = include_str!("fixtures/trajectories.csv");
    type Run = (f64, Vec<[f64; 2]>);
    let mut runs: BTreeMap<(String, String), Run> = BTreeMap::new();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let e = runs
            .entry((f[0].into(), f[1].into()))
            .or_insert((f[2].parse().unwrap(), vec![]));
        e.1.push([f[4].parse().unwrap(), f[5].parse().unwrap()]);
    }
    assert_eq!(runs.len(), 78, "26 cases on three problems");
    let mut worst = 0.0f64;
    for ((case, problem), (lr, want)) in &runs {
        let mut opt = make(case, *lr);
        let mut x = Tensor::from_vec(start(problem), &[2]);
        for (t, w) in want.iter().enumerate() {
            let g = Tensor::from_vec(grad(problem, x.data()), &[2]);
            opt.step(&mut [Param::new("x", &mut x, &g)]);
            for (k, &exp) in w.iter().enumerate() {
                let got = x.data()[k];
                let rel = (got - exp).abs() / exp.abs().max(1e-12);
                worst = worst.max(rel);
                assert!(
                    rel <= 1e-6,
                    "{case} on {problem}, step {}: x[{k}] = {got}, reference {exp}",
                    t + 1
                );
            }
        }
    }
    eprintln!("largest relative difference to the references: {worst:.2e}");
}

/// Trains `steps` steps on the Rosenbrock function from (x, optimizer).
fn train(opt: &mut dyn Optimizer<f32>, x: &mut Tensor<f32>, y: &mut Tensor<f32>, steps: usize) {
    for _ in 0..steps {
        let gx = Tensor::from_fn(x.shape(), |i| {
            let (a, b) = (x.data()[i], y.data()[i]);
            -2.0 * (1.0 - a) - 400.0 * a * (b - a * a)
        });
        let gy = Tensor::from_fn(y.shape(), |i| 200.0 * (y.data()[i] - x.data()[i] * x.data()[i]));
        opt.step(&mut [Param::new("x", x, &gx), Param::new("y", y, &gy)]);
    }
}

#[test]
fn resume_from_saved_state_is_bit_identical() {
    type Make = Box<dyn Fn() -> Box<dyn Optimizer<f32>>>;
    let fresh: Vec<Make> = vec![
        Box::new(|| Box::new(Sgd::new(1e-4).momentum(0.9).nesterov(true))),
        Box::new(|| Box::new(Adam::new(1e-3).amsgrad(true))),
        Box::new(|| Box::new(AdamW::new(1e-3))),
        Box::new(|| Box::new(Adagrad::new(0.05).lr_decay(0.01))),
        Box::new(|| Box::new(RmsProp::keras().momentum(0.5).centered(true))),
        Box::new(|| Box::new(RmsProp::pytorch().lr(1e-3).momentum(0.9))),
    ];
    let dir = std::env::temp_dir().join(format!("borel-optim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, make) in fresh.iter().enumerate() {
        let x0 = Tensor::from_vec(vec![-1.2f32, 0.5, 2.0], &[3]);
        let y0 = Tensor::from_vec(vec![1.0f32, -0.3, 1.0], &[3]);
        let (mut xa, mut ya) = (x0.clone(), y0.clone());
        let mut a = make();
        train(a.as_mut(), &mut xa, &mut ya, 100);

        let (mut xb, mut yb) = (x0, y0);
        let mut b = make();
        train(b.as_mut(), &mut xb, &mut yb, 50);
        let path = dir.join(format!("state-{i}.safetensors"));
        b.state().save(&path).unwrap();
        let mut c = make();
        *c.state_mut() = State::load(&path).unwrap();
        assert_eq!(c.state(), b.state());
        train(c.as_mut(), &mut xb, &mut yb, 50);
        let bits = |t: &Tensor<f32>| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&xa), bits(&xb), "optimizer {i}: x differs after resuming");
        assert_eq!(bits(&ya), bits(&yb), "optimizer {i}: y differs after resuming");
        assert_eq!(a.state().step, 100);
    }
}

#[test]
fn corrupt_state_file_is_a_typed_error() {
    let dir = std::env::temp_dir().join(format!("borel-optim-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.safetensors");
    std::fs::write(&path, b"not a state file").unwrap();
    let err = State::<f32>::load(&path).unwrap_err();
    assert!(
        err.to_string().contains("bad.safetensors: not optimizer state"),
        "{err}"
    );
    // f64 state into an f32 optimizer
    let mut opt = Adam::<f64>::new(0.1);
    let mut w = Tensor::from_vec(vec![1.0], &[1]);
    let g = Tensor::from_vec(vec![1.0], &[1]);
    opt.step(&mut [Param::new("w", &mut w, &g)]);
    opt.state().save(&path).unwrap();
    let err = State::<f32>::load(&path).unwrap_err();
    assert!(err.to_string().contains("the optimizer is f32"), "{err}");
}

#[test]
fn schedules_follow_their_formulas() {
    assert_eq!(
        StepLr {
            step_size: 3,
            gamma: 0.1
        }
        .lr(2, 1.0),
        1.0
    );
    assert!(
        (StepLr {
            step_size: 3,
            gamma: 0.1
        }
        .lr(3, 1.0)
            - 0.1)
            .abs()
            < 1e-15
    );
    assert!((ExponentialLr { gamma: 0.9 }.lr(2, 2.0) - 1.62).abs() < 1e-12);
    let c = Cosine {
        total: 110,
        warmup: 10,
        min_lr: 0.0,
    };
    assert!((c.lr(0, 1.0) - 0.1).abs() < 1e-12);
    assert!((c.lr(9, 1.0) - 1.0).abs() < 1e-12);
    assert!((c.lr(10, 1.0) - 1.0).abs() < 1e-12);
    assert!((c.lr(60, 1.0) - 0.5).abs() < 1e-12);
    assert!(c.lr(110, 1.0).abs() < 1e-12);
    let mut r = ReduceOnPlateau::new(0.1, 1);
    r.min_lr = 0.05;
    assert_eq!(r.observe(1.0, 1.0), 1.0);
    assert!((r.observe(1.0, 1.0) - 0.1).abs() < 1e-15);
    assert_eq!(r.observe(2.0, 0.1), 0.05);
}

#[test]
fn clipping_by_value_and_global_norm() {
    let mut g = vec![
        Tensor::from_vec(vec![-3.0f32, 0.5], &[2]),
        Tensor::from_vec(vec![2.0f32], &[1]),
    ];
    clip_by_value(&mut g, 1.0);
    assert_eq!(g[0].data(), &[-1.0, 0.5]);
    assert_eq!(g[1].data(), &[1.0]);
    let mut g = vec![
        Tensor::from_vec(vec![3.0f64], &[1]),
        Tensor::from_vec(vec![4.0f64], &[1]),
    ];
    assert_eq!(clip_by_global_norm(&mut g, 10.0), 5.0);
    assert_eq!(g[0].data(), &[3.0]);
    clip_by_global_norm(&mut g, 1.0);
    let n = (g[0].data()[0].powi(2) + g[1].data()[0].powi(2)).sqrt();
    assert!((n - 1.0).abs() < 1e-6);
}
