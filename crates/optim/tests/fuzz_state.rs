//! Fuzzing the optimizer state loader: tens of thousands of mutated state files of every
//! optimizer. Half are edited in their structure (ranks 0 to 9, dims of 0 or huge, offsets
//! past the end or overlapping, a name twice, dtypes the optimizer does not use, buffers
//! removed, added or renamed, step counts and dtypes in the metadata at and beyond their
//! limits), the others byte by byte (bit flips, header and data edits, NaN, negative and huge
//! values, truncation, extension, header-length edits); one case in eight loads the state
//! into another optimizer than the one that saved it. No load and no step after it may panic,
//! errors are typed, and after every successful load one step leaves finite weights. The
//! case and panic counts are printed whether or not the test passes. `BOREL_FUZZ_CASES=n`
//! runs `n` cases instead of the CI default.

#[path = "../../nn/tests/common/mutate.rs"]
mod mutate;
mod optimizers;
#[path = "../../nn/tests/common/structure.rs"]
mod structure;

use std::collections::BTreeMap;

use borel_autograd::{ParamGrads, ParamStore, Tensor};
use borel_optim::{Optimizer, State, StateError};
use mutate::{Rng, cases, no_panic, rewrite};
use structure::{Parts, file_error_kind, mutated, report};

fn store() -> ParamStore<f32> {
    let mut store = ParamStore::new();
    store.add("0.kernel", Tensor::from_fn(&[3, 4], |i| i as f32 * 0.1 - 0.5), true);
    store.add("0.bias", Tensor::from_fn(&[4], |i| i as f32 * 0.01), true);
    store.add("1.kernel", Tensor::from_fn(&[4, 1], |i| 0.3 - i as f32 * 0.2), true);
    store
}

/// One step with a gradient of `g` everywhere.
fn step(opt: &mut dyn Optimizer<f32>, store: &mut ParamStore<f32>, g: f32) {
    let mut grads = ParamGrads::new(store);
    for id in store.ids() {
        grads.insert(id, Tensor::full(store.get(id).shape(), g));
    }
    opt.update(store, &grads);
}

/// The saved state of each optimizer of `list` after three steps, taken apart, and its bytes
/// (with the metadata in a fixed order, so that every run makes the same cases).
fn saved_states(list: &[(&str, optimizers::Make<f32>)]) -> Vec<(Parts, Vec<u8>)> {
    list.iter()
        .map(|(_, make)| {
            let (mut s, mut opt) = (store(), make());
            for g in [0.5, -1.0, 2.0] {
                step(opt.as_mut(), &mut s, g);
            }
            let parts = Parts::parse(&opt.state().to_bytes(&s));
            let bytes = parts.to_bytes();
            (parts, bytes)
        })
        .collect()
}

/// What every case reads from: the saved states, the file the disk cases rewrite, and the
/// parameters state is loaded for.
struct Setup {
    optimizers: Vec<(&'static str, optimizers::Make<f32>)>,
    files: Vec<(Parts, Vec<u8>)>,
    file: std::fs::File,
    path: std::path::PathBuf,
    store: ParamStore<f32>,
}

/// How one case ended; one case in eight reads from disk, the others from memory.
fn outcome(case: u64, rng: &mut Rng, setup: &Setup) -> Result<&'static str, String> {
    let saved_by = rng.below(setup.files.len());
    // one case in eight loads state into another optimizer than the one that saved it
    let loaded_by = if rng.below(8) == 0 {
        rng.below(setup.files.len())
    } else {
        saved_by
    };
    let (parts, original) = &setup.files[saved_by];
    let (bytes, edits) = mutated(rng, parts, original, 4);
    let from_disk = rng.below(8) == 0;
    if from_disk {
        rewrite(&setup.file, &bytes);
    }
    let (name, make) = setup.optimizers[loaded_by];
    let what = || format!("case {case}: {edits:?}, saved by #{saved_by}, loaded by {name}");
    let loaded = no_panic(|| {
        if from_disk {
            State::load(&setup.path, &setup.store)
        } else {
            State::from_bytes(&bytes, &setup.path, &setup.store)
        }
    })
    .map_err(|msg| format!("{}: load panicked: {msg}", what()))?;
    let state = match loaded {
        Err(StateError::File(e)) => return Ok(file_error_kind(&e)),
        Err(e @ StateError::Mismatch { .. }) => {
            return Err(format!("{}: a load gave the optimizer's error {e}", what()));
        }
        Ok(state) => state,
    };
    let (mut s, mut opt) = (setup.store.clone(), make());
    match no_panic(|| opt.set_state(state)) {
        Err(msg) => return Err(format!("{}: set_state panicked: {msg}", what())),
        Ok(Err(_)) => return Ok("refused by the optimizer"),
        Ok(Ok(())) => {}
    }
    let g = *rng.pick(&[0.0, 1.0, -3.0, 1e-3]);
    no_panic(|| step(opt.as_mut(), &mut s, g)).map_err(|msg| format!("{}: the step panicked: {msg}", what()))?;
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
    let stateful = optimizers::stateful();
    let setup = Setup {
        files: saved_states(&stateful),
        optimizers: stateful,
        file: std::fs::File::create(&path).unwrap(),
        path,
        store: store(),
    };
    let n = cases(6_000);
    let clock = std::time::Instant::now();
    let (mut tally, mut panics) = (BTreeMap::<&str, usize>::new(), Vec::new());
    for case in 0..n as u64 {
        let label = outcome(case, &mut Rng::new(0x57A7E, case), &setup).unwrap_or_else(|msg| {
            panics.push(msg);
            "panic"
        });
        *tally.entry(label).or_default() += 1;
    }
    std::fs::remove_dir_all(&dir).unwrap();
    report(&format!(
        "state fuzz: {n} cases, {} panics, {:.2} s\n  {tally:?}",
        panics.len(),
        clock.elapsed().as_secs_f64()
    ));
    assert!(panics.is_empty(), "{} panics, first: {}", panics.len(), panics[0]);
    assert!(!tally.contains_key("NON-FINITE after a step"), "{tally:?}");
    for outcome in [
        "loaded, finite step",
        "refused by the optimizer",
        "format",
        "mismatch",
        "unexpected",
        "shape",
        "dtype",
        "non-finite",
        "rank",
    ] {
        assert!(tally.contains_key(outcome), "no case ended in '{outcome}': {tally:?}");
    }
}
