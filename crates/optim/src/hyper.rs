//! Every optimizer and schedule setting is checked where it is set, against one table: each
//! setting's range and the words PyTorch's constructors raise for a value outside it.
//!
//! A value outside its range is a programming error: it panics at the caller's line, naming
//! the method (`Adam::betas: Invalid beta parameter at index 0: 1.0 (must be in [0, 1))`).
//! Where PyTorch accepts a value that makes the update NaN or divergent, the range is
//! narrower than PyTorch's, and the setter's documentation says so.

/// A setting that is checked where it is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hyper {
    LearningRate,
    /// Adam's `betas.0` (0) and `betas.1` (1).
    Beta(u8),
    Epsilon,
    WeightDecay,
    Momentum,
    Dampening,
    /// RMSprop's decay of the squared-gradient average (PyTorch's alpha, Keras' rho).
    Alpha,
    LrDecay,
    InitialAccumulator,
    Gamma,
    StepSize,
    Total,
    Factor,
    MinDelta,
    MinLr,
    ClipLimit,
    MaxNorm,
    MaxIter,
    MaxEval,
    HistorySize,
    ToleranceGrad,
    ToleranceChange,
}

/// The values a setting may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Range {
    /// Finite and >= 0.
    NonNegative,
    /// Finite and > 0.
    Positive,
    /// In [0, 1).
    Unit,
    /// In [0, 1].
    UnitClosed,
    /// In (0, 1).
    UnitOpen,
    /// A whole number >= 1.
    Count,
}

impl Range {
    fn contains(self, v: f64) -> bool {
        match self {
            Range::NonNegative => v.is_finite() && v >= 0.0,
            Range::Positive => v.is_finite() && v > 0.0,
            Range::Unit => (0.0..1.0).contains(&v),
            Range::UnitClosed => (0.0..=1.0).contains(&v),
            Range::UnitOpen => v > 0.0 && v < 1.0,
            Range::Count => v >= 1.0,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Range::NonNegative => "finite and >= 0",
            Range::Positive => "finite and > 0",
            Range::Unit => "in [0, 1)",
            Range::UnitClosed => "in [0, 1]",
            Range::UnitOpen => "in (0, 1)",
            Range::Count => ">= 1",
        }
    }
}

impl Hyper {
    /// PyTorch's words for a bad value (its constructors' `ValueError`s), and the range.
    fn rule(self) -> (&'static str, Range) {
        match self {
            Hyper::LearningRate => ("Invalid learning rate", Range::NonNegative),
            Hyper::Beta(0) => ("Invalid beta parameter at index 0", Range::Unit),
            Hyper::Beta(_) => ("Invalid beta parameter at index 1", Range::Unit),
            Hyper::Epsilon => ("Invalid epsilon value", Range::Positive),
            Hyper::WeightDecay => ("Invalid weight_decay value", Range::NonNegative),
            Hyper::Momentum => ("Invalid momentum value", Range::UnitClosed),
            Hyper::Dampening => ("Invalid dampening value", Range::UnitClosed),
            Hyper::Alpha => ("Invalid alpha value", Range::Unit),
            Hyper::LrDecay => ("Invalid lr_decay value", Range::NonNegative),
            Hyper::InitialAccumulator => ("Invalid initial_accumulator_value value", Range::NonNegative),
            Hyper::Gamma => ("Invalid gamma value", Range::NonNegative),
            Hyper::StepSize => ("Expected positive integer step_size", Range::Count),
            Hyper::Total => ("Expected positive integer total", Range::Count),
            Hyper::Factor => ("Invalid factor value", Range::UnitOpen),
            Hyper::MinDelta => ("Invalid min_delta value", Range::NonNegative),
            Hyper::MinLr => ("Invalid min_lr value", Range::NonNegative),
            Hyper::ClipLimit => ("Invalid clip_value value", Range::NonNegative),
            Hyper::MaxNorm => ("Invalid max_norm value", Range::NonNegative),
            Hyper::MaxIter => ("Expected positive integer max_iter", Range::Count),
            Hyper::MaxEval => ("Expected positive integer max_eval", Range::Count),
            Hyper::HistorySize => ("Expected positive integer history_size", Range::Count),
            Hyper::ToleranceGrad => ("Invalid tolerance_grad value", Range::NonNegative),
            Hyper::ToleranceChange => ("Invalid tolerance_change value", Range::NonNegative),
        }
    }
}

/// `v`, after checking it is a value `setting` can take; panics at the caller's line
/// otherwise, naming the method that set it (`name::method`).
#[track_caller]
pub(crate) fn checked(name: &str, method: &str, setting: Hyper, v: f64) -> f64 {
    let (words, range) = setting.rule();
    if !range.contains(v) {
        panic!("{name}::{method}: {words}: {v:?} (must be {})", range.describe());
    }
    v
}

/// [`checked`] for a count (a number of epochs).
#[track_caller]
pub(crate) fn checked_count(name: &str, method: &str, setting: Hyper, n: usize) -> usize {
    let (words, range) = setting.rule();
    if !range.contains(n as f64) {
        panic!("{name}::{method}: {words}: {n} (must be {})", range.describe());
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_and_infinities_are_outside_every_range() {
        for range in [
            Range::NonNegative,
            Range::Positive,
            Range::Unit,
            Range::UnitClosed,
            Range::UnitOpen,
        ] {
            for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1e-300] {
                assert!(!range.contains(v), "{range:?} contains {v}");
            }
        }
    }
}
