//! Fuzzing the weights loader: thousands of mutated weight files (bit flips, header and data
//! edits, NaN and huge values, truncation, extension, header-length edits), read from disk
//! and from memory, in both layouts and both float types. No load may panic; after every
//! error the model must be bit-identical; after every success it must hold finite values.
//! `BOREL_FUZZ_CASES=n` runs `n` cases per float type instead of the CI default.

#[path = "common/mutate.rs"]
mod mutate;

use std::collections::BTreeMap;
use std::path::Path;

use borel_autograd::Float;
use borel_nn::{Dense, FileError, Layout, ParamStore, Sequential, WeightFile};
use mutate::{Rng, cases, mutate, no_panic, rewrite};

fn model<F: Float>(seed: u64) -> ParamStore<F> {
    let mut store = ParamStore::new();
    let _ = Sequential::new()
        .add(Dense::new(4).input_dim(3))
        .add(Dense::new(2))
        .build(&mut store, seed);
    store
}

fn variant(e: &FileError) -> &'static str {
    match e {
        FileError::Io { .. } => "io",
        FileError::Format { .. } => "format",
        FileError::Missing { .. } => "missing",
        FileError::Unexpected { .. } => "unexpected",
        FileError::Shape { .. } => "shape",
        FileError::Dtype { .. } => "dtype",
        FileError::NonFinite { .. } => "non-finite",
        FileError::Mismatch { .. } => "mismatch",
    }
}

/// Counts of one run: outcome name -> cases.
type Tally = BTreeMap<String, usize>;

/// Loads `n` mutations of another model's file into a model, checking each outcome.
fn fuzz<F: Float>(n: usize, seed: u64, path: &Path) -> (Tally, Vec<String>) {
    let mut store = model::<F>(0);
    let pristine = store.to_safetensors(Layout::Borel);
    let (mut tally, mut panics) = (Tally::new(), Vec::new());
    let file = std::fs::File::create(path).unwrap();
    let other = model::<F>(1);
    let files = [Layout::Borel, Layout::PyTorch].map(|l| (l, other.to_safetensors(l)));
    for case in 0..n as u64 {
        let mut rng = Rng::new(seed, case);
        let (layout, original) = rng.pick(&files);
        let (layout, (bytes, edits)) = (*layout, mutate(&mut rng, original, size_of::<F>()));
        let from_disk = rng.below(2) == 0;
        if from_disk {
            rewrite(&file, &bytes);
        }
        let outcome = no_panic(|| {
            if from_disk {
                store.load(path, layout)
            } else {
                store.load_bytes(&bytes, path, layout)
            }
        });
        let label = match &outcome {
            Err(msg) => {
                panics.push(format!("case {case} ({edits:?}, {layout:?}): {msg}"));
                "panic".to_string()
            }
            Ok(Err(e)) => {
                assert_eq!(
                    store.to_safetensors(Layout::Borel),
                    pristine,
                    "case {case} ({edits:?}): the model changed on the error {e}"
                );
                format!("error: {}", variant(e))
            }
            Ok(Ok(())) => {
                assert!(
                    store.iter().all(|(_, _, t)| t.all_finite()),
                    "case {case} ({edits:?}): a load succeeded with non-finite values"
                );
                store.load_bytes(&pristine, path, Layout::Borel).unwrap();
                "loaded".to_string()
            }
        };
        *tally.entry(label).or_default() += 1;
    }
    (tally, panics)
}

#[test]
fn mutated_weight_files_never_panic_and_never_change_the_model_on_error() {
    let dir = std::env::temp_dir().join(format!("borel-fuzz-weights-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let n = cases(5000);
    let (t32, p32) = fuzz::<f32>(n, 0xB0E1, &dir.join("w.safetensors"));
    let (t64, p64) = fuzz::<f64>(n, 0xF64, &dir.join("w64.safetensors"));
    std::fs::remove_dir_all(&dir).unwrap();
    eprintln!("weights fuzz, {n} cases per dtype\n  f32: {t32:?}\n  f64: {t64:?}");
    let panics: Vec<_> = p32.iter().chain(&p64).collect();
    assert!(panics.is_empty(), "{} panics, first: {}", panics.len(), panics[0]);
    for t in [&t32, &t64] {
        // the mutations must reach every check, or the test proves little
        for outcome in ["loaded", "error: format", "error: non-finite", "error: shape"] {
            assert!(t.contains_key(outcome), "no case ended in '{outcome}': {t:?}");
        }
    }
}
