//! Weight files: interchange with Python's `safetensors` (fixtures made by
//! `tests/fixtures/make_fixtures.py`), atomic saves, and loads that change nothing on error.

use std::path::{Path, PathBuf};

use borel_autograd::Tensor;
use borel_nn::{
    Activation, ActivationLayer, Dense, FileError as WeightsError, Layout, ParamStore, Sequential, WeightFile,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn torch_like_model(store: &mut ParamStore<f32>, seed: u64) -> Sequential<f32> {
    Sequential::new()
        .add(Dense::new(3).activation(Activation::Linear).input_dim(2))
        .add(ActivationLayer::new(Activation::Tanh))
        .add(Dense::new(1))
        .build(store, seed)
}

fn scratch(name: &str) -> PathBuf {
    let path = std::env::temp_dir()
        .join(format!("borel-weights-{}", std::process::id()))
        .join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    path
}

#[test]
fn loads_a_file_written_by_python_with_pytorch_names() {
    let mut store = ParamStore::new();
    let _model = torch_like_model(&mut store, 0);
    store.load(fixture("torch_style.safetensors"), Layout::PyTorch).unwrap();
    // PyTorch's 0.weight is [out=3, in=2]; Borel's 0.kernel is its transpose.
    let k = store.get(store.find("0.kernel").unwrap());
    assert_eq!(k.shape(), &[2, 3]);
    let w = |r: usize, c: usize| ((r * 2 + c) as f32 - 2.5) / 10.0;
    for r in 0..2 {
        for c in 0..3 {
            assert_eq!(k.at(&[r, c]), w(c, r));
        }
    }
    assert_eq!(store.get(store.find("2.kernel").unwrap()).data(), &[1.5, -0.5, 0.25]);
    assert_eq!(store.get(store.find("2.bias").unwrap()).data(), &[-0.75]);
}

fn recognizable_store() -> ParamStore<f32> {
    let mut store = ParamStore::new();
    let _ = torch_like_model(&mut store, 0);
    let ids: Vec<_> = store.ids().collect();
    for id in ids {
        let name = store.name(id).to_string();
        let i: f32 = name[..1].parse().unwrap();
        let t = store.get_mut(id);
        let shape = t.shape().to_vec();
        *t = if name.ends_with("kernel") {
            Tensor::from_fn(&shape, |k| {
                (100.0 * i + 10.0 * (k / shape[1]) as f32 + (k % shape[1]) as f32) / 64.0
            })
        } else {
            Tensor::from_fn(&shape, |c| -0.5 * c as f32)
        };
    }
    store
}

#[test]
fn borel_file_is_what_python_reads() {
    // make_fixtures.py checked these exact bytes with the reference safetensors package.
    let bytes = recognizable_store().to_safetensors(Layout::PyTorch);
    let committed = std::fs::read(fixture("borel_written.safetensors")).unwrap();
    assert!(
        bytes == committed,
        "the writer's bytes changed; regenerate and re-check with make_fixtures.py"
    );
}

#[test]
fn save_then_load_round_trips_in_both_layouts() {
    for layout in [Layout::Borel, Layout::PyTorch] {
        let src = recognizable_store();
        let path = scratch(&format!("round-{layout:?}.safetensors"));
        src.save(&path, layout).unwrap();
        let mut dst = ParamStore::new();
        let _ = torch_like_model(&mut dst, 99);
        dst.load(&path, layout).unwrap();
        assert_eq!(dst.snapshot(), src.snapshot());
    }
    // f64 too
    let mut a = ParamStore::<f64>::new();
    let _ = Sequential::new().add(Dense::new(4).input_dim(3)).build(&mut a, 1);
    let path = scratch("f64.safetensors");
    a.save(&path, Layout::Borel).unwrap();
    let mut b = ParamStore::<f64>::new();
    let _ = Sequential::new().add(Dense::new(4).input_dim(3)).build(&mut b, 2);
    b.load(&path, Layout::Borel).unwrap();
    assert_eq!(a.snapshot(), b.snapshot());
}

/// Loads `bytes` into a fresh model and checks the error and that nothing changed.
fn load_fails(bytes: &[u8], layout: Layout) -> WeightsError {
    let mut store = ParamStore::<f32>::new();
    let _ = torch_like_model(&mut store, 5);
    let before: Vec<Vec<u32>> = store
        .snapshot()
        .iter()
        .map(|t| t.data().iter().map(|v| v.to_bits()).collect())
        .collect();
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let path = scratch(&format!(
        "bad-{}.safetensors",
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::write(&path, bytes).unwrap();
    let err = store.load(&path, layout).unwrap_err();
    let after: Vec<Vec<u32>> = store
        .snapshot()
        .iter()
        .map(|t| t.data().iter().map(|v| v.to_bits()).collect())
        .collect();
    assert_eq!(before, after, "a failed load changed the parameters");
    err
}

#[test]
fn truncated_file_is_an_error_and_changes_nothing() {
    let good = std::fs::read(fixture("torch_style.safetensors")).unwrap();
    for cut in [0, 7, 20, good.len() / 2, good.len() - 1] {
        let err = load_fails(&good[..cut], Layout::PyTorch);
        assert!(matches!(err, WeightsError::Format { .. }), "cut at {cut}: {err}");
    }
}

#[test]
fn corrupted_header_is_an_error_and_changes_nothing() {
    let mut bad = std::fs::read(fixture("torch_style.safetensors")).unwrap();
    bad[8] = b'#'; // the JSON header's opening brace
    let err = load_fails(&bad, Layout::PyTorch);
    assert!(matches!(err, WeightsError::Format { .. }), "{err}");
    assert!(
        err.to_string().contains(".safetensors: not a valid safetensors file"),
        "{err}"
    );
}

#[test]
fn wrong_shape_is_an_error_naming_the_tensor() {
    let mut other = ParamStore::<f32>::new();
    let _ = Sequential::new()
        .add(Dense::new(4).input_dim(2))
        .add(ActivationLayer::new(Activation::Tanh))
        .add(Dense::new(1))
        .build(&mut other, 0);
    let err = load_fails(&other.to_safetensors(Layout::PyTorch), Layout::PyTorch);
    match &err {
        WeightsError::Shape {
            name, expected, found, ..
        } => {
            assert_eq!(
                (name.as_str(), expected.as_slice(), found.as_slice()),
                ("0.weight", &[3, 2][..], &[4, 2][..])
            )
        }
        e => panic!("expected a shape error, got {e}"),
    }
    assert!(
        err.to_string()
            .contains("tensor '0.weight' has shape [4, 2], the model expects [3, 2]"),
        "{err}"
    );
}

#[test]
fn missing_tensor_wrong_dtype_and_extra_tensor_are_errors() {
    // Borel names read as PyTorch names: 0.weight is missing.
    let borel_named = recognizable_store().to_safetensors(Layout::Borel);
    let err = load_fails(&borel_named, Layout::PyTorch);
    assert!(
        matches!(&err, WeightsError::Missing { name, param, .. } if name == "0.weight" && param == "0.kernel"),
        "{err}"
    );

    let mut wide = ParamStore::<f64>::new();
    let _ = torch_like_model_f64(&mut wide);
    let err = load_fails(&wide.to_safetensors(Layout::PyTorch), Layout::PyTorch);
    assert!(
        matches!(&err, WeightsError::Dtype { found, expected: "f32", .. } if found == "f64"),
        "{err}"
    );

    let mut extra = recognizable_store();
    extra.add("3.kernel", Tensor::zeros(&[1, 1]), true);
    let err = load_fails(&extra.to_safetensors(Layout::PyTorch), Layout::PyTorch);
    assert!(
        matches!(&err, WeightsError::Unexpected { name, .. } if name == "3.weight"),
        "{err}"
    );
}

fn torch_like_model_f64(store: &mut ParamStore<f64>) -> Sequential<f64> {
    Sequential::new()
        .add(Dense::new(3).input_dim(2))
        .add(ActivationLayer::new(Activation::Tanh))
        .add(Dense::new(1))
        .build(store, 0)
}

#[test]
fn missing_file_is_an_io_error_naming_the_path() {
    let mut store = ParamStore::<f32>::new();
    let _ = torch_like_model(&mut store, 0);
    let err = store.load("/nonexistent/dir/w.safetensors", Layout::Borel).unwrap_err();
    assert!(matches!(err, WeightsError::Io { .. }));
    assert!(err.to_string().starts_with("/nonexistent/dir/w.safetensors:"), "{err}");
}

#[test]
fn saving_replaces_the_file_atomically() {
    // A folder of its own: other tests save concurrently elsewhere.
    let path = scratch("atomic/w.safetensors");
    let a = recognizable_store();
    a.save(&path, Layout::Borel).unwrap();
    let mut b = ParamStore::<f32>::new();
    let _ = torch_like_model(&mut b, 3);
    b.save(&path, Layout::Borel).unwrap();
    let mut c = ParamStore::<f32>::new();
    let _ = torch_like_model(&mut c, 4);
    c.load(&path, Layout::Borel).unwrap();
    assert_eq!(c.snapshot(), b.snapshot());
    // No temporary file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty());
    // Saving into a missing folder fails with the path and leaves nothing.
    let err = a.save("/nonexistent/dir/w.safetensors", Layout::Borel).unwrap_err();
    assert!(matches!(err, WeightsError::Io { .. }), "{err}");
}

#[test]
#[ignore]
fn write_borel_fixture() {
    recognizable_store()
        .save(fixture("borel_written.safetensors"), Layout::PyTorch)
        .unwrap();
}

#[test]
fn nan_weights_are_refused_naming_tensor_and_element_unless_allowed() {
    let mut src = ParamStore::<f32>::new();
    let _ = torch_like_model(&mut src, 3);
    let kernel = src.find("0.kernel").unwrap();
    src.get_mut(kernel).data_mut()[5] = f32::NAN;
    let bytes = src.to_safetensors(Layout::Borel);
    let err = load_fails(&bytes, Layout::Borel);
    assert!(
        matches!(&err, WeightsError::NonFinite { name, element, .. } if name == "0.kernel" && element == &vec![1, 2]),
        "{err}"
    );
    let path = scratch("nan-allowed.safetensors");
    std::fs::write(&path, &bytes).unwrap();
    let mut dst = ParamStore::<f32>::new();
    let _ = torch_like_model(&mut dst, 5);
    dst.load_allowing_non_finite(&path, Layout::Borel).unwrap();
    assert!(dst.get(dst.find("0.kernel").unwrap()).data()[5].is_nan());
}

#[test]
fn a_large_file_whose_header_does_not_match_its_size_is_refused_before_its_data_is_read() {
    let mut src = ParamStore::<f32>::new();
    let _ = torch_like_model(&mut src, 3);
    let mut bytes = src.to_safetensors(Layout::Borel);
    bytes.extend(std::iter::repeat_n(0u8, 64 << 20));
    let err = load_fails(&bytes, Layout::Borel);
    assert!(err.to_string().contains("the header describes"), "{err}");
    let err = load_fails(&[0xff; 4096], Layout::Borel);
    assert!(err.to_string().contains("header of"), "{err}");
}
