//! The results as the table printed and as `results.json`.

use std::fmt::Write as _;

use crate::experiment::{SeedModel, SeedResults};

/// The post's SSE for the linear model.
pub const POST_LINEAR_SSE: f64 = 40648.0;

/// `v` with `decimals` decimals and a comma between thousands.
pub fn thousands(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    let (int, frac) = s.split_once('.').map_or((s.as_str(), ""), |(a, b)| (a, b));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if frac.is_empty() {
        format!("{sign}{out}")
    } else {
        format!("{sign}{out}.{frac}")
    }
}

impl SeedResults {
    /// The table the example prints.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "{:<8} {:>7} {:>7} {:>12} {:>9} {:>8}  note",
            "model", "params", "epochs", "SSE", "MSE", "train s"
        );
        for r in &self.runs {
            let note = if r.model == SeedModel::Linear {
                format!(
                    "least-squares bound {} (SSE {:+.4}% above it); the post: {}",
                    thousands(self.ols_sse, 1),
                    100.0 * (r.sse / self.ols_sse - 1.0),
                    thousands(POST_LINEAR_SSE, 0)
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                t,
                "{:<8} {:>7} {:>7} {:>12} {:>9.3} {:>8.2}  {note}",
                r.model.name(),
                thousands(r.params as f64, 0),
                r.epochs,
                thousands(r.sse, 1),
                r.mse,
                r.train_seconds
            );
        }
        t
    }

    /// `results.json`: `{"samples", "ols_sse", "models": [{"name", "params", "epochs", "sse",
    /// "mse", "train_seconds"}]}`.
    pub fn json(&self) -> String {
        let num = |v: f64| {
            if v.is_finite() {
                format!("{v:?}")
            } else {
                "null".to_string()
            }
        };
        let models: Vec<String> = self
            .runs
            .iter()
            .map(|r| {
                format!(
                    "{{\"name\": \"{}\", \"params\": {}, \"epochs\": {}, \"sse\": {}, \"mse\": {}, \"train_seconds\": {}}}",
                    r.model.name(),
                    r.params,
                    r.epochs,
                    num(r.sse),
                    num(r.mse),
                    num(r.train_seconds)
                )
            })
            .collect();
        format!(
            "{{\"samples\": {}, \"ols_sse\": {}, \"models\": [{}]}}\n",
            self.samples,
            num(self.ols_sse),
            models.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(40694.75, 1), "40,694.8");
        assert_eq!(thousands(8421.0, 0), "8,421");
        assert_eq!(thousands(-1234567.0, 0), "-1,234,567");
        assert_eq!(thousands(999.0, 0), "999");
    }
}
