//! What Borel logs for TensorBoard, read back by TensorBoard's own reader
//! (`tensorboard.backend.event_processing.event_accumulator`, through
//! tests/tensorboard_read.py): every scalar with its step and value, and the histograms.
//!
//! The reader is Python's `tensorboard` package, found in the Python named by
//! `BOREL_TB_PYTHON` or else `python3`. Without it these tests print why and pass, unless
//! `BOREL_REQUIRE_TENSORBOARD` is set (as `.ci/run` does), where a missing reader fails.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::Command;

use borel::optim::schedule::StepLr;
use borel::prelude::*;
use borel::tensorboard::SummaryError;
use serde_json::Value;

/// The Python that has `tensorboard`, or None (after saying so) when the tests may skip.
fn reader_python(test: &str) -> Option<String> {
    let python = std::env::var("BOREL_TB_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let found = Command::new(&python)
        .args(["-c", "import tensorboard"])
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(python);
    }
    let why = format!("{python} cannot import tensorboard (set BOREL_TB_PYTHON to a Python that can)");
    if std::env::var_os("BOREL_REQUIRE_TENSORBOARD").is_some() {
        panic!("{test}: {why}, and BOREL_REQUIRE_TENSORBOARD is set");
    }
    // Straight to stderr: the test harness captures `eprintln!` of passing tests.
    let _ = writeln!(std::io::stderr(), "skipped {test}: {why}");
    None
}

/// A float the reader printed as the bits of its double (exact, NaN included).
fn float(v: &Value) -> f64 {
    f64::from_bits(v.as_u64().expect("the bits of a double"))
}

/// What the reader found in one run directory.
struct Run {
    file_version: f64,
    scalars: BTreeMap<String, Vec<(u64, f64)>>,
    histograms: BTreeMap<String, Vec<Value>>,
}

fn read_run(python: &str, dir: &Path) -> Run {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tensorboard_read.py");
    let out = Command::new(python)
        .arg(script)
        .arg(dir)
        .output()
        .expect("run the reader");
    assert!(
        out.status.success(),
        "reader failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).expect("the reader prints JSON");
    let scalars = json["scalars"].as_object().unwrap().iter().map(|(tag, events)| {
        let events = events.as_array().unwrap().iter();
        let points = events.map(|e| (e[0].as_u64().unwrap(), float(&e[1])));
        (tag.clone(), points.collect())
    });
    let histograms = json["histograms"].as_object().unwrap().iter();
    Run {
        file_version: json["file_version"].as_f64().expect("a file version"),
        scalars: scalars.collect(),
        histograms: histograms
            .map(|(t, h)| (t.clone(), h.as_array().unwrap().clone()))
            .collect(),
    }
}

/// Scalars are stored as f32: the reader gives back exactly the f32 nearest to what was logged.
fn assert_scalars(run: &Run, tag: &str, expected: &[(u64, f64)]) {
    let found = run
        .scalars
        .get(tag)
        .unwrap_or_else(|| panic!("no scalars '{tag}' in {:?}", run.scalars.keys()));
    assert_eq!(found.len(), expected.len(), "'{tag}': {found:?}");
    for (&(step, value), &(want_step, want)) in found.iter().zip(expected) {
        let want = want as f32 as f64;
        let same = value == want || (value.is_nan() && want.is_nan());
        assert!(
            step == want_step && same,
            "'{tag}': found ({step}, {value}), wrote ({want_step}, {want})"
        );
    }
}

/// One histogram as the reader gives it, checked against the values it was made from: the
/// counts and moments, and every bucket's count recounted over the reader's bucket limits
/// (bucket `i` holds the values in `[limit[i - 1], limit[i])`).
fn assert_histogram(h: &Value, step: u64, values: &[f64]) {
    let field = |name: &str| float(&h[name]);
    let sum: f64 = values.iter().sum();
    let sum_squares: f64 = values.iter().map(|v| v * v).sum();
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(h["step"].as_u64(), Some(step));
    assert_eq!(
        (field("num"), field("min"), field("max")),
        (values.len() as f64, min, max)
    );
    assert!((field("sum") - sum).abs() <= 1e-12 * sum_squares.sqrt() * values.len() as f64);
    assert!((field("sum_squares") - sum_squares).abs() <= 1e-12 * sum_squares);
    let numbers = |name: &str| -> Vec<f64> { h[name].as_array().unwrap().iter().map(float).collect() };
    let (limits, counts) = (numbers("bucket_limit"), numbers("bucket"));
    assert_eq!(limits.len(), counts.len());
    assert!(limits.windows(2).all(|w| w[0] < w[1]), "bucket limits increase");
    let recount: Vec<f64> = (0..limits.len())
        .map(|i| {
            let low = if i == 0 { f64::NEG_INFINITY } else { limits[i - 1] };
            values.iter().filter(|&&v| low <= v && v < limits[i]).count() as f64
        })
        .collect();
    assert_eq!(counts, recount, "bucket counts at step {step}");
    assert_tensorflow_limits(&limits);
}

/// Every limit is one of TensorFlow's default bucket limits: 0, +-DBL_MAX, or
/// +-1e-12 * 1.1^k below 1e20 (computed by repeated multiplication, as TensorFlow does).
fn assert_tensorflow_limits(limits: &[f64]) {
    let mut defaults = vec![0.0, f64::MAX, -f64::MAX];
    let mut v = 1e-12;
    while v < 1e20 {
        defaults.extend([v, -v]);
        v *= 1.1;
    }
    for l in limits {
        assert!(defaults.contains(l), "{l} is not a TensorFlow default bucket limit");
    }
}

#[test]
fn the_reader_finds_every_scalar_and_histogram_a_writer_wrote() {
    let Some(python) = reader_python("the_reader_finds_every_scalar_and_histogram_a_writer_wrote") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("runs/exp1");
    let mut writer = SummaryWriter::new(&run).unwrap();
    let loss: Vec<(u64, f64)> = (0..200)
        .map(|s| (s, (-(s as f64) / 50.0).exp() + 0.01 * (s as f64).sin()))
        .collect();
    for &(step, value) in &loss {
        writer.scalar("loss", step as usize, value).unwrap();
    }
    let accuracy: Vec<(u64, f64)> = (0..20).map(|s| (10 * s, s as f64 / 20.0)).collect();
    for &(step, value) in &accuracy {
        writer.scalar("metrics/accuracy", step as usize, value as f32).unwrap();
    }
    let edges = [0.0, -1.5, 1e30, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e-40, 3.0];
    let edge: Vec<(u64, f64)> = edges.iter().enumerate().map(|(s, &v)| (s as u64, v)).collect();
    let mut edge = edge;
    edge.last_mut().unwrap().0 = 1 << 40;
    for &(step, value) in &edge {
        writer.scalar("edge cases", step as usize, value).unwrap();
    }
    let weights: Vec<f32> = (0..1000)
        .map(|i| ((i as f32) * 0.37).sin() * (1.0 + (i as f32) * 0.001))
        .collect();
    let later: Vec<f32> = weights.iter().map(|w| 3.0 * w - 0.5).collect();
    writer.histogram("dense/kernel", 0, &weights).unwrap();
    writer.histogram("dense/kernel", 5, &later).unwrap();
    drop(writer);

    let read = read_run(&python, &run);
    assert_eq!(read.file_version, 2.0);
    let tags: BTreeSet<&str> = read.scalars.keys().map(String::as_str).collect();
    assert_eq!(tags, BTreeSet::from(["loss", "metrics/accuracy", "edge cases"]));
    assert_scalars(&read, "loss", &loss);
    assert_scalars(&read, "metrics/accuracy", &accuracy);
    assert_scalars(&read, "edge cases", &edge);
    let histograms = &read.histograms["dense/kernel"];
    assert_eq!(histograms.len(), 2);
    let f64s = |v: &[f32]| -> Vec<f64> { v.iter().map(|&w| w as f64).collect() };
    assert_histogram(&histograms[0], 0, &f64s(&weights));
    assert_histogram(&histograms[1], 5, &f64s(&later));
}

/// A small classifier with accuracy, a validation split, a learning-rate schedule and the
/// TensorBoard callback.
fn fit_with_tensorboard(logs: &Path, epochs: usize) -> (Model<f32, Sequential<f32>>, History) {
    let x = Tensor::<f32>::from_fn(&[200, 2], |i| ((i as f32) * 0.731).sin() * 2.0);
    let y = Tensor::from_fn(&[200, 1], |r| {
        let (a, b) = (x.data()[2 * r], x.data()[2 * r + 1]);
        if a + 0.5 * b > 0.0 { 1.0 } else { 0.0 }
    });
    let mut store = ParamStore::new();
    let net = Sequential::new()
        .add(Dense::new(8).activation(Activation::Tanh).input_dim(2))
        .add(Dense::new(1))
        .build(&mut store, 3);
    let mut model = Model::new(net, store);
    model.compile(Loss::BinaryCrossEntropyWithLogits, Adam::new(0.05));
    model.metrics(&[Metric::Accuracy]);
    let options = FitOptions::new()
        .epochs(epochs)
        .batch_size(32)
        .validation_split(0.25)
        .schedule(StepLr::new(2, 0.5))
        .callback(TensorBoard::new(logs).histogram_freq(2));
    let history = model.fit(&x, &y, options).unwrap();
    (model, history)
}

#[test]
fn the_reader_finds_keras_tags_for_every_epoch_of_fit() {
    let Some(python) = reader_python("the_reader_finds_keras_tags_for_every_epoch_of_fit") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let (model, history) = fit_with_tensorboard(&logs, 5);
    let per_epoch = |f: &dyn Fn(&EpochLog) -> f64| -> Vec<(u64, f64)> {
        history
            .epochs
            .iter()
            .enumerate()
            .map(|(i, e)| (i as u64, f(e)))
            .collect()
    };
    let expected_lr: Vec<(u64, f64)> = (0..5).map(|i| (i, 0.05 * 0.5f64.powi(i as i32 / 2))).collect();
    assert_eq!(per_epoch(&|e| e.lr), expected_lr, "EpochLog::lr is the schedule's rate");

    let train = read_run(&python, &logs.join("train"));
    assert_eq!(train.file_version, 2.0);
    let tags: BTreeSet<&str> = train.scalars.keys().map(String::as_str).collect();
    assert_eq!(
        tags,
        BTreeSet::from(["epoch_loss", "epoch_accuracy", "epoch_learning_rate"])
    );
    assert_scalars(&train, "epoch_loss", &per_epoch(&|e| e.loss));
    assert_scalars(&train, "epoch_accuracy", &per_epoch(&|e| e.accuracy.unwrap()));
    assert_scalars(&train, "epoch_learning_rate", &expected_lr);

    let validation = read_run(&python, &logs.join("validation"));
    let tags: BTreeSet<&str> = validation.scalars.keys().map(String::as_str).collect();
    assert_eq!(tags, BTreeSet::from(["epoch_loss", "epoch_accuracy"]));
    assert_scalars(&validation, "epoch_loss", &per_epoch(&|e| e.val_loss.unwrap()));
    assert_scalars(&validation, "epoch_accuracy", &per_epoch(&|e| e.val_accuracy.unwrap()));
    assert!(validation.histograms.is_empty());

    let names: BTreeSet<String> = model.store().names().iter().map(|n| format!("{n}/histogram")).collect();
    assert_eq!(train.histograms.keys().cloned().collect::<BTreeSet<_>>(), names);
    for (_, name, value) in model.store().iter() {
        let logged = &train.histograms[&format!("{name}/histogram")];
        let steps: Vec<u64> = logged.iter().map(|h| h["step"].as_u64().unwrap()).collect();
        assert_eq!(steps, [0, 2, 4], "{name}: histograms every 2 epochs from the first");
        // Step 4 is the last epoch: its histogram is of the final weights.
        let weights: Vec<f64> = value.data().iter().map(|&w| w as f64).collect();
        assert_histogram(&logged[2], 4, &weights);
    }
}

/// A one-weight regression and its data, for the tests that need a fit but not its numbers.
fn line_fit() -> (Model<f64, Sequential<f64>>, Tensor<f64>) {
    let mut store = ParamStore::<f64>::new();
    let net = Sequential::new().add(Dense::new(1).input_dim(1)).build(&mut store, 0);
    let mut model = Model::new(net, store);
    model.compile(Loss::Mse, Sgd::new(0.1));
    (model, Tensor::from_fn(&[8, 1], |i| i as f64))
}

#[test]
fn without_validation_data_only_the_train_run_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let (mut model, x) = line_fit();
    let options = FitOptions::new().epochs(2).callback(TensorBoard::new(&logs));
    model.fit(&x, &x, options).unwrap();
    let entries: Vec<String> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(entries, ["train"]);
    let files = std::fs::read_dir(logs.join("train")).unwrap().count();
    assert_eq!(files, 1, "one event file");
}

#[test]
fn a_log_dir_that_cannot_be_made_stops_fit_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not_a_directory");
    std::fs::write(&blocker, b"").unwrap();
    let (mut model, x) = line_fit();
    let options = FitOptions::new()
        .epochs(3)
        .callback(TensorBoard::new(blocker.join("logs")));
    let err = model.fit(&x, &x, options).unwrap_err();
    assert!(matches!(&err, FitError::Summary(SummaryError::Io { .. })), "{err:?}");
    assert!(err.to_string().contains("not_a_directory"), "{err}");
}
