//! CSV loading: values range-checked in the target float type, a byte-order mark skipped,
//! every error naming its line (and column), column indices checked; and a bounded fuzz of
//! random and mutated files that must never panic (`BOREL_FUZZ_CASES=n` for more cases).

#[path = "../crates/nn/tests/common/mutate.rs"]
mod mutate;

use std::collections::BTreeMap;
use std::path::PathBuf;

use borel::data::{CsvError, load_csv};
use mutate::{Rng, cases, no_panic, rewrite};

fn scratch(name: &str, contents: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("borel-csv-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn values_are_range_checked_after_narrowing_to_the_element_type() {
    let path = scratch("range.csv", b"x,y\n1,2\n1e39,3\n");
    let err = load_csv::<f32>(&path, &[0], &[1], true).unwrap_err();
    assert!(
        matches!(
            err,
            CsvError::OutOfRange {
                line: 3,
                column: 1,
                dtype: "f32",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .ends_with("range.csv:3:1: '1e39' is out of the finite range of f32")
    );
    let (x, _) = load_csv::<f64>(&path, &[0], &[1], true).unwrap();
    assert_eq!(x.data(), [1.0, 1e39]);
    for (text, line, column) in [("1,1e400\n", 1, 2), ("1,2\n-inf,0\n", 2, 1), ("3.5e38,0\n", 1, 1)] {
        let path = scratch("range2.csv", text.as_bytes());
        let want = (line, column);
        match load_csv::<f32>(&path, &[0], &[1], false).unwrap_err() {
            CsvError::OutOfRange { line, column, .. } => assert_eq!((line, column), want, "{text}"),
            other => panic!("{text}: {other}"),
        }
    }
    // the largest f32 and values that round to it or underflow are fine
    let path = scratch("edge.csv", b"3.4028235e38,1e-50\n");
    let (x, y) = load_csv::<f32>(&path, &[0], &[1], false).unwrap();
    assert_eq!((x.data(), y.data()), ([f32::MAX].as_slice(), [0.0].as_slice()));
}

#[test]
fn a_byte_order_mark_is_skipped_and_crlf_lines_read() {
    let path = scratch("bom.csv", b"\xEF\xBB\xBF1,2\r\n3,4\r\n");
    let (x, y) = load_csv::<f32>(&path, &[0], &[1], false).unwrap();
    assert_eq!((x.data(), y.data()), ([1.0, 3.0].as_slice(), [2.0, 4.0].as_slice()));
    let path = scratch("bom-header.csv", b"\xEF\xBB\xBFa,b\n5,6\n");
    let (x, _) = load_csv::<f64>(&path, &[0], &[1], true).unwrap();
    assert_eq!(x.data(), [5.0]);
}

#[test]
fn cr_lf_and_crlf_line_endings_all_end_lines() {
    // Classic Mac OS wrote a lone CR; before, such a file was one long line: "no data rows".
    for (name, ending) in [("cr.csv", "\r"), ("lf.csv", "\n"), ("crlf.csv", "\r\n")] {
        let text = ["a,b", "1,2", "3,4", "5,6", ""].join(ending);
        let path = scratch(name, text.as_bytes());
        let (x, y) = load_csv::<f32>(&path, &[0], &[1], true).unwrap();
        assert_eq!(
            (x.data(), y.data()),
            ([1.0, 3.0, 5.0].as_slice(), [2.0, 4.0, 6.0].as_slice())
        );
        // errors still name the right line
        let path = scratch(name, ["1,2", "3,4", "5,x"].join(ending).as_bytes());
        let err = load_csv::<f32>(&path, &[0], &[1], false).unwrap_err();
        assert!(
            matches!(err, CsvError::BadValue { line: 3, column: 2, .. }),
            "{name}: {err}"
        );
    }
    // mixed in one file; a blank CR line is skipped, line numbers count every ending
    let path = scratch("mixed.csv", b"1,2\r3,4\r\n\r5,6\n7,x");
    let err = load_csv::<f64>(&path, &[0], &[1], false).unwrap_err();
    assert!(matches!(err, CsvError::BadValue { line: 5, column: 2, .. }), "{err}");
    let path = scratch("mixed-ok.csv", b"1,2\r3,4\r\n\r5,6\n");
    let (x, _) = load_csv::<f64>(&path, &[0], &[1], false).unwrap();
    assert_eq!(x.data(), [1.0, 3.0, 5.0]);
}

#[test]
fn invalid_utf8_names_line_column_and_byte() {
    // "café" in Latin-1 in the second field of line 3
    let path = scratch("latin1.csv", b"a,b\n1,2\n3,caf\xe9\n");
    let err = load_csv::<f32>(&path, &[0], &[1], true).unwrap_err();
    assert!(
        matches!(
            err,
            CsvError::Encoding {
                line: 3,
                column: 2,
                offset: 6,
                byte: 0xe9,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("latin1.csv:3:2: invalid UTF-8 (byte 0xe9"),
        "{err}"
    );
}

#[test]
fn column_indices_beyond_the_first_line_are_typed_errors() {
    let path = scratch("cols.csv", b"a,b,c\n1,2,3\n");
    for (x_cols, y_cols) in [(vec![usize::MAX], vec![0]), (vec![0], vec![3]), (vec![0, 7], vec![])] {
        let err = load_csv::<f32>(&path, &x_cols, &y_cols, true).unwrap_err();
        let bad = *x_cols.iter().chain(&y_cols).max().unwrap();
        assert!(
            matches!(err, CsvError::NoSuchColumn { line: 1, index, found: 3, .. } if index == bad),
            "{err}"
        );
    }
    let err = load_csv::<f32>(&path, &[usize::MAX], &[0], false).unwrap_err();
    assert!(err.to_string().ends_with(&format!(
        "cols.csv:1: column index {} does not exist: the line has 3 fields",
        usize::MAX
    )));
}

#[test]
fn short_lines_and_bad_values_still_name_line_and_column() {
    let path = scratch("short.csv", b"a,b,c\n1,2,3\n\n4,5\n");
    let err = load_csv::<f32>(&path, &[0, 1], &[2], true).unwrap_err();
    assert!(
        err.to_string().ends_with("short.csv:4: 2 fields, expected at least 3"),
        "{err}"
    );
    let path = scratch("nan.csv", b"1,2,3\n4,5,NaN\n");
    let err = load_csv::<f32>(&path, &[0, 1], &[2], false).unwrap_err();
    assert!(err.to_string().ends_with("nan.csv:2:3: 'NaN' is not a number"), "{err}");
}

/// A random CSV-like file: numbers of every size, junk, separators, BOMs, bad bytes.
fn random_csv(rng: &mut Rng) -> Vec<u8> {
    const PIECES: &[&str] = &[
        "1",
        "-2.5",
        "1e39",
        "-1e39",
        "1e400",
        "3.4028235e38",
        "3.4028236e38",
        "1e-50",
        "nan",
        "inf",
        "-inf",
        "",
        " ",
        "x",
        "0x10",
        "1_000",
        ",",
        "\n",
        "\r\n",
        "\u{feff}",
        "é",
        "1e",
        "+",
        ".",
        "--1",
    ];
    let mut out = Vec::new();
    for _ in 0..rng.below(40) {
        match rng.below(12) {
            0 => out.push(rng.next() as u8),
            1 | 2 => out.push(b','),
            3 => out.push(b'\n'),
            _ => out.extend_from_slice(rng.pick(PIECES).as_bytes()),
        }
    }
    out
}

#[test]
fn random_and_mutated_csv_files_never_panic() {
    let n = cases(3000);
    let base = b"a,b,y\n1,2,3\n4.5,-5e-3,6\n7,8e37,9\n".to_vec();
    let (mut tally, mut panics) = (BTreeMap::<&str, usize>::new(), Vec::new());
    let path = scratch("fuzz.csv", b"");
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    for case in 0..n as u64 {
        let mut rng = Rng::new(0xC5F, case);
        let mut bytes = if rng.below(2) == 0 {
            random_csv(&mut rng)
        } else {
            base.clone()
        };
        for _ in 0..rng.below(4) {
            if !bytes.is_empty() {
                let i = rng.below(bytes.len());
                bytes[i] = *rng.pick(b"0123456789,.-eE\n\r \xff\xe9\xef\xbb\xbfx");
            }
        }
        rewrite(&file, &bytes);
        let cols = [0, 1, 2, 3, usize::MAX, usize::MAX - 1, 1 << 40];
        let x_cols: Vec<usize> = (0..rng.below(3)).map(|_| *rng.pick(&cols[..4])).collect();
        let y_cols = vec![if rng.below(8) == 0 {
            *rng.pick(&cols)
        } else {
            *rng.pick(&cols[..3])
        }];
        let header = rng.below(2) == 0;
        let label = match no_panic(|| load_csv::<f32>(&path, &x_cols, &y_cols, header)) {
            Err(msg) => {
                panics.push(format!("case {case} {bytes:?} {x_cols:?} {y_cols:?}: {msg}"));
                "panic"
            }
            Ok(Ok((x, y))) => {
                assert!(
                    x.all_finite() && y.all_finite(),
                    "case {case}: non-finite values loaded"
                );
                assert_eq!((x.shape()[1], y.shape()[1]), (x_cols.len(), y_cols.len()));
                "loaded"
            }
            Ok(Err(CsvError::Io { .. })) => "io",
            Ok(Err(CsvError::Encoding { .. })) => "encoding",
            Ok(Err(CsvError::BadValue { .. })) => "bad value",
            Ok(Err(CsvError::OutOfRange { .. })) => "out of range",
            Ok(Err(CsvError::NoSuchColumn { .. })) => "no such column",
            Ok(Err(CsvError::ShortLine { .. })) => "short line",
            Ok(Err(CsvError::Empty { .. })) => "empty",
        };
        *tally.entry(label).or_default() += 1;
    }
    eprintln!("csv fuzz, {n} cases: {tally:?}");
    assert!(panics.is_empty(), "{} panics, first: {}", panics.len(), panics[0]);
    for outcome in [
        "loaded",
        "encoding",
        "bad value",
        "out of range",
        "no such column",
        "short line",
    ] {
        assert!(tally.contains_key(outcome), "no case ended in '{outcome}': {tally:?}");
    }
}
