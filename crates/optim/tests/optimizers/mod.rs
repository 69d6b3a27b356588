//! The one list of optimizers that every test looping over them uses: each optimizer in each
//! preset, with every option that changes its buffers or its formula. A new optimizer or
//! option goes here, and every such test covers it.

use borel_autograd::Float;
use borel_optim::{Adagrad, Adam, AdamW, Momentum, Optimizer, RmsProp, Sgd};

/// An optimizer, made fresh.
pub type Make<F> = fn() -> Box<dyn Optimizer<F>>;

/// Every optimizer and option, by name: the name starts with the type's name, as the
/// optimizer's messages do.
pub fn every<F: Float>() -> Vec<(&'static str, Make<F>)> {
    vec![
        ("Sgd", || Box::new(Sgd::new(0.1))),
        ("Sgd momentum", || Box::new(Sgd::new(0.1).momentum(0.9))),
        ("Sgd nesterov", || {
            Box::new(Sgd::new(0.1).momentum(Momentum::Nesterov(0.9)))
        }),
        ("Sgd dampening weight_decay", || {
            Box::new(Sgd::new(0.1).momentum(0.9).dampening(0.3).weight_decay(0.1))
        }),
        ("Sgd::keras", || Box::new(Sgd::keras())),
        ("Sgd::keras nesterov weight_decay", || {
            Box::new(Sgd::keras().momentum(Momentum::Nesterov(0.9)).weight_decay(0.1))
        }),
        ("Adam", || Box::new(Adam::new(0.01))),
        ("Adam amsgrad weight_decay", || {
            Box::new(Adam::new(0.01).amsgrad(true).weight_decay(0.1))
        }),
        ("Adam::keras", || Box::new(Adam::keras())),
        ("Adam::keras amsgrad", || Box::new(Adam::keras().amsgrad(true))),
        ("AdamW", || Box::new(AdamW::new(0.01))),
        ("AdamW amsgrad", || Box::new(AdamW::new(0.01).amsgrad(true))),
        ("AdamW::keras", || Box::new(AdamW::keras())),
        ("Adagrad", || Box::new(Adagrad::new(0.1).lr_decay(0.01))),
        ("Adagrad::keras weight_decay", || {
            Box::new(Adagrad::keras().weight_decay(0.1))
        }),
        ("RmsProp::keras", || Box::new(RmsProp::keras())),
        ("RmsProp::keras centered momentum", || {
            Box::new(RmsProp::keras().centered(true).momentum(0.5))
        }),
        ("RmsProp::tf_keras2", || Box::new(RmsProp::tf_keras2())),
        ("RmsProp::tf_keras2 momentum weight_decay", || {
            Box::new(RmsProp::tf_keras2().momentum(0.9).weight_decay(0.1))
        }),
        ("RmsProp::pytorch", || Box::new(RmsProp::pytorch())),
        ("RmsProp::pytorch centered", || {
            Box::new(RmsProp::pytorch().centered(true))
        }),
        ("RmsProp::pytorch momentum weight_decay", || {
            Box::new(RmsProp::pytorch().momentum(0.9).weight_decay(0.1))
        }),
    ]
}

/// The optimizers of [`every`] that keep buffers.
#[allow(dead_code)]
pub fn stateful<F: Float>() -> Vec<(&'static str, Make<F>)> {
    every()
        .into_iter()
        .filter(|(_, make)| make().buffers_per_param() > 0)
        .collect()
}

/// The type's name at the start of `name` (`Adam` of `Adam::keras amsgrad`).
#[allow(dead_code)]
pub fn type_name(name: &str) -> &str {
    name.split([' ', ':']).next().unwrap_or(name)
}
