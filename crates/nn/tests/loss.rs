use borel_autograd::{GradcheckOptions, Tape, Tensor, Var, gradcheck, gradgradcheck};
use borel_nn::{LabelError, Loss, Reduction, UnknownLoss, class_labels};

#[path = "../../autograd/tests/common/panic_site.rs"]
mod panic_site;
use panic_site::panic_site;

type Expr = Box<dyn for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>>;

const ALL: [Loss; 6] = [
    Loss::Mse,
    Loss::Mae,
    Loss::Huber(1.0),
    Loss::BinaryCrossEntropyWithLogits,
    Loss::CategoricalCrossEntropy,
    Loss::SparseCategoricalCrossEntropy,
];

fn t(data: &[f64], shape: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(data.to_vec(), shape)
}

#[test]
fn every_loss_in_both_reductions_passes_gradcheck_and_gradgradcheck() {
    let p = t(&[0.3, -1.2, 2.0, 0.7, -0.4, 1.1], &[3, 2]);
    let y = t(&[1.0, 0.0, 0.5, 0.2, -2.0, 1.9], &[3, 2]);
    let probs = t(&[0.2, 0.8, 1.0, 0.0, 0.5, 0.5], &[3, 2]);
    let z = t(&[0.3, -1.2, 2.0, 0.7, -0.4, 1.1, 0.0, 0.9, -0.6], &[3, 3]);
    for r in [Reduction::Mean, Reduction::Sum] {
        // The dense losses are checked in both arguments; the sparse one only in its logits,
        // since its labels are indices, not values one can perturb.
        let mut checks: Vec<(String, Expr, Vec<Tensor<f64>>)> = vec![];
        for (loss, target) in [
            (Loss::Mse, &y),
            (Loss::Mae, &y),
            (Loss::Huber(1.0), &y),
            (Loss::Huber(0.6), &y),
            (Loss::BinaryCrossEntropyWithLogits, &probs),
            (Loss::CategoricalCrossEntropy, &probs),
        ] {
            let f: Expr = Box::new(move |v| loss.compute(v[0], v[1], r));
            checks.push((format!("{loss:?}"), f, vec![p.clone(), target.clone()]));
        }
        for shape in [&[3][..], &[3, 1]] {
            let labels = t(&[2.0, 0.0, 1.0], shape);
            let f: Expr = Box::new(move |v| {
                let y = v[0].tape().constant(labels.clone());
                Loss::SparseCategoricalCrossEntropy.compute(v[0], y, r)
            });
            checks.push((format!("sparse {shape:?}"), f, vec![z.clone()]));
        }
        for (name, f, inputs) in checks {
            let opts = GradcheckOptions::default();
            let report = gradcheck(|v| f(v), &inputs, &opts);
            assert!(report.passed, "{name} {r:?}: {report}");
            let report = gradgradcheck(|v| f(v), &inputs, &opts);
            assert!(report.passed, "{name} {r:?}: {report}");
        }
    }
}

#[test]
fn losses_match_their_formulas_and_stay_finite() {
    let tape = Tape::<f64>::new();
    let p = tape.var(t(&[1.0, -2.0, 0.5, 4.0], &[2, 2]));
    let y = tape.constant(t(&[0.0, 1.0, 0.5, 0.0], &[2, 2]));
    assert_eq!(Loss::Mse.of(p, y).item(), (1.0 + 9.0 + 16.0) / 4.0);
    assert_eq!(Loss::Mse.compute(p, y, Reduction::Sum).item(), 26.0);
    assert_eq!(Loss::Mae.of(p, y).item(), 8.0 / 4.0);
    assert_eq!(
        Loss::Huber(2.0).compute(p, y, Reduction::Sum).item(),
        0.5 + 2.0 * 2.0 + 2.0 * 3.0
    );

    let z = tape.var(t(&[-800.0, 800.0, 0.0], &[1, 3]));
    let onehot = tape.constant(t(&[0.0, 1.0, 0.0], &[1, 3]));
    assert_eq!(Loss::CategoricalCrossEntropy.of(z, onehot).item(), 0.0);
    let label = tape.constant(t(&[1.0], &[1]));
    assert_eq!(Loss::SparseCategoricalCrossEntropy.of(z, label).item(), 0.0);
    let bce =
        Loss::BinaryCrossEntropyWithLogits.compute(z, tape.constant(t(&[1.0, 0.0, 1.0], &[1, 3])), Reduction::Sum);
    assert!((bce.item() - (1600.0 + 2f64.ln())).abs() < 1e-9);
    assert!(bce.backward()[z].all_finite());
    let h = Loss::Huber(1.0).compute(
        tape.constant(t(&[0.5, 3.0], &[2])),
        tape.constant(Tensor::zeros(&[2])),
        Reduction::Sum,
    );
    assert_eq!(h.item(), 0.125 + 2.5);
}

#[test]
fn sparse_cross_entropy_equals_categorical_with_one_hot_targets() {
    let tape = Tape::<f64>::new();
    let z = tape.var(t(
        &[0.3, -1.2, 2.0, 0.7, -0.4, 1.1, 0.0, 0.9, -0.6, 5.0, 1.0, -3.0],
        &[4, 3],
    ));
    let onehot = tape.constant(t(&[0., 0., 1., 1., 0., 0., 0., 1., 0., 0., 0., 1.], &[4, 3]));
    for shape in [&[4][..], &[4, 1]] {
        let labels = tape.var(t(&[2.0, 0.0, 1.0, 2.0], shape));
        for r in [Reduction::Mean, Reduction::Sum] {
            let dense = Loss::CategoricalCrossEntropy.compute(z, onehot, r);
            let sparse = Loss::SparseCategoricalCrossEntropy.compute(z, labels, r);
            assert!((dense.item() - sparse.item()).abs() < 1e-12, "{shape:?} {r:?}");
            let (gd, gs) = (dense.backward(), sparse.backward());
            assert!(gd[z].max_abs_diff(&gs[z]) < 1e-12, "{shape:?} {r:?}");
            // Labels are indices: nothing flows back into them.
            assert!(gs.get(labels).is_none_or(|g| g.data().iter().all(|&v| v == 0.0)));
        }
    }
}

#[test]
fn a_shape_mismatch_panics_at_the_callers_line_naming_loss_and_shapes() {
    let tape = Tape::<f64>::new();
    let p = tape.var(Tensor::zeros(&[5, 1]));
    let y = tape.constant(Tensor::zeros(&[5]));
    for loss in &ALL[..5] {
        let mut at = 0;
        let (msg, file, line) = panic_site(|| {
            at = line!() + 1;
            loss.of(p, y);
        });
        let name = loss.name();
        assert_eq!(
            msg,
            format!("{name}: pred shape [5, 1] and target shape [5] differ (losses do not broadcast)")
        );
        assert!(file.ends_with("tests/loss.rs"), "{name} reported in {file}");
        assert_eq!(line, at, "{name}");

        let mut at = 0;
        let (msg, file, line) = panic_site(|| {
            at = line!() + 1;
            loss.compute(y, p, Reduction::Sum);
        });
        assert_eq!(
            msg,
            format!("{name}: pred shape [5] and target shape [5, 1] differ (losses do not broadcast)")
        );
        assert!(file.ends_with("tests/loss.rs"), "{name} reported in {file}");
        assert_eq!(line, at, "{name}");
    }
}

#[test]
fn sparse_cross_entropy_refuses_targets_that_are_not_one_label_per_row() {
    let tape = Tape::<f64>::new();
    let z = tape.var(Tensor::zeros(&[5, 3]));
    let sparse = Loss::SparseCategoricalCrossEntropy;
    for (logits, target) in [
        (z, &[5, 3][..]),
        (z, &[4]),
        (z, &[5, 2]),
        (tape.var(Tensor::zeros(&[5])), &[5]),
    ] {
        let y = tape.constant(Tensor::zeros(target));
        let mut at = 0;
        let (msg, file, line) = panic_site(|| {
            at = line!() + 1;
            sparse.of(logits, y);
        });
        let expected = format!(
            "sparse_categorical_crossentropy: logits shape {:?} and target shape {target:?} do not fit \
             (expected logits [n, classes] and class labels [n] or [n, 1])",
            logits.shape()
        );
        assert_eq!(msg, expected);
        assert!(file.ends_with("tests/loss.rs"), "reported in {file}");
        assert_eq!(line, at);
    }
}

#[test]
fn sparse_cross_entropy_reports_bad_labels_not_a_gather_error() {
    let tape = Tape::<f64>::new();
    let z = tape.var(Tensor::zeros(&[5, 3]));
    for (labels, why) in [
        (
            [0.0, 1.0, 2.0, 7.0, 0.0],
            "label 7 at row 3 is out of range for 3 classes",
        ),
        (
            [0.0, -1.0, 2.0, 1.0, 0.0],
            "label -1 at row 1 is out of range for 3 classes",
        ),
        ([0.0, 1.0, 2.0, 1.0, 0.5], "label 0.5 at row 4 is not a whole number"),
    ] {
        let y = tape.constant(t(&labels, &[5, 1]));
        let mut at = 0;
        let (msg, file, line) = panic_site(|| {
            at = line!() + 1;
            Loss::SparseCategoricalCrossEntropy.compute(z, y, Reduction::Sum);
        });
        assert_eq!(msg, format!("sparse_categorical_crossentropy: {why}"));
        assert!(file.ends_with("tests/loss.rs"), "reported in {file}");
        assert_eq!(line, at);
    }
}

#[test]
fn class_labels_accepts_whole_labels_in_range_and_names_what_is_wrong() {
    let ok = Tensor::<f32>::from_vec(vec![2.0, 0.0, 1.0], &[3]);
    assert_eq!(class_labels(&ok, 3, 3), Ok(vec![2, 0, 1]));
    assert_eq!(class_labels(&ok.reshape(&[3, 1]), 3, 3), Ok(vec![2, 0, 1]));
    let cases: [(Tensor<f64>, usize, usize, LabelError, &str); 6] = [
        (
            t(&[0.0, 1.0, 2.0, 7.0], &[4]),
            4,
            3,
            LabelError::OutOfRange {
                label: 7.0,
                row: 3,
                classes: 3,
            },
            "label 7 at row 3 is out of range for 3 classes",
        ),
        (
            t(&[0.0, 1.0, 2.5], &[3]),
            3,
            3,
            LabelError::NotWhole { label: 2.5, row: 2 },
            "label 2.5 at row 2 is not a whole number",
        ),
        (
            t(&[f64::NAN], &[1, 1]),
            1,
            3,
            LabelError::NotWhole {
                label: f64::NAN,
                row: 0,
            },
            "label NaN at row 0 is not a whole number",
        ),
        (
            Tensor::zeros(&[12]),
            10,
            3,
            LabelError::Count { labels: 12, rows: 10 },
            "12 labels for 10 rows",
        ),
        (
            Tensor::zeros(&[10, 2]),
            10,
            3,
            LabelError::Shape(vec![10, 2]),
            "class labels must have shape [n] or [n, 1], got [10, 2]",
        ),
        (
            Tensor::zeros(&[]),
            1,
            3,
            LabelError::Shape(vec![]),
            "class labels must have shape [n] or [n, 1], got []",
        ),
    ];
    for (y, rows, classes, err, msg) in cases {
        let got = class_labels(&y, rows, classes).unwrap_err();
        // NaN != NaN, so compare the variants through their messages as well as directly.
        if !matches!(err, LabelError::NotWhole { label, .. } if label.is_nan()) {
            assert_eq!(got, err);
        }
        assert_eq!(got.to_string(), msg);
    }
}

#[test]
fn huber_refuses_a_delta_that_is_not_positive() {
    let tape = Tape::<f64>::new();
    let p = tape.var(Tensor::zeros(&[2]));
    for delta in [0.0, -1.0, f64::INFINITY] {
        let mut at = 0;
        let (msg, file, line) = panic_site(|| {
            at = line!() + 1;
            Loss::Huber(delta).of(p, p);
        });
        assert_eq!(msg, format!("huber: delta must be positive and finite, got {delta}"));
        assert!(file.ends_with("tests/loss.rs"), "reported in {file}");
        assert_eq!(line, at);
    }
}

#[test]
fn losses_parse_by_keras_name() {
    for loss in ALL {
        assert_eq!(loss.name().parse::<Loss>(), Ok(loss));
    }
    assert_eq!("mean_squared_error".parse::<Loss>(), Ok(Loss::Mse));
    let err = "sparse_crossentropy".parse::<Loss>().unwrap_err();
    assert_eq!(err, UnknownLoss("sparse_crossentropy".into()));
    assert!(err.to_string().contains("or sparse_categorical_crossentropy)"), "{err}");
}
