//! Optimizer state files are tensor files (`borel_autograd::io`) checked against the
//! parameters they will update: a file from another model, a buffer of the wrong shape or
//! rank, a NaN or a step count out of range (above 2^53 - 1) is a typed error naming what was
//! wrong, and state files written before the format went through `io` still load.

use std::path::{Path, PathBuf};

use borel_autograd::io::{self, FileError};
use borel_autograd::{ParamGrads, ParamId, ParamStore, Tensor};
use borel_optim::{Adagrad, Adam, Optimizer, RmsProp, Sgd, State, StateError};

mod optimizers;

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

/// The file error inside `err`, which must be one.
fn file_error(err: StateError) -> FileError {
    match err {
        StateError::File(e) => e,
        other => panic!("expected a file error, got {other}"),
    }
}

#[test]
fn state_from_another_model_names_the_tensor() {
    let path = saved_adam_state("dense.kernel", &[2, 3], 1.0, "other-model.safetensors");
    let (other, _) = store_with("encoder.kernel", &[2, 3]);
    let err = State::load(&path, &other).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("other-model.safetensors"), "{msg}");
    assert!(
        matches!(file_error(err), FileError::Unexpected { ref name, .. } if name == "dense.kernel/0"),
        "{msg}"
    );
    assert!(msg.contains("the model has no such parameter"), "{msg}");
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
        let err = file_error(State::load(&path, &store).unwrap_err());
        assert!(matches!(err, FileError::Shape { .. }), "{err}");
        let message = err.to_string();
        assert!(
            message.contains("'w/0' has shape [2, 3]") && message.contains(&format!("the model expects {shown}")),
            "{shape:?}: {message}"
        );
    }
}

#[test]
fn a_nan_in_a_buffer_is_an_error() {
    let path = saved_adam_state("w", &[4], f32::NAN, "nan.safetensors");
    let (store, _) = store_with("w", &[4]);
    let err = file_error(State::load(&path, &store).unwrap_err());
    assert!(
        matches!(err, FileError::NonFinite { ref name, ref element, value, .. }
            if name == "w/0" && element == &[0] && value.is_nan()),
        "{err}"
    );
}

/// 2^53 - 1: the largest step count state may hold.
const MAX_STEP: u64 = (1 << 53) - 1;

/// `bytes` (a state file) with the whole step count `step`, the rest of it as it was.
fn with_step(bytes: &[u8], step: u64) -> Vec<u8> {
    let file = io::decode::<f32>(bytes, "s".as_ref()).unwrap();
    let step = step.to_string();
    let mut meta = file.meta_with_prefix("");
    meta.retain(|(key, _)| *key != "step");
    meta.push(("step", &step));
    io::encode(&file.tensors, &meta)
}

/// A fresh optimizer of `make` after one step with gradient 0.5 on a parameter `w` of 3.
fn after_one_step(make: optimizers::Make<f32>) -> (Box<dyn Optimizer<f32>>, ParamStore<f32>, ParamId) {
    let (mut store, id) = store_with("w", &[3]);
    let mut opt = make();
    step(opt.as_mut(), &mut store, id, 0.5);
    (opt, store, id)
}

/// No state holds a count above 2^53 - 1 (counts saturate there), so only a file can.
#[test]
fn step_counts_above_2_pow_53_are_refused_everywhere() {
    for (name, make) in optimizers::stateful::<f32>() {
        let (opt, store, _) = after_one_step(make);
        for bad in [MAX_STEP + 1, u64::MAX] {
            let bytes = with_step(&opt.state().to_bytes(&store), bad);
            let err = file_error(State::from_bytes(&bytes, "s.safetensors".as_ref(), &store).unwrap_err());
            assert!(
                matches!(err, FileError::Mismatch { .. })
                    && err.to_string().contains(&format!("step count {bad} is above")),
                "{name}, {bad}: {err}"
            );
            let path = dir().join(format!("step-{bad}.safetensors"));
            std::fs::write(&path, &bytes).unwrap();
            assert!(matches!(
                State::load(&path, &store),
                Err(StateError::File(FileError::Mismatch { .. }))
            ));
        }
    }
}

#[test]
fn a_step_count_at_the_maximum_loads_and_saturates() {
    for (name, make) in optimizers::stateful::<f32>() {
        let (opt, mut store, id) = after_one_step(make);
        let path = dir().join("max-step.safetensors");
        std::fs::write(&path, with_step(&opt.state().to_bytes(&store), MAX_STEP)).unwrap();
        let mut resumed = make();
        resumed.set_state(State::load(&path, &store).unwrap()).unwrap();
        assert_eq!(resumed.state().step(), MAX_STEP, "{name}: the count read back");
        let before = store.get(id).clone();
        step(resumed.as_mut(), &mut store, id, 0.5);
        assert_eq!(resumed.state().step(), MAX_STEP, "{name}: the count saturates");
        resumed.state().save(&path, &store).unwrap();
        let after = store.get(id);
        assert!(
            after.all_finite(),
            "{name}: {:?} after a step at 2^53 - 1",
            after.data()
        );
        assert!(
            after.data()[0] < before.data()[0],
            "{name}: the step did not move against the gradient"
        );
    }
}

#[test]
fn set_state_accepts_every_state_the_optimizer_itself_saved() {
    for (name, make) in optimizers::stateful::<f32>() {
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
        err.to_string().contains("parameter #0 has 1 buffers, Adam keeps 2"),
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

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// State files written before the state went through `borel_autograd::io` (by the commit
/// before it, with the steps of `fixture_steps`) load into the same state as the steps make
/// now.
#[test]
fn state_files_of_the_earlier_format_still_load() {
    let store = fixture_store();
    let mut adam = Adam::new(0.01).amsgrad(true);
    let mut sgd = Sgd::new(0.1).momentum(0.9);
    fixture_steps(&mut adam, &store);
    fixture_steps(&mut sgd, &store);
    let fixtures = ["adam_amsgrad_state.safetensors", "sgd_momentum_state.safetensors"];
    let now: [&dyn Optimizer<f32>; 2] = [&adam, &sgd];
    let resumed: [Box<dyn Optimizer<f32>>; 2] = [
        Box::new(Adam::new(0.01).amsgrad(true)),
        Box::new(Sgd::new(0.1).momentum(0.9)),
    ];
    for ((file, now), mut resumed) in fixtures.into_iter().zip(now).zip(resumed) {
        let state = State::load(fixture(file), &store).unwrap_or_else(|e| panic!("{file}: {e}"));
        resumed.set_state(state).unwrap();
        assert_eq!(resumed.state(), now.state(), "{file}");
        assert_eq!(resumed.state().step(), 3, "{file}");
    }
}

/// One format: state files are tensor files that `io` reads and writes, and `io`'s errors
/// reach the caller unchanged inside `StateError::File`.
#[test]
fn state_files_are_tensor_files_read_and_written_by_io() {
    let path = saved_adam_state("w", &[2], 1.0, "io.safetensors");
    let (store, _) = store_with("w", &[2]);
    let file = io::read_tensors::<f32>(&path).unwrap();
    let names: Vec<&str> = file.tensors.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["w/0", "w/1"]);
    assert_eq!((file.meta("step"), file.meta("dtype")), (Some("1"), Some("f32")));
    // written by io, read as state
    let copy = dir().join("io-copy.safetensors");
    io::write_tensors(&copy, &file.tensors, &[("step", "1")]).unwrap();
    assert_eq!(State::load(&copy, &store).unwrap(), State::load(&path, &store).unwrap());
    // io's checks and errors: the size check, the dtype map, a missing file
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.push(0);
    std::fs::write(&copy, &bytes).unwrap();
    let err = file_error(State::load(&copy, &store).unwrap_err());
    assert!(
        matches!(err, FileError::Format { .. }) && err.to_string().contains("the file has"),
        "{err}"
    );
    let f64_store = {
        let mut s = ParamStore::<f64>::new();
        s.add("w", Tensor::zeros(&[2]), true);
        s
    };
    let err = State::<f64>::load(&path, &f64_store).unwrap_err();
    assert!(matches!(err, StateError::File(FileError::Dtype { .. })), "{err}");
    let err = State::<f32>::load(dir().join("missing.safetensors"), &store).unwrap_err();
    assert!(matches!(err, StateError::File(FileError::Io { .. })), "{err}");
}

/// The store the fixtures of earlier formats were made with.
fn fixture_store() -> ParamStore<f32> {
    let mut store = ParamStore::<f32>::new();
    store.add("0.kernel", Tensor::from_fn(&[2, 3], |i| i as f32 * 0.25 - 0.5), true);
    store.add("0.bias", Tensor::from_fn(&[3], |i| i as f32 * 0.1), true);
    store
}

/// The three steps the fixtures were made with, each on a copy of `store` (which stays as
/// it is).
fn fixture_steps(opt: &mut dyn Optimizer<f32>, store: &ParamStore<f32>) {
    for k in 0..3 {
        let mut copy = store.clone();
        let mut grads = ParamGrads::new(&copy);
        for id in copy.ids() {
            let shape = copy.get(id).shape().to_vec();
            grads.insert(id, Tensor::from_fn(&shape, |i| (i as f32 + 1.0) * [0.5, -1.0, 2.0][k]));
        }
        opt.update(&mut copy, &grads);
    }
}

/// State files written when Adam and RMSprop kept three buffers whatever their options (by
/// the commit before buffers followed the options, with the steps of
/// `fixture_steps`) load into the state the same steps make now, which keeps only the
/// buffers the options use, and so does the file it saves.
#[test]
fn state_files_with_buffers_the_options_did_not_use_still_load() {
    let store = fixture_store();
    let cases: [(&str, optimizers::Make<f32>, usize); 5] = [
        ("adam_state.safetensors", || Box::new(Adam::new(0.01)), 2),
        (
            "adamw_keras_state.safetensors",
            || Box::new(borel_optim::AdamW::keras()),
            2,
        ),
        ("rmsprop_keras_state.safetensors", || Box::new(RmsProp::keras()), 1),
        (
            "rmsprop_pytorch_momentum_state.safetensors",
            || Box::new(RmsProp::pytorch().momentum(0.9)),
            2,
        ),
        (
            "rmsprop_keras_centered_state.safetensors",
            || Box::new(RmsProp::keras().centered(true)),
            2,
        ),
    ];
    for (file, make, buffers) in cases {
        let mut now = make();
        fixture_steps(now.as_mut(), &store);
        let old = io::read_tensors::<f32>(&fixture(file)).unwrap();
        assert_eq!(
            old.tensors.len(),
            3 * store.len(),
            "{file}: three buffers per parameter"
        );
        let mut resumed = make();
        resumed
            .set_state(State::load(fixture(file), &store).unwrap())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(resumed.state(), now.state(), "{file}");
        assert_eq!(resumed.buffers_per_param(), buffers, "{file}");
        let saved = dir().join(format!("resaved-{file}"));
        resumed.state().save(&saved, &store).unwrap();
        let new = io::read_tensors::<f32>(&saved).unwrap();
        assert_eq!(new.tensors.len(), buffers * store.len(), "{file}: the file shrinks");
    }
    // a buffer the options do not use that is not zero: the state was saved with others
    let mut amsgrad = Adam::new(0.01).amsgrad(true);
    fixture_steps(&mut amsgrad, &store);
    let err = Adam::new(0.01).set_state(amsgrad.state().clone()).unwrap_err();
    assert!(
        err.to_string()
            .contains("buffer 2, which Adam with these options does not keep, is not zero"),
        "{err}"
    );
}

/// Each optimizer keeps the buffers its configuration says ([`Optimizer::buffers_per_param`]),
/// and its update writes every one of them: none is kept for nothing.
#[test]
fn every_buffer_kept_is_one_the_update_uses() {
    for (name, make) in optimizers::every::<f32>() {
        let (mut opt, mut store, id) = after_one_step(make);
        let first: Vec<Tensor<f32>> = opt.state().get(id).unwrap_or_default().to_vec();
        assert_eq!(first.len(), opt.buffers_per_param(), "{name}: buffers after a step");
        step(opt.as_mut(), &mut store, id, 2.0);
        let second = opt.state().get(id).unwrap_or_default();
        for (k, (a, b)) in first.iter().zip(second).enumerate() {
            assert_ne!(a, b, "{name}: buffer {k} did not change in a step");
        }
    }
}
