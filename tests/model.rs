//! Model::fit and friends: typed errors for bad data, callbacks, validation, determinism.

use borel::prelude::*;

fn small_model(seed: u64) -> Model<f32, Sequential<f32>> {
    let mut store = ParamStore::new();
    let net = Sequential::new()
        .add(Dense::new(8).activation("sigmoid").input_dim(2))
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
        m.fit(&x, &y9, FitOptions::new(1, 4)),
        Err(FitError::RowMismatch { x_rows: 10, y_rows: 9 })
    ));
    assert!(matches!(m.fit(&x, &y, FitOptions::new(1, 0)), Err(FitError::ZeroBatch)));
    let (ex, ey) = (Tensor::<f32>::zeros(&[0, 2]), Tensor::<f32>::zeros(&[0, 1]));
    assert!(matches!(
        m.fit(&ex, &ey, FitOptions::new(1, 4)),
        Err(FitError::Empty(_))
    ));
    let mut xn = x.clone();
    xn.data_mut()[7] = f32::NAN;
    let err = m.fit(&xn, &y, FitOptions::new(1, 4)).unwrap_err();
    assert!(matches!(err, FitError::NonFiniteData { which: "x", row: 3 }), "{err}");
    assert_eq!(err.to_string(), "x holds a non-finite value at sample 3");
    let mut yn = y.clone();
    yn.data_mut()[2] = f32::INFINITY;
    assert!(matches!(
        m.fit(&x, &yn, FitOptions::new(1, 4)),
        Err(FitError::NonFiniteData { which: "y", row: 2 })
    ));
    let bad_split = FitOptions {
        validation_split: 1.5,
        ..FitOptions::new(1, 4)
    };
    assert!(matches!(m.fit(&x, &y, bad_split), Err(FitError::BadOption(_))));
    let mut uncompiled = Model::new(
        Sequential::new()
            .add(Dense::new(1).input_dim(2))
            .build(&mut ParamStore::new(), 0),
        ParamStore::new(),
    );
    assert!(matches!(
        uncompiled.fit(&x, &y, FitOptions::new(1, 4)),
        Err(FitError::NotCompiled)
    ));
    assert!(matches!(m.predict(&Tensor::zeros(&[0, 2])), Err(FitError::Empty(_))));
    let y2 = Tensor::<f32>::zeros(&[10, 2]);
    let err = m.fit(&x, &y2, FitOptions::new(1, 4)).unwrap_err();
    assert_eq!(err.to_string(), "y has samples of shape [2] but the model outputs [1]");
    assert!(matches!(m.evaluate(&x, &y2), Err(FitError::TargetShape { .. })));
    let wide = Tensor::<f32>::zeros(&[10, 3]);
    let err = m.fit(&wide, &y, FitOptions::new(1, 4)).unwrap_err();
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
        .fit(
            &x,
            &y,
            FitOptions {
                shuffle: false,
                ..FitOptions::new(50, 16)
            },
        )
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
        .fit(
            &x,
            &y,
            FitOptions {
                seed: 5,
                ..FitOptions::new(30, 10)
            },
        )
        .unwrap();
    let hb = b
        .fit(
            &x,
            &y,
            FitOptions {
                seed: 5,
                ..FitOptions::new(30, 10)
            },
        )
        .unwrap();
    assert_eq!(ha.loss(), hb.loss());
    assert_eq!(ha.epochs.len(), 30);
    assert!(ha.loss()[29] < 0.5 * ha.loss()[0], "{:?}", ha.loss());
    let eval = a.evaluate(&x, &y).unwrap();
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
        .fit(
            &x,
            &y,
            FitOptions {
                validation_split: 0.2,
                ..FitOptions::new(3, 8)
            },
        )
        .unwrap();
    assert_eq!(h.val_loss().len(), 3);
    let ((_, _), (vx, vy)) = borel::data::split_last(&x, &y, 0.2);
    assert_eq!(vx.shape(), &[10, 2]);
    assert!((m.evaluate(&vx, &vy).unwrap() - h.epochs[2].val_loss.unwrap()).abs() < 1e-9);
}

#[test]
fn early_stopping_restores_the_best_weights() {
    let (x, y) = data(32);
    let (vx, vy) = data(8);
    let mut m = small_model(3);
    m.compile(Loss::Mse, Sgd::new(0.5));
    let opts = FitOptions {
        validation_data: Some((vx.clone(), vy.clone())),
        ..FitOptions::new(200, 4)
    }
    .callback(EarlyStopping::new(Monitor::ValLoss, 3).restore_best_weights());
    let h = m.fit(&x, &y, opts).unwrap();
    assert!(h.stopped_early, "ran all {} epochs", h.epochs.len());
    let best = h.val_loss().into_iter().fold(f64::INFINITY, f64::min);
    assert!(
        (m.evaluate(&vx, &vy).unwrap() - best).abs() < 1e-9,
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
    let opts = FitOptions::new(6, 8)
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
fn least_squares_bound_and_standardization_match_the_seed_setup() {
    let (x, y) = borel::data::seed_surface::<f64>(1000, 1, 10);
    let s = borel::data::GlobalStandardizer::fit(&x);
    let xs = s.transform(&x);
    let all: Vec<f64> = xs.data().to_vec();
    let mean = all.iter().sum::<f64>() / 2000.0;
    let var = all.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 2000.0;
    assert!(mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-12);
    let ols = borel::data::least_squares_sse(&xs, &y);
    // The post's regime: y is even in x1 and x2, so a linear fit explains almost nothing.
    assert!((35_000.0..50_000.0).contains(&ols), "{ols}");
    let mean_y = y.data().iter().sum::<f64>() / 1000.0;
    let sst: f64 = y.data().iter().map(|v| (v - mean_y).powi(2)).sum();
    assert!(ols <= sst && ols > 0.95 * sst);
    // Per-feature standardization gives the same bound (the fit is affine-invariant).
    let pf = borel::data::Standardizer::fit(&x).transform(&x);
    assert!((borel::data::least_squares_sse(&pf, &y) - ols).abs() < 1e-6 * ols);
}

#[test]
fn schedules_drive_the_learning_rate_during_fit() {
    use borel::optim::schedule::{ReduceOnPlateau, StepLr};
    let (x, y) = data(16);
    let mut m = small_model(6);
    m.compile(Loss::Mse, Sgd::new(0.1));
    let opts = FitOptions {
        schedule: Some(Box::new(StepLr {
            step_size: 2,
            gamma: 0.5,
        })),
        ..FitOptions::new(5, 8)
    };
    m.fit(&x, &y, opts).unwrap();
    // epochs 0..4 ran at 0.1, 0.1, 0.05, 0.05, 0.025
    assert!((m.optimizer().unwrap().learning_rate() - 0.025).abs() < 1e-12);

    let mut m = small_model(6);
    m.compile(Loss::Mse, Sgd::new(1e-9));
    let mut plateau = ReduceOnPlateau::new(0.5, 1);
    plateau.min_delta = 1.0; // nothing counts as improvement after the first epoch
    let opts = FitOptions {
        reduce_on_plateau: Some(plateau),
        ..FitOptions::new(4, 8)
    };
    m.fit(&x, &y, opts).unwrap();
    assert!((m.optimizer().unwrap().learning_rate() - 1e-9 / 8.0).abs() < 1e-20);
}
