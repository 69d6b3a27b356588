//! The strong-Wolfe line search of `torch.optim.LBFGS` (`_strong_wolfe` and
//! `_cubic_interpolate` in `torch/optim/lbfgs.py`, themselves ported from Torch7's
//! `lswolfe.lua` and `polyinterp.lua`), step for step: the same comparisons in the same
//! order, so that in `f64` it evaluates the loss at the same points as PyTorch.

use borel_autograd::Float;

use super::flat::{dot, max_abs};

/// Sufficient decrease (Armijo) constant.
const C1: f64 = 1e-4;
/// Curvature constant.
const C2: f64 = 0.9;
/// The smallest bracket worth refining: PyTorch's default, which `LBFGS.step` does not
/// override with its own `tolerance_change`.
const TOLERANCE_CHANGE: f64 = 1e-9;

/// A point on the line `x + t d`: its step length, loss, flat gradient and directional
/// derivative `g . d`.
#[derive(Clone, Debug)]
pub(super) struct Point<F> {
    pub t: f64,
    pub f: f64,
    pub g: Vec<F>,
    pub gtd: f64,
}

/// Python's `max(a, b)`: `a` unless `b` is greater.
fn py_max(a: f64, b: f64) -> f64 {
    if b > a { b } else { a }
}

/// Python's `min(a, b)`: `a` unless `b` is smaller.
fn py_min(a: f64, b: f64) -> f64 {
    if b < a { b } else { a }
}

/// The minimizer of the cubic through `(x1, f1)` and `(x2, f2)` with slopes `g1` and `g2`,
/// clamped to `bounds` (by default the interval between the points); the middle of the
/// bounds when the cubic has no minimizer.
pub(super) fn cubic_interpolate(
    (x1, f1, g1): (f64, f64, f64),
    (x2, f2, g2): (f64, f64, f64),
    bounds: Option<(f64, f64)>,
) -> f64 {
    let (lo, hi) = bounds.unwrap_or(if x1 <= x2 { (x1, x2) } else { (x2, x1) });
    let d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2);
    let d2_square = d1 * d1 - g1 * g2;
    if d2_square >= 0.0 {
        let d2 = d2_square.sqrt();
        let min_pos = if x1 <= x2 {
            x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2))
        } else {
            x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2))
        };
        py_min(py_max(min_pos, lo), hi)
    } else {
        (lo + hi) / 2.0
    }
}

/// The line search from `start` (step 0: the loss, gradient and slope where the search
/// begins) along `d`, first trying step `t`, with at most `max_ls` evaluations after the
/// first; `eval(t)` is the loss and flat gradient at `x + t d`. Returns the point found and
/// the number of evaluations.
pub(super) fn strong_wolfe<F: Float>(
    mut eval: impl FnMut(f64) -> (f64, Vec<F>),
    d: &[F],
    start: &Point<F>,
    t: f64,
    max_ls: usize,
) -> (Point<F>, usize) {
    let d_norm = max_abs(d).to_f64();
    let mut at = |t: f64| {
        let (f, g) = eval(t);
        let gtd = dot(&g, d).to_f64();
        Point { t, f, g, gtd }
    };
    let (mut bracket, done, mut ls_iter, mut evals) = bracket_phase(&mut at, start, t, max_ls);
    if done {
        return (bracket.swap_remove(0), evals);
    }
    let (f, gtd) = (start.f, start.gtd);
    let order = |b: &[Point<F>]| if b[0].f <= b[b.len() - 1].f { (0, 1) } else { (1, 0) };
    let (mut low, mut high) = order(&bracket);
    let mut insufficient_progress = false;
    while ls_iter < max_ls {
        if (bracket[1].t - bracket[0].t).abs() * d_norm < TOLERANCE_CHANGE {
            break;
        }
        let (a, b) = (&bracket[0], &bracket[1]);
        let t = cubic_interpolate((a.t, a.f, a.gtd), (b.t, b.f, b.gtd), None);
        let t = away_from_ends(t, a.t, b.t, &mut insufficient_progress);
        let new = at(t);
        evals += 1;
        ls_iter += 1;
        if new.f > f + C1 * new.t * gtd || new.f >= bracket[low].f {
            // not enough decrease, or not below the lowest point: the new high end
            bracket[high] = new;
            (low, high) = order(&bracket);
        } else {
            let wolfe = new.gtd.abs() <= -C2 * gtd;
            if !wolfe && new.gtd * (bracket[high].t - bracket[low].t) >= 0.0 {
                // the old low end becomes the high end
                bracket[high] = bracket[low].clone();
            }
            bracket[low] = new;
            if wolfe {
                break;
            }
        }
    }
    (bracket.swap_remove(low), evals)
}

/// The first phase: steps grow until they bracket a point that satisfies the strong Wolfe
/// conditions (or one is found: `done`). Returns the bracket, `done`, the iterations and
/// the evaluations made.
fn bracket_phase<F: Float>(
    at: &mut impl FnMut(f64) -> Point<F>,
    start: &Point<F>,
    mut t: f64,
    max_ls: usize,
) -> (Vec<Point<F>>, bool, usize, usize) {
    let (f, gtd) = (start.f, start.gtd);
    let mut new = at(t);
    let mut evals = 1;
    let mut prev = start.clone();
    let mut ls_iter = 0;
    while ls_iter < max_ls {
        if new.f > f + C1 * t * gtd || (ls_iter > 1 && new.f >= prev.f) {
            return (vec![prev, new], false, ls_iter, evals);
        }
        if new.gtd.abs() <= -C2 * gtd {
            return (vec![new], true, ls_iter, evals);
        }
        if new.gtd >= 0.0 {
            return (vec![prev, new], false, ls_iter, evals);
        }
        let (min_step, max_step) = (t + 0.01 * (t - prev.t), t * 10.0);
        t = cubic_interpolate(
            (prev.t, prev.f, prev.gtd),
            (t, new.f, new.gtd),
            Some((min_step, max_step)),
        );
        prev = std::mem::replace(&mut new, at(t));
        evals += 1;
        ls_iter += 1;
    }
    // out of evaluations: the bracket from the start to the last step (PyTorch leaves its
    // slopes unset; no zoom step reads them, as none is left)
    let first = Point {
        gtd: f64::NAN,
        ..start.clone()
    };
    (vec![first, Point { gtd: f64::NAN, ..new }], false, ls_iter, evals)
}

/// PyTorch's safeguard in the zoom phase: a trial step `t` within a tenth of the bracket
/// `[a, b]`'s length of one end is moved to that distance from it when it is at or past an
/// end, or when the previous trial was also that close (`insufficient_progress`).
fn away_from_ends(t: f64, a: f64, b: f64, insufficient_progress: &mut bool) -> f64 {
    let (hi, lo) = (py_max(a, b), py_min(a, b));
    let eps = 0.1 * (hi - lo);
    if py_min(hi - t, t - lo) < eps {
        if *insufficient_progress || t >= hi || t <= lo {
            *insufficient_progress = false;
            return if (t - hi).abs() < (t - lo).abs() {
                hi - eps
            } else {
                lo + eps
            };
        }
        *insufficient_progress = true;
    } else {
        *insufficient_progress = false;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cubic_interpolation_finds_the_minimum_of_a_cubic() {
        // f = (x - 1)^2 (x + 2) has its local minimum at x = 1, f' = 3x^2 - 3
        let f = |x: f64| (x - 1.0).powi(2) * (x + 2.0);
        let g = |x: f64| 3.0 * x * x - 3.0;
        let x = cubic_interpolate((0.0, f(0.0), g(0.0)), (2.0, f(2.0), g(2.0)), None);
        assert!((x - 1.0).abs() < 1e-12, "{x}");
        // the same points in the other order, and a minimum clamped to the bounds
        let x = cubic_interpolate((2.0, f(2.0), g(2.0)), (0.0, f(0.0), g(0.0)), None);
        assert!((x - 1.0).abs() < 1e-12, "{x}");
        let x = cubic_interpolate((0.0, f(0.0), g(0.0)), (2.0, f(2.0), g(2.0)), Some((1.5, 3.0)));
        assert_eq!(x, 1.5);
    }

    #[test]
    fn no_minimizer_gives_the_middle_of_the_bounds() {
        // slopes of equal sign and a large product: d1^2 < g1 g2
        let x = cubic_interpolate((0.0, 0.0, 5.0), (1.0, 3.0, 5.0), Some((0.0, 4.0)));
        assert_eq!(x, 2.0);
    }

    #[test]
    fn a_trial_step_is_kept_away_from_the_ends() {
        let mut insufficient = false;
        assert_eq!(away_from_ends(0.5, 0.0, 1.0, &mut insufficient), 0.5);
        // close to an end: kept once, marked
        assert_eq!(away_from_ends(0.95, 0.0, 1.0, &mut insufficient), 0.95);
        assert!(insufficient);
        // close again: moved a tenth of the bracket in
        assert_eq!(away_from_ends(0.97, 1.0, 0.0, &mut insufficient), 0.9);
        assert!(!insufficient);
        // past an end: moved at once
        assert_eq!(away_from_ends(-0.5, 0.0, 2.0, &mut insufficient), 0.2);
    }
}
