//! Every optimizer, schedule and clipping setting is checked where it is set: a value outside
//! its range panics at the caller's line, naming the method, with the words of PyTorch's
//! constructors; values at the ends of the range are taken.
//!
//! One test per setting of each optimizer (and schedule), all generated from the table in
//! `settings!` below.

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use borel_autograd::{ParamGrads, ParamStore, Tensor};
use borel_optim::clip::{clip_by_global_norm, clip_by_value};
use borel_optim::schedule::{Cosine, ExponentialLr, ReduceOnPlateau, StepLr};
use borel_optim::{Adagrad, Adam, AdamW, Lbfgs, Momentum, Optimizer, RmsProp, Sgd};

thread_local! {
    /// The file of the last panic on this thread.
    static PANIC_FILE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The message and file of the panic `f` raises, or `None` when it returns. The hook that
/// records the file is installed once, for every test thread.
fn panic_of(f: impl FnOnce()) -> Option<(String, String)> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        panic::set_hook(Box::new(|info| {
            let file = info.location().map(|l| l.file().to_string()).unwrap_or_default();
            PANIC_FILE.with(|f| *f.borrow_mut() = file);
        }));
    });
    let err = panic::catch_unwind(AssertUnwindSafe(f)).err()?;
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    Some((msg, PANIC_FILE.with(|f| f.borrow().clone())))
}

/// A range as the values outside it (each must panic) and its ends (each must be taken).
struct Range {
    bad: &'static [f64],
    good: &'static [f64],
}

const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;

/// Finite and >= 0 (learning rates, weight decay, ...).
const NON_NEGATIVE: Range = Range {
    bad: &[-1.0, -1e-300, NAN, INF, -INF],
    good: &[0.0, 1e-300, 5.0],
};
/// Finite and > 0 (epsilon).
const POSITIVE: Range = Range {
    bad: &[0.0, -0.0, -1e-8, NAN, INF],
    good: &[1e-300, 1e-8, 1.0],
};
/// [0, 1) (betas, RMSprop's alpha).
const UNIT: Range = Range {
    bad: &[1.0, 1.5, -0.1, NAN, INF],
    good: &[0.0, 0.5, 0.9999999],
};
/// [0, 1] (momentum, dampening).
const UNIT_CLOSED: Range = Range {
    bad: &[1.0000001, -5.0, NAN, INF],
    good: &[0.0, 0.9, 1.0],
};
/// (0, 1) (reduce-on-plateau's factor).
const UNIT_OPEN: Range = Range {
    bad: &[0.0, 1.0, 2.0, -1.0, NAN],
    good: &[1e-9, 0.5, 0.999],
};

/// Checks that `set` panics for every bad value of `range` with `method: words: value (`,
/// at the caller's line (this file), and takes every good value.
fn check(method: &str, words: &str, range: &Range, set: impl Fn(f64)) {
    for &v in range.bad {
        let (msg, file) = panic_of(|| set(v)).unwrap_or_else(|| panic!("{method} took {v:?}"));
        let want = format!("{method}: {words}: {v:?} (must be ");
        assert!(
            msg.starts_with(&want),
            "{method}({v:?}): {msg:?} does not start with {want:?}"
        );
        assert!(
            file.ends_with("hyperparameters.rs"),
            "{method}({v:?}) panicked in {file}"
        );
    }
    for &v in range.good {
        if let Some((msg, _)) = panic_of(|| set(v)) {
            panic!("{method} refused {v:?}: {msg}");
        }
    }
}

/// No gradients, for the clipping functions.
fn no_grads() -> ParamGrads<f32> {
    ParamGrads::new(&ParamStore::new())
}

/// `test: "Type::method", "PyTorch's words", RANGE, |v| code setting v;` makes one test.
macro_rules! settings {
    ($($test:ident: $method:literal, $words:expr, $range:expr, |$v:ident| $set:expr;)*) => {
        $(
            #[test]
            fn $test() {
                check($method, $words, &$range, |$v| {
                    let _ = $set;
                });
            }
        )*
        /// Every generated test, to count them.
        const GENERATED: &[&str] = &[$(stringify!($test)),*];
    };
}

const LR: &str = "Invalid learning rate";
const EPS: &str = "Invalid epsilon value";
const WD: &str = "Invalid weight_decay value";
const MOMENTUM: &str = "Invalid momentum value";

settings! {
    sgd_new: "Sgd::new", LR, NON_NEGATIVE, |v| Sgd::<f32>::new(v);
    sgd_lr: "Sgd::lr", LR, NON_NEGATIVE, |v| Sgd::<f32>::keras().lr(v);
    sgd_set_learning_rate: "Sgd::set_learning_rate", LR, NON_NEGATIVE, |v| Sgd::<f32>::pytorch().set_learning_rate(v);
    sgd_momentum: "Sgd::momentum", MOMENTUM, UNIT_CLOSED, |v| Sgd::<f32>::new(0.1).momentum(v);
    sgd_keras_momentum: "Sgd::momentum", MOMENTUM, UNIT_CLOSED, |v| Sgd::<f32>::keras().momentum(v);
    sgd_dampening: "Sgd::dampening", "Invalid dampening value", UNIT_CLOSED, |v| Sgd::<f32>::new(0.1).dampening(v);
    sgd_weight_decay: "Sgd::weight_decay", WD, NON_NEGATIVE, |v| Sgd::<f32>::new(0.1).weight_decay(v);

    adam_new: "Adam::new", LR, NON_NEGATIVE, |v| Adam::<f32>::new(v);
    adam_lr: "Adam::lr", LR, NON_NEGATIVE, |v| Adam::<f32>::keras().lr(v);
    adam_set_learning_rate: "Adam::set_learning_rate", LR, NON_NEGATIVE, |v| Adam::<f32>::pytorch().set_learning_rate(v);
    adam_beta1: "Adam::betas", "Invalid beta parameter at index 0", UNIT, |v| Adam::<f32>::new(0.1).betas(v, 0.999);
    adam_beta2: "Adam::betas", "Invalid beta parameter at index 1", UNIT, |v| Adam::<f32>::keras().betas(0.9, v);
    adam_eps: "Adam::eps", EPS, POSITIVE, |v| Adam::<f32>::new(0.1).eps(v);
    adam_weight_decay: "Adam::weight_decay", WD, NON_NEGATIVE, |v| Adam::<f32>::new(0.1).weight_decay(v);

    adamw_new: "AdamW::new", LR, NON_NEGATIVE, |v| AdamW::<f32>::new(v);
    adamw_lr: "AdamW::lr", LR, NON_NEGATIVE, |v| AdamW::<f32>::keras().lr(v);
    adamw_set_learning_rate: "AdamW::set_learning_rate", LR, NON_NEGATIVE, |v| AdamW::<f32>::pytorch().set_learning_rate(v);
    adamw_beta1: "AdamW::betas", "Invalid beta parameter at index 0", UNIT, |v| AdamW::<f32>::new(0.1).betas(v, 0.999);
    adamw_beta2: "AdamW::betas", "Invalid beta parameter at index 1", UNIT, |v| AdamW::<f32>::keras().betas(0.9, v);
    adamw_eps: "AdamW::eps", EPS, POSITIVE, |v| AdamW::<f32>::new(0.1).eps(v);
    adamw_weight_decay: "AdamW::weight_decay", WD, NON_NEGATIVE, |v| AdamW::<f32>::keras().weight_decay(v);

    adagrad_new: "Adagrad::new", LR, NON_NEGATIVE, |v| Adagrad::<f32>::new(v);
    adagrad_lr: "Adagrad::lr", LR, NON_NEGATIVE, |v| Adagrad::<f32>::pytorch().lr(v);
    adagrad_set_learning_rate: "Adagrad::set_learning_rate", LR, NON_NEGATIVE, |v| Adagrad::<f32>::keras().set_learning_rate(v);
    adagrad_lr_decay: "Adagrad::lr_decay", "Invalid lr_decay value", NON_NEGATIVE, |v| Adagrad::<f32>::new(0.1).lr_decay(v);
    adagrad_weight_decay: "Adagrad::weight_decay", WD, NON_NEGATIVE, |v| Adagrad::<f32>::new(0.1).weight_decay(v);
    adagrad_eps: "Adagrad::eps", EPS, POSITIVE, |v| Adagrad::<f32>::keras().eps(v);
    adagrad_initial_accumulator_value: "Adagrad::initial_accumulator_value", "Invalid initial_accumulator_value value",
        NON_NEGATIVE, |v| Adagrad::<f32>::new(0.1).initial_accumulator_value(v);

    rmsprop_lr: "RmsProp::lr", LR, NON_NEGATIVE, |v| RmsProp::<f32>::pytorch().lr(v);
    rmsprop_set_learning_rate: "RmsProp::set_learning_rate", LR, NON_NEGATIVE, |v| RmsProp::<f32>::keras().set_learning_rate(v);
    rmsprop_rho: "RmsProp::rho", "Invalid alpha value", UNIT, |v| RmsProp::<f32>::keras().rho(v);
    rmsprop_eps: "RmsProp::eps", EPS, POSITIVE, |v| RmsProp::<f32>::tf_keras2().eps(v);
    rmsprop_momentum: "RmsProp::momentum", MOMENTUM, UNIT_CLOSED, |v| RmsProp::<f32>::pytorch().momentum(v);
    rmsprop_weight_decay: "RmsProp::weight_decay", WD, NON_NEGATIVE, |v| RmsProp::<f32>::keras().weight_decay(v);

    lbfgs_new: "Lbfgs::new", LR, NON_NEGATIVE, |v| Lbfgs::<f32>::new(v);
    lbfgs_lr: "Lbfgs::lr", LR, NON_NEGATIVE, |v| Lbfgs::<f32>::pytorch().lr(v);
    lbfgs_set_learning_rate: "Lbfgs::set_learning_rate", LR, NON_NEGATIVE, |v| Lbfgs::<f32>::pytorch().set_learning_rate(v);
    lbfgs_tolerance_grad: "Lbfgs::tolerance_grad", "Invalid tolerance_grad value", NON_NEGATIVE,
        |v| Lbfgs::<f32>::new(1.0).tolerance_grad(v);
    lbfgs_tolerance_change: "Lbfgs::tolerance_change", "Invalid tolerance_change value", NON_NEGATIVE,
        |v| Lbfgs::<f64>::new(1.0).tolerance_change(v);

    step_lr_gamma: "StepLr::new", "Invalid gamma value", NON_NEGATIVE, |v| StepLr::new(3, v);
    exponential_lr_gamma: "ExponentialLr::new", "Invalid gamma value", NON_NEGATIVE, |v| ExponentialLr::new(v);
    cosine_min_lr: "Cosine::min_lr", "Invalid min_lr value", NON_NEGATIVE, |v| Cosine::new(10).min_lr(v);
    reduce_on_plateau_factor: "ReduceOnPlateau::new", "Invalid factor value", UNIT_OPEN, |v| ReduceOnPlateau::new(v, 2);
    reduce_on_plateau_min_delta: "ReduceOnPlateau::min_delta", "Invalid min_delta value", NON_NEGATIVE,
        |v| ReduceOnPlateau::new(0.5, 2).min_delta(v);
    reduce_on_plateau_min_lr: "ReduceOnPlateau::min_lr", "Invalid min_lr value", NON_NEGATIVE,
        |v| ReduceOnPlateau::new(0.5, 2).min_lr(v);

    clip_value_limit: "clip::clip_by_value", "Invalid clip_value value", NON_NEGATIVE, |v| clip_by_value(&mut no_grads(), v);
    clip_global_norm_max_norm: "clip::clip_by_global_norm", "Invalid max_norm value", NON_NEGATIVE,
        |v| clip_by_global_norm(&mut no_grads(), v);
}

#[test]
fn every_setting_has_its_test() {
    // 7 SGD, 7 Adam, 7 AdamW, 7 Adagrad, 6 RMSprop, 5 L-BFGS, 6 schedule and 2 clipping settings
    assert_eq!(GENERATED.len(), 47);
}

/// The settings that are counts, and the rules between settings.
#[test]
fn counts_and_combinations_are_checked_too() {
    type Case = (&'static str, Box<dyn FnOnce()>);
    let cases: Vec<Case> = vec![
        (
            "StepLr::new: Expected positive integer step_size: 0 (must be >= 1)",
            Box::new(|| {
                let _ = StepLr::new(0, 0.5);
            }),
        ),
        (
            "Cosine::new: Expected positive integer total: 0 (must be >= 1)",
            Box::new(|| {
                let _ = Cosine::new(0);
            }),
        ),
        (
            "Cosine::warmup: Invalid warmup value: 11 (must be at most the total, 10)",
            Box::new(|| {
                let _ = Cosine::new(10).warmup(11);
            }),
        ),
        (
            "Lbfgs::max_iter: Expected positive integer max_iter: 0 (must be >= 1)",
            Box::new(|| drop(Lbfgs::<f32>::new(1.0).max_iter(0))),
        ),
        (
            "Lbfgs::max_eval: Expected positive integer max_eval: 0 (must be >= 1)",
            Box::new(|| drop(Lbfgs::<f64>::new(1.0).max_eval(0))),
        ),
        (
            "Lbfgs::history_size: Expected positive integer history_size: 0 (must be >= 1)",
            Box::new(|| drop(Lbfgs::<f32>::pytorch().history_size(0))),
        ),
        (
            "Sgd::dampening: Keras' SGD has no dampening",
            Box::new(|| drop(Sgd::<f32>::keras().dampening(0.5))),
        ),
        (
            "Sgd::update: Nesterov momentum requires a momentum and zero dampening (momentum 0.0, dampening 0.0)",
            Box::new(|| nesterov_step(Sgd::new(0.1).momentum(Momentum::Nesterov(0.0)))),
        ),
        (
            "Sgd::update: Nesterov momentum requires a momentum and zero dampening (momentum 0.9, dampening 0.1)",
            Box::new(|| nesterov_step(Sgd::new(0.1).momentum(Momentum::Nesterov(0.9)).dampening(0.1))),
        ),
    ];
    for (want, f) in cases {
        let (msg, file) = panic_of(f).unwrap_or_else(|| panic!("no panic, expected {want:?}"));
        assert!(msg.starts_with(want), "{msg:?} does not start with {want:?}");
        assert!(file.ends_with("hyperparameters.rs"), "{want}: panicked in {file}");
    }
    // the order of the settings does not matter, and Keras' Nesterov needs no momentum
    nesterov_step(
        Sgd::new(0.1)
            .dampening(0.1)
            .momentum(Momentum::Nesterov(0.9))
            .dampening(0.0),
    );
    nesterov_step(Sgd::keras().momentum(Momentum::Nesterov(0.0)));
    let _ = Cosine::new(10).warmup(10);
}

/// One update of `opt` on one parameter.
#[track_caller]
fn nesterov_step(mut opt: Sgd<f32>) {
    let mut store = ParamStore::new();
    let w = store.add("w", Tensor::from_vec(vec![1.0], &[1]), true);
    let mut grads = ParamGrads::new(&store);
    grads.insert(w, Tensor::from_vec(vec![0.5], &[1]));
    opt.update(&mut store, &grads);
}
