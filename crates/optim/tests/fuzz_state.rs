//! Fuzzing the optimizer state loader: thousands of mutated state files of every optimizer
//! (bit flips, header and data edits, NaN, negative and huge values, step counts at the
//! limits, truncation, extension, header-length edits), and state loaded into another
//! optimizer than the one that saved it. No load and no step after it may panic, errors are
//! typed, and after every successful load one step leaves finite weights.
//! `BOREL_FUZZ_CASES=n` runs `n` cases instead of the CI default.

#[path = "../../nn/tests/common/mutate.rs"]
mod mutate;

use std::collections::BTreeMap;

use borel_autograd::{ParamGrads, ParamStore, Tensor};
use borel_optim::{Adagrad, Adam, AdamW, Optimizer, RmsProp, Sgd, State, StateError};
use mutate::{Rng, cases, mutate, no_panic, rewrite};

fn store() -> ParamStore<f32> {
    let mut store = ParamStore::new();
    store.add("0.kernel", Tensor::from_fn(&[3, 4], |i| i as f32 * 0.1 - 0.5), true);
    store.add("0.bias", Tensor::from_fn(&[4], |i| i as f32 * 0.01), true);
    store.add("1.kernel", Tensor::from_fn(&[4, 1], |i| 0.3 - i as f32 * 0.2), true);
    store
}

/// Every optimizer and option that keeps state, by name.
fn optimizers() -> Vec<(&'static str, Box<dyn Optimizer<f32>>)> {
    vec![
        ("adam", Box::new(Adam::new(0.01))),
        ("adam amsgrad keras", Box::new(Adam::keras().amsgrad(true))),
        ("adamw", Box::new(AdamW::new(0.01))),
        ("sgd momentum", Box::new(Sgd::new(0.1).momentum(0.9).nesterov(true))),
        (
            "rmsprop centered",
            Box::new(RmsProp::pytorch().centered(true).momentum(0.5)),
        ),
        ("rmsprop keras", Box::new(RmsProp::keras())),
        ("adagrad", Box::new(Adagrad::new(0.1))),
    ]
}

/// One step with a gradient of `g` everywhere.
fn step(opt: &mut dyn Optimizer<f32>, store: &mut ParamStore<f32>, g: f32) {
    let mut grads = ParamGrads::new(store);
    for id in store.ids() {
        grads.insert(id, Tensor::full(store.get(id).shape(), g));
    }
    opt.update(store, &grads);
}

/// The saved state of each optimizer after three steps.
fn saved_states() -> Vec<Vec<u8>> {
    optimizers()
        .into_iter()
        .map(|(_, mut opt)| {
            let mut s = store();
            for g in [0.5, -1.0, 2.0] {
                step(opt.as_mut(), &mut s, g);
            }
            opt.state().to_bytes(&s)
        })
        .collect()
}

/// How one case ended.
fn outcome(
    case: u64,
    rng: &mut Rng,
    files: &[Vec<u8>],
    file: &std::fs::File,
    path: &std::path::Path,
) -> Result<&'static str, String> {
    let saved_by = rng.below(files.len());
    // one case in eight loads state into another optimizer than the one that saved it
    let loaded_by = if rng.below(8) == 0 {
        rng.below(files.len())
    } else {
        saved_by
    };
    let (bytes, edits) = mutate(rng, &files[saved_by], 4);
    let from_disk = rng.below(2) == 0;
    if from_disk {
        rewrite(file, &bytes);
    }
    let mut s = store();
    let (name, mut opt) = optimizers().swap_remove(loaded_by);
    let what = format!("case {case}: {edits:?}, saved by #{saved_by}, loaded by {name}");
    let loaded = no_panic(|| {
        if from_disk {
            State::load(path, &s)
        } else {
            State::from_bytes(&bytes, path, &s)
        }
    })
    .map_err(|msg| format!("{what}: load panicked: {msg}"))?;
    let state = match loaded {
        Err(StateError::Io { .. }) => return Ok("error: io"),
        Err(StateError::Format { .. }) => return Ok("error: format"),
        Err(StateError::Mismatch { .. }) => return Err(format!("{what}: a load gave the optimizer's error")),
        Ok(state) => state,
    };
    match no_panic(|| opt.set_state(state)) {
        Err(msg) => return Err(format!("{what}: set_state panicked: {msg}")),
        Ok(Err(_)) => return Ok("error: refused by the optimizer"),
        Ok(Ok(())) => {}
    }
    let g = *rng.pick(&[0.0, 1.0, -3.0, 1e-3]);
    no_panic(|| step(opt.as_mut(), &mut s, g)).map_err(|msg| format!("{what}: the step panicked: {msg}"))?;
    Ok(if s.iter().all(|(_, _, t)| t.all_finite()) {
        "loaded, finite step"
    } else {
        "NON-FINITE after a step"
    })
}

#[test]
fn mutated_state_files_never_panic_and_never_give_non_finite_weights() {
    let dir = std::env::temp_dir().join(format!("borel-fuzz-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.safetensors");
    let file = std::fs::File::create(&path).unwrap();
    let files = saved_states();
    let n = cases(5000);
    let (mut tally, mut panics) = (BTreeMap::<&str, usize>::new(), Vec::new());
    for case in 0..n as u64 {
        let label = outcome(case, &mut Rng::new(0x57A7E, case), &files, &file, &path).unwrap_or_else(|msg| {
            panics.push(msg);
            "panic"
        });
        *tally.entry(label).or_default() += 1;
    }
    std::fs::remove_dir_all(&dir).unwrap();
    eprintln!("state fuzz, {n} cases: {tally:?}");
    assert!(panics.is_empty(), "{} panics, first: {}", panics.len(), panics[0]);
    assert!(!tally.contains_key("NON-FINITE after a step"), "{tally:?}");
    for outcome in [
        "loaded, finite step",
        "error: format",
        "error: refused by the optimizer",
    ] {
        assert!(tally.contains_key(outcome), "no case ended in '{outcome}': {tally:?}");
    }
}
