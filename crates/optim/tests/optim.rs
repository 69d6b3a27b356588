//! Optimizers against reference trajectories (tests/fixtures/make_trajectories.py, from
//! PyTorch's and Keras' update formulas), the presets' defaults, Keras' Adam in f32, resume
//! from saved state, schedules and clipping.

use std::collections::BTreeMap;

use borel_autograd::{ParamGrads, ParamId, ParamStore, Tensor};
use borel_optim::clip::{clip_by_global_norm, clip_by_value};
use borel_optim::schedule::{Cosine, ExponentialLr, ReduceOnPlateau, Schedule, StepLr};
use borel_optim::{Adagrad, Adam, AdamW, Momentum, Optimizer, RmsProp, Sgd, State};

mod optimizers;

fn make(case: &str, lr: f64) -> Box<dyn Optimizer<f64>> {
    match case {
        "sgd" => Box::new(Sgd::new(lr)),
        "sgd_momentum" => Box::new(Sgd::new(lr).momentum(0.9)),
        "sgd_dampening" => Box::new(Sgd::new(lr).momentum(0.9).dampening(0.1)),
        "sgd_nesterov" => Box::new(Sgd::new(lr).momentum(Momentum::Nesterov(0.9))),
        "sgd_weight_decay" => Box::new(Sgd::new(lr).momentum(0.5).weight_decay(0.1)),
        "sgd_keras" => Box::new(Sgd::keras().lr(lr)),
        "sgd_keras_momentum" => Box::new(Sgd::keras().lr(lr).momentum(0.9)),
        "sgd_keras_nesterov" => Box::new(Sgd::keras().lr(lr).momentum(Momentum::Nesterov(0.9))),
        "sgd_keras_weight_decay" => Box::new(Sgd::keras().lr(lr).momentum(0.5).weight_decay(0.1)),
        "adam" => Box::new(Adam::new(lr)),
        "adam_amsgrad" => Box::new(Adam::new(lr).amsgrad(true)),
        "adam_weight_decay" => Box::new(Adam::new(lr).weight_decay(0.1)),
        "adam_betas" => Box::new(Adam::new(lr).betas(0.8, 0.99)),
        "adamw" => Box::new(AdamW::new(lr).weight_decay(0.1)),
        "adamw_amsgrad" => Box::new(AdamW::new(lr).weight_decay(0.1).amsgrad(true)),
        "adam_keras" => Box::new(Adam::keras().lr(lr)),
        "adam_keras_amsgrad" => {
            // the trait's setter, as schedules use it
            let mut a = Adam::keras().amsgrad(true);
            a.set_learning_rate(lr);
            Box::new(a)
        }
        "adamw_keras" => Box::new(AdamW::keras().lr(lr).weight_decay(0.1)),
        "adagrad" => Box::new(Adagrad::new(lr)),
        "adagrad_decay" => Box::new(Adagrad::new(lr).lr_decay(0.01).weight_decay(0.1)),
        "adagrad_keras" => Box::new(Adagrad::keras().lr(lr)),
        "adagrad_keras_weight_decay" => Box::new(Adagrad::keras().lr(lr).weight_decay(0.1)),
        "rmsprop_keras3" => Box::new(RmsProp::keras().lr(lr)),
        "rmsprop_keras3_momentum" => Box::new(RmsProp::keras().lr(lr).momentum(0.9)),
        "rmsprop_keras3_centered" => Box::new(RmsProp::keras().lr(lr).centered(true)),
        "rmsprop_keras3_centered_momentum" => Box::new(RmsProp::keras().lr(lr).momentum(0.5).centered(true)),
        "rmsprop_keras3_weight_decay" => Box::new(RmsProp::keras().lr(lr).weight_decay(0.1)),
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

/// A store holding one trainable parameter `x`.
fn one_param<F: borel_autograd::Float>(x: Tensor<F>) -> (ParamStore<F>, ParamId) {
    let mut store = ParamStore::new();
    let id = store.add("x", x, true);
    (store, id)
}

/// One step of `opt` with the gradient `g` of the single parameter `id`.
fn step_with<F: borel_autograd::Float>(
    opt: &mut dyn Optimizer<F>,
    store: &mut ParamStore<F>,
    id: ParamId,
    g: Tensor<F>,
) {
    let mut grads = ParamGrads::new(store);
    grads.insert(id, g);
    opt.update(store, &grads);
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
    assert_eq!(runs.len(), 102, "34 cases on three problems");
    let mut worst = 0.0f64;
    for ((case, problem), (lr, want)) in &runs {
        let mut opt = make(case, *lr);
        let (mut store, x) = one_param(Tensor::from_vec(start(problem), &[2]));
        for (t, w) in want.iter().enumerate() {
            let g = Tensor::from_vec(grad(problem, store.get(x).data()), &[2]);
            step_with(opt.as_mut(), &mut store, x, g);
            for (k, &exp) in w.iter().enumerate() {
                let got = store.get(x).data()[k];
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

/// One step of each preset from `w = 0.5` with a gradient of 1e-4 (small enough that every
/// epsilon shows), against its reference's first step written out with its defaults.
#[test]
fn presets_take_their_references_first_step() {
    let (w, g) = (0.5f64, 1e-4f64);
    let adam = |lr: f64, eps: f64, w: f64| w - lr * g / (g + eps / 0.001f64.sqrt());
    let cases: Vec<(&str, Box<dyn Optimizer<f64>>, f64)> = vec![
        ("Sgd::pytorch", Box::new(Sgd::pytorch()), w - 0.001 * g),
        ("Sgd::keras", Box::new(Sgd::keras()), w - 0.01 * g),
        ("Adam::pytorch", Box::new(Adam::pytorch()), w - 0.001 * g / (g + 1e-8)),
        ("Adam::keras", Box::new(Adam::keras()), adam(0.001, 1e-7, w)),
        (
            "AdamW::pytorch",
            Box::new(AdamW::pytorch()),
            w * (1.0 - 0.001 * 0.01) - 0.001 * g / (g + 1e-8),
        ),
        (
            "AdamW::keras",
            Box::new(AdamW::keras()),
            adam(0.001, 1e-7, w - w * 0.004 * 0.001),
        ),
        (
            "Adagrad::pytorch",
            Box::new(Adagrad::pytorch()),
            w - 0.01 * g / (g + 1e-10),
        ),
        (
            "Adagrad::keras",
            Box::new(Adagrad::keras()),
            w - 0.001 * g / (0.1 + g * g + 1e-7).sqrt(),
        ),
        (
            "RmsProp::pytorch",
            Box::new(RmsProp::pytorch()),
            w - 0.01 * g / (0.1 * g + 1e-8),
        ),
        (
            "RmsProp::keras",
            Box::new(RmsProp::keras()),
            w - 0.001 * g / (0.1 * g * g + 1e-7).sqrt(),
        ),
        (
            "RmsProp::tf_keras2",
            Box::new(RmsProp::tf_keras2()),
            w - 0.001 * g / (0.1f64.sqrt() * g + 1e-7),
        ),
    ];
    for (name, mut opt, want) in cases {
        let (mut store, x) = one_param(Tensor::from_vec(vec![w], &[1]));
        step_with(opt.as_mut(), &mut store, x, Tensor::from_vec(vec![g], &[1]));
        let got = store.get(x).data()[0];
        assert!(
            ((got - want) / (w - want)).abs() < 1e-7,
            "{name}: w = {got}, its reference's first step gives {want}"
        );
    }
}

/// Keras' `Adam.update_step` evaluated in float32, as Keras does for float32 variables:
/// `beta^t` in f32, `1 - beta` a Python float rounded once, epsilon rounded to f32.
struct KerasAdamF32 {
    m: Vec<f32>,
    v: Vec<f32>,
    t: u32,
}

impl KerasAdamF32 {
    fn step(&mut self, p: &mut [f32], g: &[f32], lr: f32) {
        self.t += 1;
        let (b1, b2) = (0.9f64, 0.999f64);
        let local_step = self.t as f32;
        let (b1p, b2p) = ((b1 as f32).powf(local_step), (b2 as f32).powf(local_step));
        let alpha = lr * (1.0 - b2p).sqrt() / (1.0 - b1p);
        let (one_b1, one_b2, eps) = ((1.0 - b1) as f32, (1.0 - b2) as f32, 1e-7f64 as f32);
        for i in 0..p.len() {
            self.m[i] += (g[i] - self.m[i]) * one_b1;
            self.v[i] += (g[i] * g[i] - self.v[i]) * one_b2;
            p[i] -= self.m[i] * alpha / (self.v[i].sqrt() + eps);
        }
    }
}

#[test]
fn keras_adam_in_f32_follows_keras_to_float32_rounding() {
    let (a, b) = ([1.0f32, 10.0, 0.1, 3.0], [0.5f32, -1.0, 0.02, 0.0]);
    let grad = |x: &[f32]| -> Vec<f32> { (0..4).map(|i| a[i] * x[i] + b[i]).collect() };
    let x0 = vec![1.5f32, -0.5, 2.0, 0.25];
    let mut reference = KerasAdamF32 {
        m: vec![0.0; 4],
        v: vec![0.0; 4],
        t: 0,
    };
    let mut want = x0.clone();
    let mut opt = Adam::<f32>::keras().lr(0.01);
    let (mut store, x) = one_param(Tensor::from_vec(x0, &[4]));
    let mut worst = 0.0f64;
    for t in 1..=64 {
        let g = grad(&want);
        reference.step(&mut want, &g, 0.01);
        let g = Tensor::from_vec(grad(store.get(x).data()), &[4]);
        step_with(&mut opt, &mut store, x, g);
        for (k, (&got, &exp)) in store.get(x).data().iter().zip(&want).enumerate() {
            let rel = (got as f64 - exp as f64).abs() / (exp as f64).abs().max(1e-3);
            worst = worst.max(rel);
            assert!(rel < 1e-6, "step {t}: x[{k}] = {got}, Keras in f32 gives {exp}");
        }
    }
    eprintln!("Adam::keras in f32 vs Keras' formula in f32: largest relative difference {worst:.2e}");
}

/// Trains `steps` steps on the Rosenbrock function of the store's `x` and `y`.
fn train(opt: &mut dyn Optimizer<f32>, store: &mut ParamStore<f32>, steps: usize) {
    let (x, y) = (store.find("x").unwrap(), store.find("y").unwrap());
    for _ in 0..steps {
        let (xs, ys) = (store.get(x).data(), store.get(y).data());
        let gx = Tensor::from_fn(&[xs.len()], |i| {
            let (a, b) = (xs[i], ys[i]);
            -2.0 * (1.0 - a) - 400.0 * a * (b - a * a)
        });
        let gy = Tensor::from_fn(&[ys.len()], |i| 200.0 * (ys[i] - xs[i] * xs[i]));
        let mut grads = ParamGrads::new(store);
        grads.insert(x, gx);
        grads.insert(y, gy);
        opt.update(store, &grads);
    }
}

fn rosenbrock_store() -> ParamStore<f32> {
    let mut store = ParamStore::new();
    store.add("x", Tensor::from_vec(vec![-1.2f32, 0.5, 2.0], &[3]), true);
    store.add("y", Tensor::from_vec(vec![1.0f32, -0.3, 1.0], &[3]), true);
    store
}

#[test]
fn resume_from_saved_state_is_bit_identical() {
    // a learning rate small enough for every optimizer on Rosenbrock's function
    let fresh = |make: optimizers::Make<f32>| {
        let mut opt = make();
        opt.set_learning_rate(1e-4);
        opt
    };
    let dir = std::env::temp_dir().join(format!("borel-optim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, (name, make)) in optimizers::every::<f32>().into_iter().enumerate() {
        let mut a_store = rosenbrock_store();
        let mut a = fresh(make);
        train(a.as_mut(), &mut a_store, 100);

        let mut b_store = rosenbrock_store();
        let mut b = fresh(make);
        train(b.as_mut(), &mut b_store, 50);
        let path = dir.join(format!("state-{i}.safetensors"));
        b.state().save(&path, &b_store).unwrap();
        let mut c = fresh(make);
        c.set_state(State::load(&path, &b_store).unwrap()).unwrap();
        assert_eq!(c.state(), b.state());
        train(c.as_mut(), &mut b_store, 50);
        let bits = |s: &ParamStore<f32>, n: &str| {
            let t = s.get(s.find(n).unwrap());
            t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        };
        for n in ["x", "y"] {
            assert_eq!(
                bits(&a_store, n),
                bits(&b_store, n),
                "{name}: {n} differs after resuming"
            );
        }
        assert_eq!(a.state().step(), 100);
        assert_eq!(c.state().step(), 100);
    }
}

#[test]
fn corrupt_state_file_is_a_typed_error() {
    let dir = std::env::temp_dir().join(format!("borel-optim-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.safetensors");
    std::fs::write(&path, b"not a state file").unwrap();
    let (store32, _) = one_param(Tensor::<f32>::zeros(&[1]));
    let err = State::<f32>::load(&path, &store32).unwrap_err();
    assert!(
        err.to_string()
            .contains("bad.safetensors: not a valid safetensors file"),
        "{err}"
    );
    // f64 state into an f32 optimizer
    let mut opt = Adam::<f64>::new(0.1);
    let (mut store, w) = one_param(Tensor::from_vec(vec![1.0], &[1]));
    step_with(&mut opt, &mut store, w, Tensor::from_vec(vec![1.0], &[1]));
    opt.state().save(&path, &store).unwrap();
    let err = State::<f32>::load(&path, &store32).unwrap_err();
    assert!(err.to_string().contains("is f64, the model is f32"), "{err}");
    let err = State::<f32>::load(dir.join("missing.safetensors"), &store32).unwrap_err();
    assert!(
        matches!(
            err,
            borel_optim::StateError::File(borel_autograd::io::FileError::Io { .. })
        ),
        "{err}"
    );
}

#[test]
fn schedules_follow_their_formulas() {
    assert_eq!(StepLr::new(3, 0.1).lr(2, 1.0), 1.0);
    assert!((StepLr::new(3, 0.1).lr(3, 1.0) - 0.1).abs() < 1e-15);
    assert!((ExponentialLr::new(0.9).lr(2, 2.0) - 1.62).abs() < 1e-12);
    let c = Cosine::new(110).warmup(10);
    assert!((c.lr(0, 1.0) - 0.1).abs() < 1e-12);
    assert!((c.lr(9, 1.0) - 1.0).abs() < 1e-12);
    assert!((c.lr(10, 1.0) - 1.0).abs() < 1e-12);
    assert!((c.lr(60, 1.0) - 0.5).abs() < 1e-12);
    assert!(c.lr(110, 1.0).abs() < 1e-12);
    let mut r = ReduceOnPlateau::new(0.1, 1).min_lr(0.05);
    assert_eq!(r.observe(1.0, 1.0), 1.0);
    assert!((r.observe(1.0, 1.0) - 0.1).abs() < 1e-15);
    assert_eq!(r.observe(2.0, 0.1), 0.05);
}

/// Gradients `values` for a store of one parameter per value, and one more parameter
/// (the last id) without a gradient, as one the loss did not reach.
fn grads_of<F: borel_autograd::Float>(values: Vec<Tensor<F>>) -> (ParamGrads<F>, Vec<ParamId>) {
    let mut store = ParamStore::new();
    let mut ids: Vec<ParamId> = values
        .iter()
        .enumerate()
        .map(|(i, v)| store.add(&format!("p{i}"), Tensor::zeros(v.shape()), true))
        .collect();
    let missing = store.add("missing", Tensor::zeros(&[3]), true);
    let mut grads = ParamGrads::new(&store);
    for (&id, v) in ids.iter().zip(values) {
        grads.insert(id, v);
    }
    ids.push(missing);
    (grads, ids)
}

#[test]
fn clipping_by_value_and_global_norm() {
    let (mut g, ids) = grads_of(vec![
        Tensor::from_vec(vec![-3.0f32, 0.5], &[2]),
        Tensor::from_vec(vec![2.0f32], &[1]),
    ]);
    clip_by_value(&mut g, 1.0);
    assert_eq!(g[ids[0]].data(), &[-1.0, 0.5]);
    assert_eq!(g[ids[1]].data(), &[1.0]);
    assert!(g.get(ids[2]).is_none(), "clipping made an entry");
    let (mut g, ids) = grads_of(vec![
        Tensor::from_vec(vec![3.0f64], &[1]),
        Tensor::from_vec(vec![4.0f64], &[1]),
    ]);
    assert_eq!(clip_by_global_norm(&mut g, 10.0), 5.0);
    assert_eq!(g[ids[0]].data(), &[3.0]);
    clip_by_global_norm(&mut g, 1.0);
    let n = (g[ids[0]].data()[0].powi(2) + g[ids[1]].data()[0].powi(2)).sqrt();
    assert!((n - 1.0).abs() < 1e-6);
    // the parameter without a gradient counts for nothing in the norm and gets no entry
    assert!(g.get(ids[2]).is_none());
    assert_eq!((g.iter().count(), g.first_non_finite()), (2, None));
}
