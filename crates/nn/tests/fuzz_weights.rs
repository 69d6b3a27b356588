//! Fuzzing the weights loader: tens of thousands of mutated weight files, read from disk and
//! from memory, in both layouts and both float types. Half the files are edited in their
//! structure (ranks 0 to 9, dims of 0 or huge, offsets past the end or overlapping, a name
//! twice, dtypes the model does not use, tensors removed, added or renamed, metadata), the
//! others byte by byte (bit flips, header and data edits, NaN and huge values, truncation,
//! extension, header-length edits). No load may panic; after every error the model must be
//! bit-identical; after every success it must hold finite values. The case and panic counts
//! are printed whether or not the test passes. `BOREL_FUZZ_CASES=n` runs `n` cases per float
//! type instead of the CI default.

#[path = "common/mutate.rs"]
mod mutate;
#[path = "common/structure.rs"]
mod structure;

use std::collections::BTreeMap;
use std::path::Path;

use borel_autograd::{Float, Tensor};
use borel_nn::{Dense, Layout, ParamStore, Sequential, WeightFile};
use mutate::{Rng, cases, no_panic, rewrite};
use structure::{Parts, file_error_kind, mutated, report};

fn model<F: Float>(seed: u64) -> ParamStore<F> {
    let mut store = ParamStore::new();
    let _ = Sequential::new()
        .add(Dense::new(4).input_dim(3))
        .add(Dense::new(2))
        .build(&mut store, seed);
    store
}

/// Counts of one run: outcome name -> cases.
type Tally = BTreeMap<&'static str, usize>;

/// A file to mutate: its layout, the file taken apart, and its bytes.
type Original = (Layout, Parts, Vec<u8>);

/// Whether two lists of tensors hold the same shapes and the same bits.
fn same_bits<F: Float>(a: &[Tensor<F>], b: &[Tensor<F>]) -> bool {
    let bits = |t: &Tensor<F>| t.data().iter().map(|v| v.to_f64().to_bits()).collect::<Vec<_>>();
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.shape() == y.shape() && bits(x) == bits(y))
}

/// Loads `n` mutations of another model's file into a model, checking each outcome; one
/// case in eight reads from disk (the header-first reader), the others from memory.
fn fuzz<F: Float>(n: usize, seed: u64, path: &Path) -> (Tally, Vec<String>) {
    let mut store = model::<F>(0);
    let pristine = store.snapshot();
    let (mut tally, mut panics) = (Tally::new(), Vec::new());
    let file = std::fs::File::create(path).unwrap();
    let other = model::<F>(1);
    let originals: Vec<Original> = [Layout::Borel, Layout::PyTorch]
        .into_iter()
        .map(|l| {
            let parts = Parts::parse(&other.to_safetensors(l));
            let bytes = parts.to_bytes();
            (l, parts, bytes)
        })
        .collect();
    for case in 0..n as u64 {
        let mut rng = Rng::new(seed, case);
        let (layout, parts, original) = rng.pick(&originals);
        let (layout, (bytes, edits)) = (*layout, mutated(&mut rng, parts, original, size_of::<F>()));
        let from_disk = rng.below(8) == 0;
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
                "panic"
            }
            Ok(Err(e)) => {
                assert!(
                    same_bits(&store.snapshot(), &pristine),
                    "case {case} ({edits:?}): the model changed on the error {e}"
                );
                file_error_kind(e)
            }
            Ok(Ok(())) => {
                assert!(
                    store.iter().all(|(_, _, t)| t.all_finite()),
                    "case {case} ({edits:?}): a load succeeded with non-finite values"
                );
                store.restore(&pristine);
                "loaded"
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
    let n = cases(8_000);
    let clock = std::time::Instant::now();
    let (t32, p32) = fuzz::<f32>(n, 0xB0E1, &dir.join("w.safetensors"));
    let (t64, p64) = fuzz::<f64>(n, 0xF64, &dir.join("w64.safetensors"));
    std::fs::remove_dir_all(&dir).unwrap();
    let panics: Vec<_> = p32.iter().chain(&p64).collect();
    report(&format!(
        "weights fuzz: {} cases ({n} per dtype), {} panics, {:.2} s\n  f32: {t32:?}\n  f64: {t64:?}",
        2 * n,
        panics.len(),
        clock.elapsed().as_secs_f64()
    ));
    assert!(panics.is_empty(), "{} panics, first: {}", panics.len(), panics[0]);
    for t in [&t32, &t64] {
        // the mutations must reach every check, or the test proves little
        for outcome in [
            "loaded",
            "format",
            "non-finite",
            "shape",
            "dtype",
            "rank",
            "missing",
            "unexpected",
        ] {
            assert!(t.contains_key(outcome), "no case ended in '{outcome}': {t:?}");
        }
    }
}
