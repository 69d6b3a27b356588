//! Losses on the tape, each with mean or sum reduction.
//!
//! [`Loss`] is the one way to call a loss: `Loss::Mse.of(pred, target)` for the mean, or
//! `Loss::Mse.compute(pred, target, Reduction::Sum)` for another reduction.
//!
//! Prediction and target must have the same shape: a loss never broadcasts, so a `[5, 1]`
//! prediction against a `[5]` target panics instead of silently comparing 25 pairs (PyTorch
//! warns; Borel refuses). The one exception is
//! [`Loss::SparseCategoricalCrossEntropy`], whose target holds one class index per row.
//!
//! The cross-entropies take logits and are computed stably (log-sum-exp / softplus), never
//! through `log(softmax)` or `log(sigmoid)`.

use std::str::FromStr;

use borel_autograd::{Float, Tensor, Var};

/// How a loss folds its per-element (or, for the categorical losses, per-row) values.
///
/// ```
/// use borel_autograd::{Tape, Tensor};
/// use borel_nn::{Loss, Reduction};
/// let tape = Tape::<f64>::new();
/// let p = tape.var(Tensor::from_vec(vec![1.0, 2.0], &[2]));
/// let y = tape.constant(Tensor::from_vec(vec![0.0, 4.0], &[2]));
/// assert_eq!(Loss::Mse.compute(p, y, Reduction::Sum).item(), 5.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reduction {
    /// The mean (the default, as in Keras and PyTorch).
    #[default]
    Mean,
    /// The sum.
    Sum,
}

fn reduce<'t, F: Float>(x: Var<'t, F>, r: Reduction) -> Var<'t, F> {
    match r {
        Reduction::Mean => x.mean(),
        Reduction::Sum => x.sum(),
    }
}

/// A loss, named as in Keras, called as `loss.of(pred, target)` (mean) or
/// `loss.compute(pred, target, reduction)`.
///
/// | variant | Keras name (with `from_logits=True`) | PyTorch | per element (or row) |
/// |---|---|---|---|
/// | `Mse` | `mse` | `MSELoss` | `(p - y)^2` |
/// | `Mae` | `mae` | `L1Loss` | `\|p - y\|` |
/// | `Huber(delta)` | `huber` | `HuberLoss` | `d^2 / 2` for `\|d\| <= delta`, else `delta (\|d\| - delta / 2)` |
/// | `BinaryCrossEntropyWithLogits` | `binary_crossentropy` | `BCEWithLogitsLoss` | `softplus(z) - y z` |
/// | `CategoricalCrossEntropy` | `categorical_crossentropy` | `CrossEntropyLoss` (probabilities) | `-sum_c y_c log_softmax(z)_c` |
/// | `SparseCategoricalCrossEntropy` | `sparse_categorical_crossentropy` | `CrossEntropyLoss` (class indices) | `-log_softmax(z)_label` |
///
/// The cross-entropies take logits, never probabilities: they are Keras' losses with
/// `from_logits=True`, and the Keras names parse to them (`"binary_crossentropy"` is
/// [`Loss::BinaryCrossEntropyWithLogits`]); a model that ends in a sigmoid or softmax should
/// drop it and pass its logits. Prediction and target must have
/// the same shape, except for the sparse loss: logits `[n, classes]` and one class index per
/// row, stored as floats, in a target of shape `[n]` or `[n, 1]` (see [`class_labels`]).
/// A mismatch panics at the caller's line, naming the loss and both shapes.
///
/// ```
/// use borel_autograd::{Tape, Tensor};
/// use borel_nn::{Loss, Reduction};
///
/// let tape = Tape::<f64>::new();
/// let p = tape.var(Tensor::from_vec(vec![1.0, 2.0], &[2, 1]));
/// let y = Tensor::from_vec(vec![0.0, 4.0], &[2, 1]);
/// assert_eq!(Loss::Mse.of(p, &y).item(), 2.5); // a tensor of targets, or a var
/// assert_eq!(Loss::Mae.compute(p, tape.constant(y), Reduction::Sum).item(), 3.0);
///
/// // Two rows of logits over three classes, and the class of each row.
/// let z = tape.var(Tensor::from_vec(vec![0.0, 0.0, 0.0, 5.0, 0.0, 0.0], &[2, 3]));
/// let labels = tape.constant(Tensor::from_vec(vec![2.0, 0.0], &[2]));
/// let l = Loss::SparseCategoricalCrossEntropy.of(z, labels);
/// let by_hand = (3f64.ln() + (1.0 + 2.0 * (-5f64).exp()).ln()) / 2.0;
/// assert!((l.item() - by_hand).abs() < 1e-12);
///
/// let loss: Loss = "sparse_categorical_crossentropy".parse().unwrap();
/// assert_eq!(loss, Loss::SparseCategoricalCrossEntropy);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Loss {
    /// Mean squared error.
    Mse,
    /// Mean absolute error; derivative 0 where prediction equals target.
    Mae,
    /// Huber loss with the given delta (positive and finite; Keras' and PyTorch's default is 1).
    Huber(f64),
    /// Binary cross-entropy from logits `z` and targets `y` in `[0, 1]`: `softplus(z) - y z`,
    /// stable for any `z`.
    BinaryCrossEntropyWithLogits,
    /// Categorical cross-entropy from logits `[n, classes]` and target probabilities (one-hot
    /// or soft) of the same shape, reduced over rows.
    CategoricalCrossEntropy,
    /// Categorical cross-entropy from logits `[n, classes]` and the class index of each row,
    /// as floats in a target `[n]` or `[n, 1]`, reduced over rows. The target gets no gradient.
    SparseCategoricalCrossEntropy,
}

/// What a loss compares its prediction with: a [`Var`] on the prediction's tape, or a
/// [`Tensor`] (`&y` or `y`), which the loss places on that tape as a constant.
pub trait Target<'t, F: Float> {
    /// The target as a var on `pred`'s tape.
    fn on_tape_of(self, pred: Var<'t, F>) -> Var<'t, F>;
}

impl<'t, F: Float> Target<'t, F> for Var<'t, F> {
    fn on_tape_of(self, _pred: Var<'t, F>) -> Var<'t, F> {
        self
    }
}

impl<'t, F: Float> Target<'t, F> for &Tensor<F> {
    fn on_tape_of(self, pred: Var<'t, F>) -> Var<'t, F> {
        pred.tape().constant(self.clone())
    }
}

impl<'t, F: Float> Target<'t, F> for Tensor<F> {
    fn on_tape_of(self, pred: Var<'t, F>) -> Var<'t, F> {
        pred.tape().constant(self)
    }
}

impl Loss {
    /// The mean loss of `pred` against `target` (a var, or a tensor of targets); panics when
    /// their shapes do not fit.
    #[track_caller]
    pub fn of<'t, F: Float>(self, pred: Var<'t, F>, target: impl Target<'t, F>) -> Var<'t, F> {
        self.compute(pred, target, Reduction::Mean)
    }

    /// The loss of `pred` against `target`, reduced as asked; panics when their shapes do not
    /// fit.
    #[track_caller]
    pub fn compute<'t, F: Float>(self, pred: Var<'t, F>, target: impl Target<'t, F>, r: Reduction) -> Var<'t, F> {
        let target = target.on_tape_of(pred);
        match self {
            Loss::Mse => mse(pred, target, r),
            Loss::Mae => mae(pred, target, r),
            Loss::Huber(d) => huber(pred, target, d, r),
            Loss::BinaryCrossEntropyWithLogits => binary_cross_entropy_with_logits(pred, target, r),
            Loss::CategoricalCrossEntropy => categorical_cross_entropy_with_logits(pred, target, r),
            Loss::SparseCategoricalCrossEntropy => sparse_categorical_cross_entropy_with_logits(pred, target, r),
        }
    }

    /// Keras' name (for the cross-entropies, of the loss with `from_logits=True`), which
    /// [`FromStr`] accepts back.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Mse => "mse",
            Loss::Mae => "mae",
            Loss::Huber(_) => "huber",
            Loss::BinaryCrossEntropyWithLogits => "binary_crossentropy",
            Loss::CategoricalCrossEntropy => "categorical_crossentropy",
            Loss::SparseCategoricalCrossEntropy => "sparse_categorical_crossentropy",
        }
    }
}

#[track_caller]
fn same_shape<F: Float>(loss: &str, pred: Var<'_, F>, target: Var<'_, F>) {
    let (p, t) = (pred.shape(), target.shape());
    if p.as_slice() != t.as_slice() {
        panic!("{loss}: pred shape {p:?} and target shape {t:?} differ (losses do not broadcast)");
    }
}

#[track_caller]
fn mse<'t, F: Float>(pred: Var<'t, F>, target: Var<'t, F>, r: Reduction) -> Var<'t, F> {
    same_shape(Loss::Mse.name(), pred, target);
    reduce((pred - target).square(), r)
}

#[track_caller]
fn mae<'t, F: Float>(pred: Var<'t, F>, target: Var<'t, F>, r: Reduction) -> Var<'t, F> {
    same_shape(Loss::Mae.name(), pred, target);
    reduce((pred - target).abs(), r)
}

#[track_caller]
fn huber<'t, F: Float>(pred: Var<'t, F>, target: Var<'t, F>, delta: f64, r: Reduction) -> Var<'t, F> {
    same_shape(Loss::Huber(1.0).name(), pred, target);
    // With delta <= 0 the quadratic branch is never taken and the "loss" is negative near the
    // target; with an infinite delta the unused linear branch turns gradients into NaN.
    if !delta.is_finite() || delta <= 0.0 {
        panic!("huber: delta must be positive and finite, got {delta}");
    }
    let delta = F::from_f64(delta);
    let d = (pred - target).abs();
    let small = d.le(d.tape().scalar(delta));
    let quad = d.square() * F::from_f64(0.5);
    let lin = (d - delta * F::from_f64(0.5)) * delta;
    reduce(Var::where_(small, quad, lin), r)
}

#[track_caller]
fn binary_cross_entropy_with_logits<'t, F: Float>(logits: Var<'t, F>, target: Var<'t, F>, r: Reduction) -> Var<'t, F> {
    same_shape(Loss::BinaryCrossEntropyWithLogits.name(), logits, target);
    reduce(logits.softplus() - target * logits, r)
}

#[track_caller]
fn categorical_cross_entropy_with_logits<'t, F: Float>(
    logits: Var<'t, F>,
    target: Var<'t, F>,
    r: Reduction,
) -> Var<'t, F> {
    same_shape(Loss::CategoricalCrossEntropy.name(), logits, target);
    let per_row = -(target * logits.log_softmax(-1)).sum_axes(&[-1], false);
    reduce(per_row, r)
}

#[track_caller]
fn sparse_categorical_cross_entropy_with_logits<'t, F: Float>(
    logits: Var<'t, F>,
    target: Var<'t, F>,
    r: Reduction,
) -> Var<'t, F> {
    let name = Loss::SparseCategoricalCrossEntropy.name();
    let (z, t) = (logits.shape(), target.shape());
    let (z, t) = (z.as_slice(), t.as_slice());
    let fits = z.len() == 2 && (t == [z[0]] || t == [z[0], 1]);
    if !fits {
        panic!(
            "{name}: logits shape {z:?} and target shape {t:?} do not fit \
             (expected logits [n, classes] and class labels [n] or [n, 1])"
        );
    }
    let (n, classes) = (z[0], z[1]);
    let labels = match class_labels(&target.value(), n, classes) {
        Ok(labels) => labels,
        Err(e) => panic!("{name}: {e}"),
    };
    let picked = logits.log_softmax(-1).gather(1, &labels, &[n, 1]);
    reduce(-picked, r)
}

/// Why a tensor of class labels cannot be used with a given number of rows and classes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LabelError {
    /// The labels are neither a vector `[n]` nor a column `[n, 1]`.
    #[error("class labels must have shape [n] or [n, 1], got {0:?}")]
    Shape(Vec<usize>),
    /// There are not as many labels as rows.
    #[error("{labels} labels for {rows} rows")]
    Count {
        /// How many labels there are.
        labels: usize,
        /// How many rows (samples) they should label.
        rows: usize,
    },
    /// A label has a fractional part, or is infinite or NaN.
    #[error("label {label} at row {row} is not a whole number")]
    NotWhole {
        /// The label as stored.
        label: f64,
        /// Its row, counted from 0.
        row: usize,
    },
    /// A label is negative or not below the number of classes.
    #[error("label {label} at row {row} is out of range for {classes} classes")]
    OutOfRange {
        /// The label as stored.
        label: f64,
        /// Its row, counted from 0.
        row: usize,
        /// How many classes there are (labels run from 0 to `classes - 1`).
        classes: usize,
    },
}

/// The class indices stored as floats in `y` (shape `[rows]` or `[rows, 1]`), checked to be
/// whole numbers in `0..classes`: what [`Loss::SparseCategoricalCrossEntropy`] expects as its
/// target. Use it to reject bad labels in user data with a typed error before training; the
/// loss itself panics with the same message.
///
/// ```
/// use borel_autograd::Tensor;
/// use borel_nn::{LabelError, class_labels};
///
/// let y = Tensor::from_vec(vec![2.0, 0.0, 1.0], &[3, 1]);
/// assert_eq!(class_labels(&y, 3, 3), Ok(vec![2, 0, 1]));
///
/// let bad = Tensor::from_vec(vec![2.0, 0.0, 7.0], &[3]);
/// let err = class_labels(&bad, 3, 3).unwrap_err();
/// assert_eq!(err, LabelError::OutOfRange { label: 7.0, row: 2, classes: 3 });
/// assert_eq!(err.to_string(), "label 7 at row 2 is out of range for 3 classes");
/// ```
pub fn class_labels<F: Float>(y: &Tensor<F>, rows: usize, classes: usize) -> Result<Vec<usize>, LabelError> {
    let shape = y.shape();
    if !(shape.len() == 1 || (shape.len() == 2 && shape[1] == 1)) {
        return Err(LabelError::Shape(shape.to_vec()));
    }
    if shape[0] != rows {
        return Err(LabelError::Count { labels: shape[0], rows });
    }
    y.data()
        .iter()
        .enumerate()
        .map(|(row, v)| {
            let label = v.to_f64();
            if !label.is_finite() || label.fract() != 0.0 {
                Err(LabelError::NotWhole { label, row })
            } else if label < 0.0 || label >= classes as f64 {
                Err(LabelError::OutOfRange { label, row, classes })
            } else {
                Ok(label as usize)
            }
        })
        .collect()
}

/// A loss name that Borel does not know.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "unknown loss '{0}' (expected mse, mae, huber, binary_crossentropy, categorical_crossentropy \
     or sparse_categorical_crossentropy)"
)]
pub struct UnknownLoss(pub String);

impl FromStr for Loss {
    type Err = UnknownLoss;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "mse" | "mean_squared_error" => Loss::Mse,
            "mae" | "mean_absolute_error" => Loss::Mae,
            "huber" => Loss::Huber(1.0),
            "binary_crossentropy" => Loss::BinaryCrossEntropyWithLogits,
            "categorical_crossentropy" => Loss::CategoricalCrossEntropy,
            "sparse_categorical_crossentropy" => Loss::SparseCategoricalCrossEntropy,
            other => return Err(UnknownLoss(other.to_string())),
        })
    }
}
