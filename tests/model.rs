//! Model::fit and friends: typed errors for bad data, callbacks, validation, determinism.

use borel::prelude::*;

fn small_model(seed: u64) -> Model<f32, Sequential<f32>> {
    let mut store = ParamStore::new();
    let net = Sequential::new()
        .add(Dense::new(8).activation(Activation::Sigmoid).input_dim(2))
        .add(Dense::new(1))
        .build(&mut store, seed);
    let mut m = Model::new(net, store);
    m.compile(Loss::Mse, RmsProp::keras().lr(0.01));
    m
}

fn data(n: usize) -> (Tensor<f32>, Tensor<f32>) {
    let x = Tensor::from_fn(&[n, 2], |i| ((i * 37 % 101) as f32 / 50.0) - 1.0);
    let y = Tensor::from_fn(&[n, 1], |i| x.data()[2 * i] * x.data()[2 * i + 1]);
    (x, y)
}

#[test]
fn bad_data_gives_typed_errors_not_panics() {
    let mut m = small_model(0);
    let (x, y) = data(10);
    let (_, y9) = data(9);
    assert!(matches!(
        m.fit(&x, &y9, FitOptions::new().epochs(1).batch_size(4)),
        Err(FitError::RowMismatch { x_rows: 10, y_rows: 9 })
    ));
    assert!(matches!(
        m.fit(&x, &y, FitOptions::new().epochs(1).batch_size(0)),
        Err(FitError::ZeroBatch)
    ));
    let (ex, ey) = (Tensor::<f32>::zeros(&[0, 2]), Tensor::<f32>::zeros(&[0, 1]));
    assert!(matches!(
        m.fit(&ex, &ey, FitOptions::new().epochs(1).batch_size(4)),
        Err(FitError::Empty(_))
    ));
    let mut xn = x.clone();
    xn.data_mut()[7] = f32::NAN;
    let err = m.fit(&xn, &y, FitOptions::new().epochs(1).batch_size(4)).unwrap_err();
    assert!(matches!(err, FitError::NonFiniteData { which: "x", row: 3 }), "{err}");
    assert_eq!(err.to_string(), "x holds a non-finite value at sample 3");
    let mut yn = y.clone();
    yn.data_mut()[2] = f32::INFINITY;
    assert!(matches!(
        m.fit(&x, &yn, FitOptions::new().epochs(1).batch_size(4)),
        Err(FitError::NonFiniteData { which: "y", row: 2 })
    ));
    let bad_split = FitOptions::new().epochs(1).batch_size(4).validation_split(1.5);
    assert!(matches!(m.fit(&x, &y, bad_split), Err(FitError::BadOption(_))));
    let mut store = ParamStore::new();
    let net = Sequential::new().add(Dense::new(1).input_dim(2)).build(&mut store, 0);
    let mut uncompiled = Model::new(net, store);
    assert!(matches!(
        uncompiled.fit(&x, &y, FitOptions::new().epochs(1).batch_size(4)),
        Err(FitError::NotCompiled)
    ));
    assert!(matches!(m.predict(&Tensor::zeros(&[0, 2])), Err(FitError::Empty(_))));
    let y2 = Tensor::<f32>::zeros(&[10, 2]);
    let err = m.fit(&x, &y2, FitOptions::new().epochs(1).batch_size(4)).unwrap_err();
    assert_eq!(err.to_string(), "y has samples of shape [2] but the model outputs [1]");
    assert!(matches!(m.evaluate(&x, &y2), Err(FitError::TargetShape { .. })));
    let flat = Tensor::<f32>::zeros(&[10]);
    let err = m.fit(&flat, &flat, FitOptions::new()).unwrap_err();
    assert!(err.to_string().contains("x has shape [10]"), "{err}");
    let err = m.fit(&x, &flat, FitOptions::new().epochs(1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "y has samples of shape [] but the model outputs [1]: reshape y to [n, 1] (y.reshape(&[n, 1]))"
    );
    let wide = Tensor::<f32>::zeros(&[10, 3]);
    let err = m.fit(&wide, &y, FitOptions::new().epochs(1).batch_size(4)).unwrap_err();
    assert_eq!(err.to_string(), "x has shape [10, 3]; the model needs [n, 2]");
    assert!(matches!(m.predict(&wide), Err(FitError::BadShape { expected: 2, .. })));
}

#[test]
fn diverging_loss_stops_with_an_error_and_keeps_the_last_good_weights() {
    let mut store = ParamStore::new();
    let net = Sequential::new().add(Dense::new(1).input_dim(2)).build(&mut store, 0);
    let mut m = Model::new(net, store);
    m.compile(Loss::Mse, Sgd::new(1e3));
    let (x, y) = data(16);
    let err = m
        .fit(&x, &y, FitOptions::new().epochs(50).batch_size(16).shuffle(false))
        .unwrap_err();
    let FitError::NonFiniteLoss { epoch, batch, .. } = err else {
        panic!("expected NonFiniteLoss, got {err}")
    };
    assert_eq!(batch, 1);
    assert!(epoch > 1);
    // The weights are those of the step before: finite, so predict works.
    assert!(m.store().snapshot().iter().all(|t| t.all_finite()));
}

#[test]
fn fit_learns_is_deterministic_and_reports_history() {
    let (x, y) = data(64);
    let mut a = small_model(1);
    let mut b = small_model(1);
    let ha = a
        .fit(&x, &y, FitOptions::new().epochs(30).batch_size(10).seed(5))
        .unwrap();
    let hb = b
        .fit(&x, &y, FitOptions::new().epochs(30).batch_size(10).seed(5))
        .unwrap();
    assert_eq!(ha.loss(), hb.loss());
    assert_eq!(ha.epochs.len(), 30);
    assert!(ha.loss()[29] < 0.5 * ha.loss()[0], "{:?}", ha.loss());
    let eval = a.evaluate(&x, &y).unwrap().loss;
    let pred = a.predict(&x).unwrap();
    let mse = pred
        .data()
        .iter()
        .zip(y.data())
        .map(|(p, t)| ((p - t) as f64).powi(2))
        .sum::<f64>()
        / 64.0;
    assert!((eval - mse).abs() < 1e-6);
}

#[test]
fn validation_split_takes_the_last_samples() {
    let (x, y) = data(50);
    let mut m = small_model(2);
    let h = m
        .fit(&x, &y, FitOptions::new().epochs(3).batch_size(8).validation_split(0.2))
        .unwrap();
    assert_eq!(h.val_loss().len(), 3);
    let ((_, _), (vx, vy)) = borel::data::split_last(&x, &y, 0.2);
    assert_eq!(vx.shape(), &[10, 2]);
    assert!((m.evaluate(&vx, &vy).unwrap().loss - h.epochs[2].val_loss.unwrap()).abs() < 1e-9);
}

#[test]
fn early_stopping_restores_the_best_weights() {
    let (x, y) = data(32);
    let (vx, vy) = data(8);
    let mut m = small_model(3);
    m.compile(Loss::Mse, Sgd::new(0.5));
    let opts = FitOptions::new()
        .epochs(200)
        .batch_size(4)
        .validation_data(vx.clone(), vy.clone())
        .callback(EarlyStopping::new(Monitor::ValLoss, 3).restore_best_weights());
    let h = m.fit(&x, &y, opts).unwrap();
    assert!(h.stopped_early, "ran all {} epochs", h.epochs.len());
    let best = h.val_loss().into_iter().fold(f64::INFINITY, f64::min);
    assert!(
        (m.evaluate(&vx, &vy).unwrap().loss - best).abs() < 1e-9,
        "weights of the best epoch are back"
    );
}

#[test]
fn checkpoints_are_written_and_load_back() {
    let dir = std::env::temp_dir().join(format!("borel-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("best.safetensors");
    let (x, y) = data(32);
    let mut m = small_model(4);
    let seen = std::rc::Rc::new(std::cell::Cell::new(0));
    let counter = seen.clone();
    let opts = FitOptions::new()
        .epochs(6)
        .batch_size(8)
        .callback(Checkpoint::every(&path, 2))
        .callback(EpochEnd(move |_: &EpochLog| {
            counter.set(counter.get() + 1);
            Control::Continue
        }));
    m.fit(&x, &y, opts).unwrap();
    let mut other = small_model(9);
    other.load_weights(&path).unwrap();
    assert_eq!(
        other.store().snapshot(),
        m.store().snapshot(),
        "the epoch-6 checkpoint holds the final weights"
    );
    assert_eq!(seen.get(), 6);
}

#[test]
fn csv_errors_name_line_and_column() {
    let dir = std::env::temp_dir().join(format!("borel-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("d.csv");
    std::fs::write(&path, "x1,x2,y\n1,2,3\n\n4,5\n").unwrap();
    let err = borel::data::load_csv::<f32>(&path, &[0, 1], &[2], true).unwrap_err();
    assert!(
        err.to_string().ends_with("d.csv:4: 2 fields, expected at least 3"),
        "{err}"
    );
    std::fs::write(&path, "1,2,3\n4,5,NaN\n").unwrap();
    let err = borel::data::load_csv::<f32>(&path, &[0, 1], &[2], false).unwrap_err();
    assert!(err.to_string().ends_with("d.csv:2:3: 'NaN' is not a number"), "{err}");
}

#[test]
fn global_standardization_uses_one_mean_and_one_deviation() {
    let x = Tensor::<f64>::from_fn(&[500, 2], |i| {
        if i % 2 == 0 {
            2.0 * (i as f64).sin()
        } else {
            (i as f64).cos() + 3.0
        }
    });
    let xs = borel::data::GlobalStandardizer::fit(&x).transform(&x);
    let mean = xs.mean().item();
    let var = (&xs - mean).square().mean().item();
    assert!(mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-12);
    // One mean for the whole matrix: the columns keep their offsets from each other.
    let cols = xs.mean_axes(&[0], false);
    assert!((cols.at(&[1]) - cols.at(&[0])).abs() > 1.0);
}

#[test]
fn schedules_drive_the_learning_rate_during_fit() {
    use borel::optim::schedule::{ReduceOnPlateau, StepLr};
    let (x, y) = data(16);
    let mut m = small_model(6);
    m.compile(Loss::Mse, Sgd::new(0.1));
    let opts = FitOptions::new().epochs(5).batch_size(8).schedule(StepLr::new(2, 0.5));
    m.fit(&x, &y, opts).unwrap();
    // epochs 0..4 ran at 0.1, 0.1, 0.05, 0.05, 0.025
    assert!((m.optimizer().unwrap().learning_rate() - 0.025).abs() < 1e-12);

    let mut m = small_model(6);
    m.compile(Loss::Mse, Sgd::new(1e-9));
    // nothing counts as improvement after the first epoch
    let plateau = ReduceOnPlateau::new(0.5, 1).min_delta(1.0);
    let opts = FitOptions::new().epochs(4).batch_size(8).reduce_on_plateau(plateau);
    m.fit(&x, &y, opts).unwrap();
    assert!((m.optimizer().unwrap().learning_rate() - 1e-9 / 8.0).abs() < 1e-20);
}

#[test]
fn a_schedule_keeps_what_reduce_on_plateau_took_off() {
    use borel::optim::schedule::{ReduceOnPlateau, StepLr};
    let (x, y) = data(16);
    let mut m = small_model(6);
    m.compile(Loss::Mse, Sgd::new(1e-9));
    let plateau = ReduceOnPlateau::new(0.5, 1).min_delta(1.0);
    let step = StepLr::new(2, 0.5);
    let opts = FitOptions::new()
        .epochs(4)
        .batch_size(8)
        .schedule(step)
        .reduce_on_plateau(plateau);
    m.fit(&x, &y, opts).unwrap();
    // Epoch 4 (index 3) runs at 1e-9 * 0.5 (schedule) * 0.25 (two plateau cuts, after epochs 2
    // and 3); the cut after epoch 4 leaves 1e-9 * 0.5 * 0.125. Before the fix the schedule
    // overwrote the cuts every epoch and this read 1e-9 * 0.5 * 0.5.
    let lr = m.optimizer().unwrap().learning_rate();
    assert!((lr - 1e-9 * 0.5 * 0.125).abs() < 1e-22, "{lr}");
}

#[test]
fn a_store_not_built_with_the_module_is_refused() {
    let mut store = ParamStore::<f32>::new();
    let net = Sequential::new().add(Dense::new(1).input_dim(2)).build(&mut store, 0);
    let mut other = ParamStore::<f32>::new();
    let _twin = Sequential::new().add(Dense::new(1).input_dim(2)).build(&mut other, 0);
    let err = Model::try_new(net, other).err().expect("a foreign store is refused");
    assert!(err.to_string().contains("not in the store"), "{err}");
    let mut bigger = ParamStore::<f32>::new();
    let net = Sequential::new().add(Dense::new(1).input_dim(2)).build(&mut bigger, 0);
    bigger.add("extra", Tensor::zeros(&[1]), true);
    let err = Model::try_new(net, bigger)
        .err()
        .expect("a store with extra parameters is refused");
    assert!(
        err.to_string().contains("uses 2 parameters, the store holds 3"),
        "{err}"
    );
}

#[test]
fn a_huge_learning_rate_never_leaves_non_finite_weights() {
    let (x, y) = data(16);
    let y = &y * 1e10; // a finite loss (1e20) and finite gradients, whose update overflows f32
    let mut m = small_model(7);
    m.compile(Loss::Mse, Sgd::new(1e30));
    let before = m.store().snapshot();
    let err = m
        .fit(&x, &y, FitOptions::new().epochs(20).batch_size(16).shuffle(false))
        .unwrap_err();
    let FitError::NonFiniteParam {
        what,
        param,
        epoch,
        batch,
    } = &err
    else {
        panic!("expected the update to overflow: {err}")
    };
    assert_eq!((*what, *epoch, *batch), ("value", 1, 1), "{err}");
    assert!(m.store().find(param).is_some(), "{err}");
    assert_eq!(
        m.store().snapshot(),
        before,
        "the weights are those before the failing step"
    );
}

#[test]
fn a_nan_learning_rate_is_refused_where_it_is_set() {
    let caught = std::panic::catch_unwind(|| Sgd::<f32>::new(f64::NAN));
    assert!(caught.is_err());
}

fn blobs(n: usize, classes: usize) -> (Tensor<f32>, Tensor<f32>) {
    let x = Tensor::from_fn(&[n, 2], |i| {
        let (row, col) = (i / 2, i % 2);
        let c = (row % classes) as f32;
        let jitter = ((row * 7919 + col * 104729) % 97) as f32 / 97.0 - 0.5;
        if col == 0 {
            3.0 * c.cos() + jitter
        } else {
            3.0 * c.sin() + jitter
        }
    });
    let y = Tensor::from_fn(&[n], |i| (i % classes) as f32);
    (x, y)
}

#[test]
fn sparse_labels_train_and_report_accuracy() {
    let (x, y) = blobs(90, 3);
    let mut store = ParamStore::new();
    let net = Sequential::new().add(Dense::new(3).input_dim(2)).build(&mut store, 0);
    let mut m = Model::new(net, store);
    m.compile(Loss::SparseCategoricalCrossEntropy, Adam::new(0.05))
        .metrics(&[Metric::Accuracy]);
    let h = m.fit(&x, &y, FitOptions::new().epochs(60).batch_size(16)).unwrap();
    let last = h.epochs.last().unwrap();
    assert!(last.accuracy.unwrap() > 0.95, "{last:?}");
    let scores = m.evaluate(&x, &y).unwrap();
    assert!(
        scores.accuracy.unwrap() > 0.95 && scores.loss < h.epochs[0].loss,
        "{scores:?}"
    );
    let mut bad = y.clone();
    bad.data_mut()[4] = 7.0;
    let err = m.fit(&x, &bad, FitOptions::new()).unwrap_err();
    assert_eq!(err.to_string(), "y: label 7 at row 4 is out of range for 3 classes");
    let short = Tensor::from_fn(&[89], |i| (i % 3) as f32);
    assert!(matches!(m.evaluate(&x, &short), Err(FitError::RowMismatch { .. })));
}

#[test]
#[should_panic(expected = "Model::metrics: accuracy needs a classification loss")]
fn accuracy_on_a_regression_loss_panics() {
    small_model(0).metrics(&[Metric::Accuracy]);
}

#[test]
fn a_trained_model_moves_to_another_thread() {
    let (x, y) = data(32);
    let mut m = small_model(8);
    m.fit(&x, &y, FitOptions::new().epochs(3).batch_size(8)).unwrap();
    let here = m.predict(&x).unwrap();
    let there = std::thread::spawn(move || m.predict(&x).unwrap()).join().unwrap();
    assert_eq!(here, there);
}

#[test]
fn predict_from_8_threads_gives_the_bytes_of_serial_calls() {
    let (x, y) = data(64);
    let mut m = small_model(10);
    m.fit(&x, &y, FitOptions::new().epochs(3).batch_size(8)).unwrap();
    // more rows than one inference chunk (1024), so that every call runs several passes
    let big = Tensor::<f32>::from_fn(&[2500, 2], |i| ((i * 7919 % 4001) as f32 / 2000.0) - 1.0);
    let inputs = [x, big];
    let serial: Vec<Vec<u8>> = inputs.iter().map(|x| m.predict(x).unwrap().to_le_bytes()).collect();
    let model = &m;
    let from_threads: Vec<Vec<Vec<u8>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let inputs = &inputs;
                s.spawn(move || {
                    // each thread in its own order, three rounds, to interleave with the others
                    (0..3 * inputs.len())
                        .map(|k| model.predict(&inputs[(k + t) % inputs.len()]).unwrap().to_le_bytes())
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (t, outputs) in from_threads.iter().enumerate() {
        for (k, bytes) in outputs.iter().enumerate() {
            assert_eq!(bytes, &serial[(k + t) % 2], "thread {t}, call {k}");
        }
    }
}

#[test]
fn a_validation_split_that_leaves_an_empty_part_is_refused_before_training() {
    let (x, y) = data(10);
    let mut m = small_model(11);
    let before = m.store().snapshot();
    // 4% of 10 rows rounds to 0 validation rows; 96% to 10, leaving none for training
    for (fraction, train, validation) in [(0.04, 10, 0), (0.96, 0, 10)] {
        let opts = FitOptions::new().epochs(2).batch_size(4).validation_split(fraction);
        let err = m.fit(&x, &y, opts).unwrap_err();
        assert!(
            matches!(err, FitError::EmptySplit { samples: 10, train: t, validation: v, .. } if (t, v) == (train, validation)),
            "{err}"
        );
        assert_eq!(m.store().snapshot(), before, "weights changed before the error");
        assert_eq!(
            m.optimizer().unwrap().state().step(),
            0,
            "a step was taken before the error"
        );
    }
    let err = m.fit(&x, &y, FitOptions::new().validation_split(0.04)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "validation_split 0.04 of 10 samples leaves 10 for training and 0 for validation; each needs at least 1"
    );
}

/// A schedule that gives `bad` from the third epoch on (index 2).
struct BreaksAtEpoch3(f64);

impl borel::optim::schedule::Schedule for BreaksAtEpoch3 {
    fn lr(&self, t: usize, base: f64) -> f64 {
        if t >= 2 { self.0 } else { base * 0.5 }
    }
}

#[test]
fn a_schedule_giving_a_bad_rate_is_a_typed_error_and_keeps_the_weights() {
    let (x, y) = data(32);
    let mut good = small_model(12);
    good.fit(
        &x,
        &y,
        FitOptions::new().epochs(2).batch_size(8).schedule(BreaksAtEpoch3(0.01)),
    )
    .unwrap();
    for bad in [-0.1, f64::NAN, f64::INFINITY] {
        let mut m = small_model(12);
        let opts = FitOptions::new().epochs(5).batch_size(8).schedule(BreaksAtEpoch3(bad));
        let err = m.fit(&x, &y, opts).unwrap_err();
        let FitError::BadRate { from, epoch, rate } = &err else {
            panic!("expected BadRate, got {err}")
        };
        assert_eq!((*from, *epoch), ("schedule", 3), "{err}");
        assert!(rate.to_bits() == bad.to_bits(), "{err}");
        assert_eq!(
            m.store().snapshot(),
            good.store().snapshot(),
            "the weights after epoch 2"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("the schedule gave learning rate {bad} for epoch 3")),
            "{err}"
        );
    }
}

#[path = "../crates/nn/tests/common/panic_site.rs"]
mod panic_site;

/// A user's module with a bug: its weight has the wrong number of rows for the data.
struct Mismatched(ParamId);

impl Module<f32> for Mismatched {
    fn forward<'t>(&self, fw: &ForwardPass<'t, f32>, x: Var<'t, f32>) -> Var<'t, f32> {
        x.matmul(fw.param(self.0))
    }
    fn params(&self) -> Vec<ParamId> {
        vec![self.0]
    }
}

#[test]
fn a_shape_error_inside_fit_or_predict_is_reported_at_the_callers_line() {
    let mut store = ParamStore::<f32>::new();
    let w = store.add("w", Tensor::zeros(&[3, 1]), true);
    let mut m = Model::new(Mismatched(w), store);
    m.compile(Loss::Mse, Sgd::new(0.1));
    let (x, y) = (Tensor::zeros(&[8, 2]), Tensor::zeros(&[8, 1]));
    let line = line!() + 2;
    let (message, at) = panic_site::panic_of(file!(), || {
        let _ = m.fit(&x, &y, FitOptions::new().epochs(1));
    });
    assert!(message.starts_with("matmul: inner dimensions differ"), "{message}");
    assert_eq!(at, line);
    let line = line!() + 1;
    let (_, at) = panic_site::panic_of(file!(), || drop(m.predict(&x)));
    assert_eq!(at, line);
}
