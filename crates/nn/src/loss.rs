//! Losses on the tape, each with mean or sum reduction over all elements.
//!
//! The cross-entropies take logits and are computed stably (log-sum-exp / softplus), never
//! through `log(softmax)` or `log(sigmoid)`.

use std::str::FromStr;

use borel_autograd::{Float, Var};

/// How a loss folds its per-element values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reduction {
    /// The mean over all elements (the default, as in Keras and PyTorch).
    #[default]
    Mean,
    /// The sum over all elements.
    Sum,
}

fn reduce<'t, F: Float>(x: Var<'t, F>, r: Reduction) -> Var<'t, F> {
    match r {
        Reduction::Mean => x.mean(),
        Reduction::Sum => x.sum(),
    }
}

/// Mean (or summed) squared error.
///
/// ```
/// use borel_autograd::{Tape, Tensor};
/// use borel_nn::loss::{Reduction, mse};
/// let tape = Tape::<f64>::new();
/// let p = tape.var(Tensor::from_vec(vec![1.0, 2.0], &[2, 1]));
/// let y = tape.constant(Tensor::from_vec(vec![0.0, 4.0], &[2, 1]));
/// assert_eq!(mse(p, y, Reduction::Mean).item(), 2.5);
/// ```
#[track_caller]
pub fn mse<'t, F: Float>(pred: Var<'t, F>, target: Var<'t, F>, r: Reduction) -> Var<'t, F> {
    reduce((pred - target).square(), r)
}

/// Mean (or summed) absolute error; derivative 0 where prediction equals target.
#[track_caller]
pub fn mae<'t, F: Float>(pred: Var<'t, F>, target: Var<'t, F>, r: Reduction) -> Var<'t, F> {
    reduce((pred - target).abs(), r)
}

/// Huber loss: `d^2 / 2` for `|d| <= delta`, `delta (|d| - delta / 2)` beyond (Keras' default
/// delta is 1).
#[track_caller]
pub fn huber<'t, F: Float>(pred: Var<'t, F>, target: Var<'t, F>, delta: F, r: Reduction) -> Var<'t, F> {
    let d = (pred - target).abs();
    let small = d.le(d.tape().scalar(delta));
    let quad = d.square() * F::from_f64(0.5);
    let lin = (d - delta * F::from_f64(0.5)) * delta;
    reduce(Var::where_(small, quad, lin), r)
}

/// Binary cross-entropy from logits `z` and targets `y` in `[0, 1]`:
/// `softplus(z) - y z` (stable for any `z`).
#[track_caller]
pub fn binary_cross_entropy_with_logits<'t, F: Float>(
    logits: Var<'t, F>,
    target: Var<'t, F>,
    r: Reduction,
) -> Var<'t, F> {
    reduce(logits.softplus() - target * logits, r)
}

/// Categorical cross-entropy from logits `[n, classes]` and target probabilities (one-hot or
/// soft) of the same shape: `-sum_c y_c log_softmax(z)_c` per row, then reduced over rows.
#[track_caller]
pub fn categorical_cross_entropy_with_logits<'t, F: Float>(
    logits: Var<'t, F>,
    target: Var<'t, F>,
    r: Reduction,
) -> Var<'t, F> {
    let per_row = -(target * logits.log_softmax(-1)).sum_axes(&[-1], false);
    reduce(per_row, r)
}

/// Categorical cross-entropy from logits `[n, classes]` and the class index of each row.
#[track_caller]
pub fn sparse_categorical_cross_entropy_with_logits<'t, F: Float>(
    logits: Var<'t, F>,
    classes: &[usize],
    r: Reduction,
) -> Var<'t, F> {
    let n = classes.len();
    let picked = logits.log_softmax(-1).gather(1, classes, &[n, 1]);
    reduce(-picked, r)
}

/// A loss chosen by name, for configs and `Model::compile`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Loss {
    /// [`mse`].
    Mse,
    /// [`mae`].
    Mae,
    /// [`huber`] with the given delta.
    Huber(f64),
    /// [`binary_cross_entropy_with_logits`].
    BinaryCrossEntropy,
    /// [`categorical_cross_entropy_with_logits`].
    CategoricalCrossEntropy,
}

impl Loss {
    /// The loss of `pred` against `target`, reduced as asked.
    #[track_caller]
    pub fn compute<'t, F: Float>(self, pred: Var<'t, F>, target: Var<'t, F>, r: Reduction) -> Var<'t, F> {
        match self {
            Loss::Mse => mse(pred, target, r),
            Loss::Mae => mae(pred, target, r),
            Loss::Huber(d) => huber(pred, target, F::from_f64(d), r),
            Loss::BinaryCrossEntropy => binary_cross_entropy_with_logits(pred, target, r),
            Loss::CategoricalCrossEntropy => categorical_cross_entropy_with_logits(pred, target, r),
        }
    }

    /// Keras' name.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Mse => "mse",
            Loss::Mae => "mae",
            Loss::Huber(_) => "huber",
            Loss::BinaryCrossEntropy => "binary_crossentropy",
            Loss::CategoricalCrossEntropy => "categorical_crossentropy",
        }
    }
}

/// A loss name that Borel does not know.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unknown loss '{0}' (expected mse, mae, huber, binary_crossentropy or categorical_crossentropy)")]
pub struct UnknownLoss(pub String);

impl FromStr for Loss {
    type Err = UnknownLoss;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "mse" | "mean_squared_error" => Loss::Mse,
            "mae" | "mean_absolute_error" => Loss::Mae,
            "huber" => Loss::Huber(1.0),
            "binary_crossentropy" => Loss::BinaryCrossEntropy,
            "categorical_crossentropy" => Loss::CategoricalCrossEntropy,
            other => return Err(UnknownLoss(other.to_string())),
        })
    }
}
