//! Gradient verification: the tape's derivatives against central finite differences in
//! `f64`, first order ([`gradcheck`]) and second order ([`gradgradcheck`]). The transforms
//! that compute derivatives (`grad`, `jacobian`, `hessian`, ...) are in [`crate::functional`].

use std::fmt;

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::float::Float;
use crate::shape::{Shape, numel};
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;
use crate::var_fn::VarsFn;
pub use crate::var_fn::expr;

/// Tolerances and mode of a gradient check.
///
/// An analytic value `a` matches a numeric value `n` when `|a - n| <= atol` or
/// `|a - n| <= rtol * max(|a|, |n|)` (the semantics of `approx::relative_eq!`).
#[derive(Clone, Debug)]
pub struct GradcheckOptions {
    /// Finite-difference step.
    pub eps: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance.
    pub rtol: f64,
    /// Compare random projections `v^T J u` instead of the whole Jacobian.
    pub fast: bool,
    /// Number of random projections per input in fast mode.
    pub projections: usize,
    /// Seed of the random projections (and of `gradgradcheck`'s output weights).
    pub seed: u64,
}

impl Default for GradcheckOptions {
    /// PyTorch's defaults: `eps = 1e-6`, `atol = 1e-5`, `rtol = 1e-3`; full Jacobian.
    fn default() -> Self {
        GradcheckOptions {
            eps: 1e-6,
            atol: 1e-5,
            rtol: 1e-3,
            fast: false,
            projections: 4,
            seed: 0,
        }
    }
}

impl GradcheckOptions {
    /// The defaults with fast mode on.
    pub fn fast() -> Self {
        GradcheckOptions {
            fast: true,
            ..Self::default()
        }
    }
}

/// The worst mismatch found for one input.
///
/// An entry where the analytic or the numeric value is NaN or infinite (and the two are not
/// the same infinity) fails with infinite errors, and is reported before any finite mismatch:
/// the report then says which value is not finite, e.g. `sqrt` at 0, whose derivative is
/// infinite while finite differences step outside the domain and give NaN.
#[derive(Clone, Debug)]
pub struct InputReport {
    /// Position of the input in the list given to the check.
    pub input: usize,
    /// The input's shape.
    pub shape: Shape,
    /// Largest absolute error over all compared entries (infinite where a value is not
    /// finite).
    pub max_abs_err: f64,
    /// Largest relative error over all compared entries (infinite where a value is not
    /// finite).
    pub max_rel_err: f64,
    /// The input element (multi-index) of the worst entry; `None` in fast mode.
    pub element: Option<Vec<usize>>,
    /// The output element (multi-index) of the worst entry; `None` in fast mode.
    pub output_element: Option<Vec<usize>>,
    /// In fast mode, the projection of the worst entry.
    pub projection: Option<usize>,
    /// The tape's value at the worst entry.
    pub analytic: f64,
    /// The finite-difference value at the worst entry.
    pub numeric: f64,
    /// Whether every entry of this input matched.
    pub passed: bool,
}

/// What a gradient check found: pass or fail, and per input where and by how much the
/// tape's derivatives differ from finite differences.
#[derive(Clone, Debug)]
pub struct GradcheckReport {
    /// 1 for [`gradcheck`], 2 for [`gradgradcheck`].
    pub order: usize,
    /// Whether fast (projection) mode was used.
    pub fast: bool,
    /// Whether every input matched.
    pub passed: bool,
    /// One entry per input.
    pub inputs: Vec<InputReport>,
}

impl GradcheckReport {
    /// Panics with the report when the check failed; for tests.
    ///
    /// ```
    /// use borel_autograd::{GradcheckOptions, Tensor, gradcheck};
    /// gradcheck(|x| x[0].tanh().sum(), &[Tensor::from_vec(vec![0.3, -0.2], &[2])], &GradcheckOptions::default()).assert();
    /// ```
    #[track_caller]
    pub fn assert(&self) {
        if !self.passed {
            panic!("{self}");
        }
    }
}

impl fmt::Display for GradcheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.order == 1 { "gradcheck" } else { "gradgradcheck" };
        let mode = if self.fast { " (fast: random projections)" } else { "" };
        writeln!(f, "{what}{mode}: {}", if self.passed { "passed" } else { "FAILED" })?;
        for r in &self.inputs {
            write!(f, "  input {} {:?}: ", r.input, r.shape.as_slice())?;
            if r.passed {
                write!(f, "ok     ")?;
            } else {
                write!(f, "WRONG  ")?;
            }
            let cause = if r.passed {
                None
            } else {
                non_finite_cause(r.analytic, r.numeric)
            };
            let worst = if cause.is_some() { "non-finite" } else { "worst" };
            write!(
                f,
                "max abs err {:.3e}, max rel err {:.3e}",
                r.max_abs_err, r.max_rel_err
            )?;
            if let (Some(e), Some(o)) = (&r.element, &r.output_element) {
                write!(f, "; {worst} at input element {e:?}, output element {o:?}")?;
            }
            if let Some(p) = r.projection {
                write!(f, "; {worst} in projection {p}")?;
            }
            write!(f, ": analytic {:.6e} vs numeric {:.6e}", r.analytic, r.numeric)?;
            match cause {
                Some(cause) => writeln!(f, " ({cause})")?,
                None => writeln!(f)?,
            }
        }
        Ok(())
    }
}

/// Why an entry with a NaN or infinite value failed, in words; `None` when both are finite.
fn non_finite_cause(analytic: f64, numeric: f64) -> Option<&'static str> {
    Some(match (analytic.is_finite(), numeric.is_finite()) {
        (true, true) => return None,
        (false, true) => {
            "the tape's derivative is not finite where finite differences are: a backward rule divides by zero or overflows here"
        }
        (true, false) => {
            "finite differences are not finite where the tape's derivative is: the function is not finite within eps of this point"
        }
        (false, false) => {
            "neither value is finite: the function is not differentiable here (a domain edge, such as sqrt or log at 0?)"
        }
    })
}

fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = i % shape[d].max(1);
        i /= shape[d].max(1);
    }
    idx
}

/// Tracks the worst entry of one input.
struct Worst {
    r: InputReport,
    score: f64,
}

impl Worst {
    fn new(input: usize, shape: &[usize]) -> Self {
        Worst {
            r: InputReport {
                input,
                shape: shape.into(),
                max_abs_err: 0.0,
                max_rel_err: 0.0,
                element: None,
                output_element: None,
                projection: None,
                analytic: 0.0,
                numeric: 0.0,
                passed: true,
            },
            score: -1.0,
        }
    }

    fn see(&mut self, a: f64, n: f64, o: &GradcheckOptions, at: impl FnOnce(&mut InputReport)) {
        let ok = approx::relative_eq!(a, n, epsilon = o.atol, max_relative = o.rtol);
        let (abs, rel, score) = errors(a, n, ok, o);
        self.r.max_abs_err = self.r.max_abs_err.max(abs);
        self.r.max_rel_err = self.r.max_rel_err.max(rel);
        // The worst entry is a failing one if any fails, else the one closest to failing.
        let worse = match (ok, self.r.passed) {
            (false, true) => true,
            (true, false) => false,
            _ => score > self.score,
        };
        self.r.passed &= ok;
        if worse {
            self.score = score;
            self.r.analytic = a;
            self.r.numeric = n;
            at(&mut self.r);
        }
    }
}

/// Absolute and relative error of analytic `a` against numeric `n`, and a score that ranks
/// entries by how far they are from the tolerance: infinite when a value is NaN or infinite
/// and the two do not match, so such an entry is the worst.
fn errors(a: f64, n: f64, ok: bool, o: &GradcheckOptions) -> (f64, f64, f64) {
    if !(a.is_finite() && n.is_finite()) {
        return if ok {
            (0.0, 0.0, 0.0)
        } else {
            (f64::INFINITY, f64::INFINITY, f64::INFINITY)
        };
    }
    let abs = (a - n).abs();
    let big = a.abs().max(n.abs());
    let rel = if big == 0.0 { 0.0 } else { abs / big };
    let score = abs / (o.atol + o.rtol * big);
    (abs, rel, score)
}

fn eval<Fun>(f: &Fun, xs: &[Tensor<f64>]) -> Tensor<f64>
where
    Fun: VarsFn<f64>,
{
    let tape = Tape::new();
    let vars: Vec<Var<'_, f64>> = xs.iter().map(|x| tape.var(x.clone())).collect();
    f(&vars).value()
}

fn dot(a: &Tensor<f64>, b: &Tensor<f64>) -> f64 {
    a.data().iter().zip(b.data()).map(|(x, y)| x * y).sum()
}

/// Compares the tape's Jacobian of `f` at `inputs` with central finite differences in `f64`.
///
/// `f` is any function of the input vars to an output var of any shape. Inputs in `f32` are
/// promoted to `f64`. The full mode compares every entry of the Jacobian (one backward per
/// output element, two evaluations per input element); [`GradcheckOptions::fast`] compares
/// `v^T J u` for a few random `u`, `v` per input instead.
///
/// ```
/// use borel_autograd::{GradcheckOptions, Tensor, gradcheck};
/// let x = Tensor::from_vec(vec![0.5, 1.5, -0.3], &[3]);
/// let w = Tensor::from_vec(vec![2.0, -1.0, 0.5], &[3]);
/// let report = gradcheck(|v| (v[0] * v[1]).sin().sum(), &[x, w], &GradcheckOptions::default());
/// assert!(report.passed, "{report}");
/// ```
pub fn gradcheck<F, Fun>(f: Fun, inputs: &[Tensor<F>], opts: &GradcheckOptions) -> GradcheckReport
where
    F: Float,
    Fun: VarsFn<f64>, // a closure bound with `let`? write `let f = expr(|v| ...);`
{
    let xs: Vec<Tensor<f64>> = inputs.iter().map(|x| x.cast()).collect();
    let reports = if opts.fast {
        check_fast(&f, &xs, opts)
    } else {
        check_full(&f, &xs, opts)
    };
    GradcheckReport {
        order: 1,
        fast: opts.fast,
        passed: reports.iter().all(|r| r.passed),
        inputs: reports,
    }
}

fn check_full<Fun>(f: &Fun, xs: &[Tensor<f64>], o: &GradcheckOptions) -> Vec<InputReport>
where
    Fun: VarsFn<f64>,
{
    // Analytic: row j of the Jacobian is the gradient seeded with the one-hot e_j.
    let tape = Tape::new();
    let vars: Vec<Var<'_, f64>> = xs.iter().map(|x| tape.var(x.clone())).collect();
    let y = f(&vars);
    let y_shape = y.shape();
    let m = numel(&y_shape);
    let mut rows: Vec<Vec<Tensor<f64>>> = Vec::with_capacity(m);
    for j in 0..m {
        let seed = Tensor::from_fn(&y_shape, |i| if i == j { 1.0 } else { 0.0 });
        let grads = tape.grad_with(y, seed, &vars, false);
        rows.push(grads.iter().map(|g| g.value()).collect());
    }
    xs.iter()
        .enumerate()
        .map(|(k, x)| {
            let mut worst = Worst::new(k, x.shape());
            for i in 0..x.numel() {
                let mut shifted: Vec<Tensor<f64>> = xs.to_vec();
                let v0 = x.data()[i];
                shifted[k].data_mut()[i] = v0 + o.eps;
                let plus = eval(f, &shifted);
                shifted[k].data_mut()[i] = v0 - o.eps;
                let minus = eval(f, &shifted);
                for (j, row) in rows.iter().enumerate() {
                    let num = (plus.data()[j] - minus.data()[j]) / (2.0 * o.eps);
                    let ana = row[k].data()[i];
                    worst.see(ana, num, o, |r| {
                        r.element = Some(unravel(i, x.shape()));
                        r.output_element = Some(unravel(j, &y_shape));
                    });
                }
            }
            worst.r
        })
        .collect()
}

fn check_fast<Fun>(f: &Fun, xs: &[Tensor<f64>], o: &GradcheckOptions) -> Vec<InputReport>
where
    Fun: VarsFn<f64>,
{
    let mut rng = StdRng::seed_from_u64(o.seed);
    let tape = Tape::new();
    let vars: Vec<Var<'_, f64>> = xs.iter().map(|x| tape.var(x.clone())).collect();
    let y = f(&vars);
    let y_shape = y.shape();
    let mut reports: Vec<Worst> = xs.iter().enumerate().map(|(k, x)| Worst::new(k, x.shape())).collect();
    for p in 0..o.projections {
        let v = Tensor::<f64>::rand_normal(&y_shape, 0.0, 1.0, &mut rng);
        let grads = tape.grad_with(y, v.clone(), &vars, false);
        for (k, x) in xs.iter().enumerate() {
            let u = Tensor::<f64>::rand_normal(x.shape(), 0.0, 1.0, &mut rng);
            let ana = dot(&grads[k].value(), &u);
            let mut shifted: Vec<Tensor<f64>> = xs.to_vec();
            shifted[k] = Tensor::from_fn(x.shape(), |i| x.data()[i] + o.eps * u.data()[i]);
            let plus = dot(&eval(f, &shifted), &v);
            shifted[k] = Tensor::from_fn(x.shape(), |i| x.data()[i] - o.eps * u.data()[i]);
            let minus = dot(&eval(f, &shifted), &v);
            let num = (plus - minus) / (2.0 * o.eps);
            reports[k].see(ana, num, o, |r| r.projection = Some(p));
        }
    }
    reports.into_iter().map(|w| w.r).collect()
}

/// Second-order check: runs [`gradcheck`] on `x -> d/dx sum(f(x) * v)` for a fixed random
/// `v`, where the inner gradient is taken with `create_graph`. It verifies that the backward
/// rules are themselves differentiated correctly (Hessian-vector products, gradient penalties).
///
/// ```
/// use borel_autograd::{GradcheckOptions, Tensor, gradgradcheck};
/// let x = Tensor::from_vec(vec![0.5, 1.5, -0.3], &[3]);
/// gradgradcheck(|v| v[0].exp().sin().sum(), &[x], &GradcheckOptions::default()).assert();
/// ```
pub fn gradgradcheck<F, Fun>(f: Fun, inputs: &[Tensor<F>], opts: &GradcheckOptions) -> GradcheckReport
where
    F: Float,
    Fun: VarsFn<f64>, // a closure bound with `let`? write `let f = expr(|v| ...);`
{
    let xs: Vec<Tensor<f64>> = inputs.iter().map(|x| x.cast()).collect();
    let y_shape = eval(&f, &xs).dims();
    let mut rng = StdRng::seed_from_u64(opts.seed ^ 0x9e37_79b9);
    let v = Tensor::<f64>::rand_normal(&y_shape, 0.0, 1.0, &mut rng);
    let first = expr(|vars| {
        let tape = vars[0].tape();
        let y = f(vars);
        let grads = tape.grad_with(y, v.clone(), vars, true);
        let flat: Vec<Var<'_, f64>> = grads.iter().map(|g| g.reshape(&[g.value().numel()])).collect();
        Var::concat(&flat, 0)
    });
    let mut report = gradcheck(first, &xs, opts);
    report.order = 2;
    report
}
