//! Weight files whose headers are valid JSON but describe what no tensor can be, or what the
//! model does not use: every one is a typed `FileError`, from disk and from memory, and the
//! model is unchanged (a header declaring a rank-8 tensor used to panic inside the loader).

use borel_autograd::Tensor;
use borel_nn::{FileError, Layout, ParamStore, WeightFile};

/// A model with one parameter `w` of shape `[2, 3]`.
fn model() -> ParamStore<f32> {
    let mut store = ParamStore::new();
    store.add("w", Tensor::from_fn(&[2, 3], |i| i as f32 - 2.5), true);
    store
}

/// A safetensors file of `header` (JSON) and `data`.
fn file(header: &str, data_len: usize) -> Vec<u8> {
    let mut header = header.to_string();
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend((0..data_len).map(|i| (i % 7) as u8 * 8));
    bytes
}

/// One tensor entry of a header.
fn entry(name: &str, dtype: &str, shape: &str, start: usize, end: usize) -> String {
    format!("\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{shape}],\"data_offsets\":[{start},{end}]}}")
}

/// Loads `bytes` from memory and from disk; both must fail alike and change nothing.
fn load_error(bytes: &[u8]) -> FileError {
    let mut store = model();
    let before = store.snapshot();
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("borel-hostile-{}-{n}.safetensors", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let from_disk = store.load(&path, Layout::Borel).expect_err("loaded from disk");
    std::fs::remove_file(&path).unwrap();
    let err = store
        .load_bytes(bytes, &path, Layout::Borel)
        .expect_err("loaded from memory");
    assert_eq!(from_disk.to_string(), err.to_string(), "disk and memory disagree");
    assert_eq!(store.snapshot(), before, "the model changed on the error {err}");
    err
}

#[test]
fn ranks_from_0_to_9_load_or_are_typed_errors() {
    for rank in 0..=9usize {
        // as many elements as `w` (6), so that only the rank is wrong
        let mut dims = vec!["1"; rank];
        if rank > 0 {
            dims[rank - 1] = "6";
        }
        let bytes = file(&format!("{{{}}}", entry("w", "F32", &dims.join(","), 0, 24)), 24);
        let err = if rank == 0 {
            load_error(&file(&format!("{{{}}}", entry("w", "F32", "", 0, 4)), 4))
        } else {
            load_error(&bytes)
        };
        if rank > 6 {
            assert!(
                matches!(err, FileError::Mismatch { ref message, .. } if message.contains(&format!("has rank {rank}"))),
                "rank {rank}: {err}"
            );
        } else {
            assert!(matches!(err, FileError::Shape { .. }), "rank {rank}: {err}");
        }
    }
}

#[test]
fn zero_and_huge_dims_are_typed_errors() {
    for (shape, bytes) in [
        ("0,3", 0),
        ("2,0", 0),
        ("18446744073709551615,0", 0),
        ("0,4294967296,4294967296", 0),
    ] {
        let err = load_error(&file(&format!("{{{}}}", entry("w", "F32", shape, 0, bytes)), bytes));
        assert!(matches!(err, FileError::Shape { .. }), "[{shape}]: {err}");
    }
    for shape in [
        "4294967296,4294967296",
        "18446744073709551616",
        "-1,6",
        "9007199254740993",
    ] {
        let err = load_error(&file(&format!("{{{}}}", entry("w", "F32", shape, 0, 24)), 24));
        assert!(matches!(err, FileError::Format { .. }), "[{shape}]: {err}");
    }
}

#[test]
fn offsets_past_the_end_or_overlapping_are_format_errors() {
    let headers = [
        format!("{{{}}}", entry("w", "F32", "2,3", 0, 48)),
        format!("{{{}}}", entry("w", "F32", "2,3", 24, 48)),
        format!("{{{}}}", entry("w", "F32", "2,3", 24, 0)),
        format!(
            "{{{},{}}}",
            entry("w", "F32", "2,3", 0, 24),
            entry("b", "F32", "2,3", 0, 24)
        ),
        format!(
            "{{{},{}}}",
            entry("w", "F32", "2,3", 0, 24),
            entry("b", "F32", "2,3", 12, 36)
        ),
        format!("{{{}}}", entry("w", "F32", "2,3", 0, usize::MAX)),
    ];
    for header in headers {
        let err = load_error(&file(&header, 24));
        assert!(matches!(err, FileError::Format { .. }), "{header}: {err}");
    }
}

#[test]
fn a_name_twice_is_a_format_error() {
    let w = entry("w", "F32", "2,3", 0, 24);
    for header in [
        format!("{{{w},{w}}}"),
        format!("{{\"__metadata__\":{{}},\"__metadata__\":{{}},{w}}}"),
    ] {
        let err = load_error(&file(&header, 24));
        assert!(
            matches!(err, FileError::Format { ref message, .. } if message.contains("twice")),
            "{header}: {err}"
        );
    }
}

#[test]
fn dtypes_the_model_does_not_use_are_dtype_errors() {
    for (dtype, bytes) in [
        ("F64", 48),
        ("F16", 12),
        ("BF16", 12),
        ("I64", 48),
        ("BOOL", 6),
        ("U8", 6),
        ("F4", 3),
    ] {
        let err = load_error(&file(&format!("{{{}}}", entry("w", dtype, "2,3", 0, bytes)), bytes));
        assert!(
            matches!(err, FileError::Dtype { ref found, .. } if *found == dtype.to_lowercase()),
            "{dtype}: {err}"
        );
    }
    // a dtype safetensors does not know, and one whose size is not whole bytes
    for (dtype, bytes) in [("F128", 96), ("F6_E2M3", 5)] {
        let err = load_error(&file(&format!("{{{}}}", entry("w", dtype, "2,3", 0, bytes)), bytes));
        assert!(matches!(err, FileError::Format { .. }), "{dtype}: {err}");
    }
}

#[test]
fn a_well_formed_file_of_these_helpers_loads() {
    // the helpers above make files the loader accepts when nothing is wrong
    let mut store = model();
    let bytes = file(&format!("{{{}}}", entry("w", "F32", "2,3", 0, 24)), 24);
    store
        .load_bytes(&bytes, "w.safetensors".as_ref(), Layout::Borel)
        .unwrap();
    assert_eq!(store.get(store.find("w").unwrap()).shape(), &[2, 3]);
}
