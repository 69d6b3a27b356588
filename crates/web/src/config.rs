//! What the page can set: target, data, layers, optimizer; and the seed's three presets.

use borel_nn::Activation;
use borel_optim::{Adam, Optimizer, RmsProp, Sgd};
use serde_json::Value;

/// One hidden layer: its units and activation.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerConf {
    /// Units.
    pub units: usize,
    /// Activation (Keras' names).
    pub activation: Activation,
}

/// The optimizers the page offers, with Keras' defaults apart from the learning rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptKind {
    /// `RMSprop` (Keras 3).
    RmsProp,
    /// `Adam` (Keras 3).
    Adam,
    /// Plain `SGD`.
    Sgd,
}

impl OptKind {
    /// Every optimizer the page offers.
    pub const ALL: [OptKind; 3] = [OptKind::RmsProp, OptKind::Adam, OptKind::Sgd];

    /// Its name in configs and on the page, and the optimizer with learning rate `lr`.
    fn entry(self, lr: f64) -> (&'static str, Box<dyn Optimizer<f32>>) {
        match self {
            OptKind::RmsProp => ("rmsprop", Box::new(RmsProp::keras().lr(lr))),
            OptKind::Adam => ("adam", Box::new(Adam::keras().lr(lr))),
            OptKind::Sgd => ("sgd", Box::new(Sgd::keras().lr(lr))),
        }
    }

    /// Its name in configs and on the page.
    ///
    /// ```
    /// use borel_web::config::OptKind;
    /// assert_eq!(OptKind::Adam.name(), "adam");
    /// ```
    pub fn name(self) -> &'static str {
        self.entry(0.0).0
    }

    /// The optimizer, Keras' with learning rate `lr`.
    pub fn build(self, lr: f64) -> Box<dyn Optimizer<f32>> {
        self.entry(lr).1
    }

    /// The kind named `name`.
    fn from_name(name: &str) -> Option<Self> {
        OptKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Everything that defines a run; the same config gives the same losses.
///
/// ```
/// use borel_web::config::Config;
/// let c = Config::preset("sigmoid").unwrap();
/// assert_eq!((c.batch, c.lr, c.hidden.len()), (64, 0.001, 2));
/// let c = Config::from_json(r#"{"preset": "sigmoid", "lr": 0.01, "target": "franke"}"#).unwrap();
/// assert_eq!((c.lr, c.target.as_str()), (0.01, "franke"));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `seed`, `sincos`, `franke`, `abs`, or an expression over `x1` and `x2`.
    pub target: String,
    /// Samples.
    pub samples: usize,
    /// Standard deviation of Gaussian noise added to the targets.
    pub noise: f64,
    /// Hidden layers; a linear output unit follows them.
    pub hidden: Vec<LayerConf>,
    /// The optimizer.
    pub optimizer: OptKind,
    /// Its learning rate.
    pub lr: f64,
    /// Samples per step.
    pub batch: usize,
    /// Seed of the initializers and the shuffling.
    pub seed: u64,
}

/// A config the page sent that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not JSON, or not an object.
    #[error("config is not a JSON object: {0}")]
    Json(String),
    /// A field of the wrong type or out of range.
    #[error("config field '{field}': {problem}")]
    Field {
        /// The field.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

fn bad(field: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Field {
        field: field.into(),
        problem: problem.into(),
    }
}

fn layers(spec: &[(usize, Activation)]) -> Vec<LayerConf> {
    spec.iter()
        .map(|&(units, activation)| LayerConf { units, activation })
        .collect()
}

impl Config {
    /// The names of the presets, in the page's order.
    pub const PRESETS: [&'static str; 3] = ["linear", "sigmoid", "relu"];

    /// The seed's models on the seed's surface, trained as the seed trained them: 1000
    /// samples, `RMSprop()` with Keras' defaults, batch 64, seed 0. `linear`: 100-50-50-10
    /// linear; `sigmoid`: 20-20 sigmoid; `relu`: 100-50-50 linear then 10 relu.
    pub fn preset(name: &str) -> Option<Config> {
        use Activation::{Linear, Relu, Sigmoid};
        let hidden = match name {
            "linear" => layers(&[(100, Linear), (50, Linear), (50, Linear), (10, Linear)]),
            "sigmoid" => layers(&[(20, Sigmoid), (20, Sigmoid)]),
            "relu" => layers(&[(100, Linear), (50, Linear), (50, Linear), (10, Relu)]),
            _ => return None,
        };
        Some(Config {
            target: "seed".into(),
            samples: 1000,
            noise: 0.0,
            hidden,
            optimizer: OptKind::RmsProp,
            lr: 0.001,
            batch: 64,
            seed: 0,
        })
    }

    /// A config from the page's JSON: `preset` (default `sigmoid`) gives the starting point,
    /// and any of `target`, `samples`, `noise`, `layers` (`[{"units": 20, "activation":
    /// "sigmoid"}, ...]`), `optimizer` (`rmsprop`, `adam`, `sgd`), `lr`, `batch`, `seed`
    /// override it.
    pub fn from_json(text: &str) -> Result<Config, ConfigError> {
        let v: Value = serde_json::from_str(text).map_err(|e| ConfigError::Json(e.to_string()))?;
        let obj = v
            .as_object()
            .ok_or_else(|| ConfigError::Json("expected {...}".into()))?;
        let preset = match obj.get("preset") {
            None => "sigmoid",
            Some(p) => p.as_str().ok_or_else(|| bad("preset", "expected a name"))?,
        };
        let mut c = Config::preset(preset).ok_or_else(|| bad("preset", format!("unknown preset '{preset}'")))?;
        for (key, val) in obj {
            c.set(key, val)?;
        }
        Ok(c)
    }

    fn set(&mut self, key: &str, val: &Value) -> Result<(), ConfigError> {
        let count = |lo: u64, hi: u64| match val.as_u64() {
            Some(n) if (lo..=hi).contains(&n) => Ok(n),
            _ => Err(bad(key, format!("expected a whole number from {lo} to {hi}"))),
        };
        let real = || val.as_f64().filter(|v| v.is_finite() && *v >= 0.0);
        match key {
            "preset" => {}
            "target" => self.target = val.as_str().ok_or_else(|| bad(key, "expected text"))?.into(),
            "samples" => self.samples = count(1, 100_000)? as usize,
            "batch" => self.batch = count(1, 100_000)? as usize,
            "seed" => self.seed = count(0, u64::MAX)?,
            "noise" => self.noise = real().ok_or_else(|| bad(key, "expected a number >= 0"))?,
            "lr" => {
                self.lr = real()
                    .filter(|v| *v > 0.0)
                    .ok_or_else(|| bad(key, "expected a number > 0"))?
            }
            "optimizer" => {
                self.optimizer = match val.as_str().and_then(OptKind::from_name) {
                    Some(kind) => kind,
                    None => {
                        let names: Vec<&str> = OptKind::ALL.iter().map(|k| k.name()).collect();
                        let (last, others) = names.split_last().expect("the page offers optimizers");
                        return Err(bad(key, format!("expected {} or {last}", others.join(", "))));
                    }
                }
            }
            "layers" => self.hidden = parse_layers(val)?,
            _ => return Err(bad(key, "unknown field")),
        }
        Ok(())
    }
}

fn parse_layers(val: &Value) -> Result<Vec<LayerConf>, ConfigError> {
    let list = val.as_array().ok_or_else(|| bad("layers", "expected a list"))?;
    if list.len() > 8 {
        return Err(bad("layers", "at most 8 hidden layers"));
    }
    list.iter()
        .enumerate()
        .map(|(i, l)| {
            let field = format!("layers[{i}]");
            let units = l["units"].as_u64().filter(|u| (1..=256).contains(u));
            let units = units.ok_or_else(|| bad(&field, "units: expected 1 to 256"))? as usize;
            let name = l["activation"].as_str().unwrap_or("linear");
            let activation = name.parse::<Activation>().map_err(|e| bad(&field, e.to_string()))?;
            Ok(LayerConf { units, activation })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_the_seed_models() {
        let units = |c: &Config| c.hidden.iter().map(|l| l.units).collect::<Vec<_>>();
        let acts = |c: &Config| c.hidden.iter().map(|l| l.activation.name()).collect::<Vec<_>>();
        let lin = Config::preset("linear").unwrap();
        assert_eq!(units(&lin), [100, 50, 50, 10]);
        assert!(acts(&lin).iter().all(|a| *a == "linear"));
        let sig = Config::preset("sigmoid").unwrap();
        assert_eq!((units(&sig), acts(&sig)), (vec![20, 20], vec!["sigmoid", "sigmoid"]));
        let relu = Config::preset("relu").unwrap();
        assert_eq!(acts(&relu), ["linear", "linear", "linear", "relu"]);
        for c in [lin, sig, relu] {
            assert_eq!(
                (c.optimizer, c.lr, c.batch, c.samples, c.target.as_str()),
                (OptKind::RmsProp, 0.001, 64, 1000, "seed")
            );
        }
        assert!(Config::preset("tanh").is_none());
    }

    #[test]
    fn json_overrides_the_preset_and_bad_fields_are_named() {
        let c = Config::from_json(
            r#"{"preset":"relu","samples":200,"noise":0.1,"optimizer":"adam","batch":32,"seed":7,
                "layers":[{"units":8,"activation":"tanh"},{"units":4}]}"#,
        )
        .unwrap();
        assert_eq!(
            (c.samples, c.noise, c.optimizer, c.batch, c.seed),
            (200, 0.1, OptKind::Adam, 32, 7)
        );
        assert_eq!(c.hidden, layers(&[(8, Activation::Tanh), (4, Activation::Linear)]));
        let err = |s: &str| Config::from_json(s).unwrap_err().to_string();
        assert_eq!(
            err(r#"{"batch":0}"#),
            "config field 'batch': expected a whole number from 1 to 100000"
        );
        assert_eq!(err(r#"{"lr":-1}"#), "config field 'lr': expected a number > 0");
        assert_eq!(
            err(r#"{"optimizer":"lbfgs"}"#),
            "config field 'optimizer': expected rmsprop, adam or sgd"
        );
        assert!(err(r#"{"layers":[{"units":3,"activation":"sigmoidd"}]}"#).contains("layers[0]"));
        assert_eq!(err(r#"{"colour":1}"#), "config field 'colour': unknown field");
        assert_eq!(err(r#"{"preset":"x"}"#), "config field 'preset': unknown preset 'x'");
        assert!(err("[1]").starts_with("config is not a JSON object"));
    }
}
