//! Optimizer state files are checked against the parameters they will update: a file from
//! another model, a buffer of the wrong shape or rank, or a NaN is a typed error naming what
//! was wrong, and a step count at `u64::MAX` saturates instead of breaking the next step.

use std::path::PathBuf;

use borel_autograd::{ParamGrads, ParamId, ParamStore, Tensor};
use borel_optim::{Adagrad, Adam, AdamW, Optimizer, RmsProp, Sgd, State, StateError};

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("borel-optim-state-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn store_with(name: &str, shape: &[usize]) -> (ParamStore<f32>, ParamId) {
    let mut store = ParamStore::new();
    let id = store.add(name, Tensor::from_fn(shape, |i| i as f32 * 0.1 - 0.2), true);
    (store, id)
}

/// One step with gradient `g` everywhere.
fn step(opt: &mut dyn Optimizer<f32>, store: &mut ParamStore<f32>, id: ParamId, g: f32) {
    let mut grads = ParamGrads::new(store);
    grads.insert(id, Tensor::full(store.get(id).shape(), g));
    opt.update(store, &grads);
}

/// The state of Adam after one step on a parameter `name` of `shape`, saved to `file`.
fn saved_adam_state(name: &str, shape: &[usize], g: f32, file: &str) -> PathBuf {
    let (mut store, id) = store_with(name, shape);
    let mut opt = Adam::new(0.01);
    step(&mut opt, &mut store, id, g);
    let path = dir().join(file);
    opt.state().save(&path, &store).unwrap();
    path
}

fn format_message(err: StateError) -> String {
    match err {
        StateError::Format { ref message, .. } => message.clone(),
        other => panic!("expected a format error, got {other}"),
    }
}

#[test]
fn state_from_another_model_names_the_tensor() {
    let path = saved_adam_state("dense.kernel", &[2, 3], 1.0, "other-model.safetensors");
    let (other, _) = store_with("encoder.kernel", &[2, 3]);
    let err = State::load(&path, &other).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("other-model.safetensors"), "{msg}");
    let message = format_message(err);
    assert!(
        message.contains("'dense.kernel/0'") && message.contains("which the model does not have"),
        "{message}"
    );
}

#[test]
fn buffers_of_the_wrong_shape_or_rank_are_errors() {
    let path = saved_adam_state("w", &[2, 3], 1.0, "shape.safetensors");
    let (same, _) = store_with("w", &[2, 3]);
    assert!(State::load(&path, &same).is_ok());
    for (shape, shown) in [
        (&[3usize, 2][..], "[3, 2]"),
        (&[6][..], "[6]"),
        (&[2, 3, 1][..], "[2, 3, 1]"),
    ] {
        let (store, _) = store_with("w", shape);
        let message = format_message(State::load(&path, &store).unwrap_err());
        assert!(
            message.contains("'w/0' has shape [2, 3]") && message.contains(&format!("the parameter has {shown}")),
            "{shape:?}: {message}"
        );
    }
}

#[test]
fn a_nan_in_a_buffer_is_an_error() {
    let path = saved_adam_state("w", &[4], f32::NAN, "nan.safetensors");
    let (store, _) = store_with("w", &[4]);
    let message = format_message(State::load(&path, &store).unwrap_err());
    assert!(message.contains("'w/0' holds a NaN or infinite value"), "{message}");
}

#[test]
fn a_step_count_at_u64_max_saturates() {
    type Make = fn() -> Box<dyn Optimizer<f32>>;
    let makes: [(&str, Make); 6] = [
        ("Adam::pytorch", || Box::new(Adam::pytorch().amsgrad(true))),
        ("Adam::keras", || Box::new(Adam::keras())),
        ("AdamW::keras", || Box::new(AdamW::keras())),
        ("Adagrad", || Box::new(Adagrad::new(0.01))),
        ("Sgd::keras", || Box::new(Sgd::keras().momentum(0.9))),
        ("RmsProp::pytorch", || Box::new(RmsProp::pytorch().centered(true))),
    ];
    for (i, (name, make)) in makes.iter().enumerate() {
        let (mut store, id) = store_with("w", &[3]);
        let mut opt = make();
        step(opt.as_mut(), &mut store, id, 0.5);
        opt.state_mut().step = u64::MAX;
        let path = dir().join(format!("max-{i}.safetensors"));
        opt.state().save(&path, &store).unwrap();
        let mut resumed = make();
        resumed.set_state(State::load(&path, &store).unwrap()).unwrap();
        assert_eq!(resumed.state().step, u64::MAX, "{name}: the count read back");
        let before = store.get(id).clone();
        step(resumed.as_mut(), &mut store, id, 0.5);
        assert_eq!(resumed.state().step, u64::MAX, "{name}: the count saturates");
        let after = store.get(id);
        assert!(
            after.all_finite(),
            "{name}: {:?} after a step at u64::MAX",
            after.data()
        );
        assert!(
            after.data()[0] < before.data()[0],
            "{name}: the step did not move against the gradient"
        );
    }
}

type Make = fn() -> Box<dyn Optimizer<f32>>;

/// Every optimizer that keeps buffers, with the options that change them.
const STATEFUL: [(&str, Make); 7] = [
    ("Adam", || Box::new(Adam::new(0.01))),
    ("Adam amsgrad keras", || Box::new(Adam::keras().amsgrad(true))),
    ("AdamW", || Box::new(AdamW::new(0.01).betas(0.5, 0.9))),
    ("Sgd momentum", || Box::new(Sgd::new(0.1).momentum(0.9))),
    ("RmsProp centered", || {
        Box::new(RmsProp::pytorch().centered(true).momentum(0.5))
    }),
    ("RmsProp keras", || Box::new(RmsProp::keras())),
    ("Adagrad", || Box::new(Adagrad::new(0.1))),
];

#[test]
fn set_state_accepts_every_state_the_optimizer_itself_saved() {
    for (name, make) in STATEFUL {
        for pattern in ["constant", "alternating", "growing"] {
            let (mut store, id) = store_with("w", &[4]);
            let mut opt = make();
            for k in 0..300 {
                let g = match pattern {
                    "constant" => 0.7,
                    "alternating" => [1.0, -1.0, 3.0][k % 3],
                    _ => 1.05f32.powi(k as i32) - 20.0,
                };
                step(opt.as_mut(), &mut store, id, g);
            }
            let mut resumed = make();
            let state = State::from_bytes(&opt.state().to_bytes(&store), "s".as_ref(), &store).unwrap();
            resumed
                .set_state(state)
                .unwrap_or_else(|e| panic!("{name}, {pattern} gradients: {e}"));
            assert_eq!(resumed.state(), opt.state());
        }
    }
}

#[test]
fn set_state_refuses_another_optimizers_state_and_impossible_values() {
    let (mut store, id) = store_with("w", &[2]);
    let mut sgd = Sgd::new(0.1).momentum(0.9);
    step(&mut sgd, &mut store, id, 1.0);
    let mut adam = Adam::new(0.1);
    let err = adam.set_state(sgd.state().clone()).unwrap_err();
    assert!(matches!(err, StateError::Mismatch { .. }), "{err}");
    assert!(
        err.to_string().contains("parameter #0 has 1 buffers, Adam keeps 3"),
        "{err}"
    );
    assert_eq!(adam.state(), &State::default(), "a refused state changed the optimizer");

    // negative second moments, a mean beyond its mean square, a first moment Adam never makes
    let mut rms = RmsProp::<f32>::pytorch().centered(true);
    step(&mut rms, &mut store, id, 1.0);
    let mut adam = Adam::new(0.1);
    step(&mut adam, &mut store, id, 1.0);
    let mut adagrad = Adagrad::new(0.1);
    step(&mut adagrad, &mut store, id, 1.0);
    let cases: [(Box<dyn Optimizer<f32>>, usize, f32); 5] = [
        (Box::new(Adam::new(0.1)), 1, -1e-3),
        (Box::new(Adam::new(0.1)), 0, 1e30),
        (Box::new(RmsProp::pytorch().centered(true)), 0, -1.0),
        (Box::new(RmsProp::pytorch().centered(true)), 1, 1e3),
        (Box::new(Adagrad::new(0.1)), 0, -0.5),
    ];
    for (k, (mut opt, buffer, value)) in cases.into_iter().enumerate() {
        let source: &dyn Optimizer<f32> = [&adam as &dyn Optimizer<f32>, &adam, &rms, &rms, &adagrad][k];
        let mut bytes = source.state().to_bytes(&store);
        poke(&mut bytes, &format!("w/{buffer}"), value);
        let state = State::from_bytes(&bytes, "s".as_ref(), &store).unwrap();
        let err = opt.set_state(state).unwrap_err();
        assert!(err.to_string().contains("are not state"), "case {k}: {err}");
        assert_eq!(
            opt.state(),
            &State::default(),
            "case {k}: a refused state changed the optimizer"
        );
    }
}

/// Sets the first element of tensor `name` in safetensors `bytes` to `value`.
fn poke(bytes: &mut [u8], name: &str, value: f32) {
    let file = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let start = file.tensor(name).unwrap().data().as_ptr() as usize - bytes.as_ptr() as usize;
    bytes[start..start + 4].copy_from_slice(&value.to_le_bytes());
}
