//! The functions to fit, where their inputs come from, and their seeded samples.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

use crate::expr::Expr;

/// A function of `(x1, x2)` to fit.
///
/// ```
/// use borel_web::target::Target;
/// assert_eq!(Target::AbsSum.eval(-1.0, 2.0), 3.0);
/// let t = Target::parse("seed").unwrap();
/// assert!((t.eval(0.0, 0.0) + 0.6).abs() < 1e-12);
/// assert!(Target::parse("x1 +").is_err());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// The seed's surface `x1^2 + 2 x2^2 - 0.2 cos(3 pi x1) - 0.4 cos(4 pi x2)`.
    Seed,
    /// `sin x1 * cos x2`.
    SinCos,
    /// Franke's function, a standard test surface on the unit square.
    Franke,
    /// `|x1| + |x2|`.
    AbsSum,
    /// A typed expression.
    Expr(Expr),
}

/// Where the inputs are drawn from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inputs {
    /// The seed's: `x1 = 2 N(0, 1)`, `x2 = N(0, 1)`.
    SeedNormal,
    /// Uniform on the unit square (Franke's domain).
    UnitSquare,
}

impl Inputs {
    /// The rectangle the heat maps show: `((x1_lo, x1_hi), (x2_lo, x2_hi))`.
    pub fn view(self) -> ((f64, f64), (f64, f64)) {
        match self {
            Inputs::SeedNormal => ((-5.0, 5.0), (-2.5, 2.5)),
            Inputs::UnitSquare => ((0.0, 1.0), (0.0, 1.0)),
        }
    }
}

fn franke(x: f64, y: f64) -> f64 {
    let sq = |v: f64| v * v;
    0.75 * (-sq(9.0 * x - 2.0) / 4.0 - sq(9.0 * y - 2.0) / 4.0).exp()
        + 0.75 * (-sq(9.0 * x + 1.0) / 49.0 - (9.0 * y + 1.0) / 10.0).exp()
        + 0.5 * (-sq(9.0 * x - 7.0) / 4.0 - sq(9.0 * y - 3.0) / 4.0).exp()
        - 0.2 * (-sq(9.0 * x - 4.0) - sq(9.0 * y - 7.0)).exp()
}

impl Target {
    /// `seed`, `sincos`, `franke`, `abs`, or else an expression over `x1` and `x2`.
    pub fn parse(s: &str) -> Result<Self, crate::expr::ParseError> {
        Ok(match s.trim() {
            "seed" => Target::Seed,
            "sincos" => Target::SinCos,
            "franke" => Target::Franke,
            "abs" => Target::AbsSum,
            // Parsed untrimmed, so error positions point into the text as typed.
            _ => Target::Expr(s.parse()?),
        })
    }

    /// The value at `(x1, x2)`.
    pub fn eval(&self, x1: f64, x2: f64) -> f64 {
        use std::f64::consts::PI;
        match self {
            Target::Seed => x1 * x1 + 2.0 * x2 * x2 - 0.2 * (3.0 * PI * x1).cos() - 0.4 * (4.0 * PI * x2).cos(),
            Target::SinCos => x1.sin() * x2.cos(),
            Target::Franke => franke(x1, x2),
            Target::AbsSum => x1.abs() + x2.abs(),
            Target::Expr(e) => e.eval(x1, x2),
        }
    }

    /// Where this target's inputs come from.
    pub fn inputs(&self) -> Inputs {
        match self {
            Target::Franke => Inputs::UnitSquare,
            _ => Inputs::SeedNormal,
        }
    }
}

/// A function that is not finite somewhere on its samples.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("the function is {value} at x1 = {x1:.4}, x2 = {x2:.4} (outside its domain there?)")]
pub struct NotFinite {
    /// The value found.
    pub value: f64,
    /// Where: first input.
    pub x1: f64,
    /// Where: second input.
    pub x2: f64,
}

/// Raw samples: `x` row-major `[n, 2]`, `y` of length `n`.
#[derive(Clone, Debug, PartialEq)]
pub struct Samples {
    /// Inputs, `x1, x2` per row.
    pub x: Vec<f64>,
    /// Targets, noise included.
    pub y: Vec<f64>,
}

/// `n` samples of `target` with Gaussian noise of standard deviation `noise` added to `y`.
/// Seeded as the seed experiment seeds them (`x1` from generator 1, `x2` from generator 10,
/// the noise from generator 100), so the seed's target gives the seed's data.
pub fn sample(target: &Target, n: usize, noise: f64) -> Result<Samples, NotFinite> {
    let (mut r1, mut r2, mut rn) = (
        StdRng::seed_from_u64(1),
        StdRng::seed_from_u64(10),
        StdRng::seed_from_u64(100),
    );
    let (x1, x2): (Vec<f64>, Vec<f64>) = match target.inputs() {
        Inputs::SeedNormal => (
            (0..n).map(|_| 2.0 * normal(&mut r1)).collect(),
            (0..n).map(|_| normal(&mut r2)).collect(),
        ),
        Inputs::UnitSquare => (
            (0..n).map(|_| rand::RngExt::random::<f64>(&mut r1)).collect(),
            (0..n).map(|_| rand::RngExt::random::<f64>(&mut r2)).collect(),
        ),
    };
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let value = target.eval(x1[i], x2[i]);
        if !value.is_finite() {
            return Err(NotFinite {
                value,
                x1: x1[i],
                x2: x2[i],
            });
        }
        y.push(value + if noise > 0.0 { noise * normal(&mut rn) } else { 0.0 });
    }
    let x = x1.iter().zip(&x2).flat_map(|(&a, &b)| [a, b]).collect();
    Ok(Samples { x, y })
}

fn normal(r: &mut StdRng) -> f64 {
    StandardNormal.sample(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_match_their_formulas() {
        assert_eq!(Target::SinCos.eval(1.0, 2.0), 1f64.sin() * 2f64.cos());
        // Franke's function peaks near (0.2, 0.2) at about 1.22.
        assert!((Target::Franke.eval(0.2, 0.2) - 1.218_581).abs() < 1e-6);
        assert!(Target::Franke.eval(1.0, 1.0).abs() < 0.1);
        let typed = Target::parse("x1^2 + 2 x2^2 - 0.2 cos(3 pi x1) - 0.4 cos(4 pi x2)").unwrap();
        for (a, b) in [(0.3, -1.1), (2.5, 0.4)] {
            assert!((typed.eval(a, b) - Target::Seed.eval(a, b)).abs() < 1e-12);
        }
        assert_eq!(Target::parse(" franke ").unwrap(), Target::Franke);
    }

    #[test]
    fn samples_follow_the_seed_distribution_and_are_reproducible() {
        let s = sample(&Target::Seed, 4000, 0.0).unwrap();
        let col = |j: usize| s.x.iter().skip(j).step_by(2).copied().collect::<Vec<f64>>();
        let sd = |v: &[f64]| (v.iter().map(|a| a * a).sum::<f64>() / v.len() as f64).sqrt();
        assert!((sd(&col(0)) - 2.0).abs() < 0.1 && (sd(&col(1)) - 1.0).abs() < 0.05);
        for i in 0..4000 {
            assert_eq!(s.y[i], Target::Seed.eval(s.x[2 * i], s.x[2 * i + 1]));
        }
        assert_eq!(sample(&Target::Seed, 4000, 0.0).unwrap(), s);
        let f = sample(&Target::Franke, 500, 0.0).unwrap();
        assert!(f.x.iter().all(|v| (0.0..1.0).contains(v)));
    }

    #[test]
    fn noise_has_the_asked_spread_and_bad_functions_are_reported() {
        let clean = sample(&Target::AbsSum, 4000, 0.0).unwrap();
        let noisy = sample(&Target::AbsSum, 4000, 0.5).unwrap();
        assert_eq!(clean.x, noisy.x);
        let var = clean.y.iter().zip(&noisy.y).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / 4000.0;
        assert!((var.sqrt() - 0.5).abs() < 0.03, "{}", var.sqrt());
        let e = sample(&Target::parse("log(x1)").unwrap(), 100, 0.0).unwrap_err();
        assert!(e.value.is_nan() && e.x1 < 0.0, "{e}");
        assert!(e.to_string().starts_with("the function is NaN at x1 = -"), "{e}");
    }
}
