//! [`Sequential`]: layers applied in order, with Keras' `summary()`.

use std::collections::HashMap;

use borel_autograd::{Float, Var};

use crate::init::InitPreset;
use crate::layers::{LayerSpec, Module};
use crate::param::{ForwardPass, ParamBuilder};
use borel_autograd::{ParamId, ParamStore};

/// A stack of layers, each fed the previous one's output. Layer `i`'s parameters are named
/// `i.kernel`, `i.bias` (as in a PyTorch `nn.Sequential`).
///
/// ```
/// use borel_nn::{Activation, Dense, Dropout, ParamStore, Sequential};
/// let mut store = ParamStore::<f32>::new();
/// let model = Sequential::new()
///     .add(Dense::new(20).activation(Activation::Sigmoid).input_dim(2))
///     .add(Dropout::new(0.2))
///     .add(Dense::new(20).activation(Activation::Sigmoid))
///     .add(Dense::new(1))
///     .build(&mut store, 0);
/// assert_eq!(store.num_params(), 501);
/// assert!(model.summary(&store).contains("Total params: 501"));
/// ```
pub struct SequentialBuilder<F: Float = f32> {
    specs: Vec<Box<dyn LayerSpec<F>>>,
    name: String,
    preset: InitPreset,
}

/// One built layer: its module and what `summary()` shows of it.
struct Built<F: Float> {
    name: String,
    kind: &'static str,
    out_features: usize,
    module: Box<dyn Module<F> + Send + Sync>,
}

/// A built stack of layers.
pub struct Sequential<F: Float = f32> {
    layers: Vec<Built<F>>,
    input_dim: usize,
    name: String,
}

impl<F: Float> Sequential<F> {
    /// An empty stack to add layers to.
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> SequentialBuilder<F> {
        SequentialBuilder {
            specs: Vec::new(),
            name: "sequential".into(),
            preset: InitPreset::Keras,
        }
    }

    /// The layers' names (`dense`, `dense_1`, ...), in order.
    pub fn layer_names(&self) -> Vec<&str> {
        self.layers.iter().map(|l| l.name.as_str()).collect()
    }

    /// Features per sample going in.
    pub fn input_dim(&self) -> usize {
        self.input_dim
    }

    /// Features per sample coming out.
    pub fn output_dim(&self) -> usize {
        self.layers.last().map_or(self.input_dim, |l| l.out_features)
    }

    /// The table Keras' `model.summary()` prints: layer name and type, output shape, parameter
    /// count, then total, trainable and non-trainable parameters.
    pub fn summary(&self, store: &ParamStore<F>) -> String {
        let w = [33usize, 24, 15];
        let bar = |l: &str, m: &str, r: &str, fill: &str| {
            format!(
                "{l}{}{m}{}{m}{}{r}\n",
                fill.repeat(w[0]),
                fill.repeat(w[1]),
                fill.repeat(w[2])
            )
        };
        let row = |a: &str, b: &str, c: &str, side: &str| {
            format!(
                "{side} {a:<w0$}{side} {b:<w1$}{side} {c:>w2$} {side}\n",
                w0 = w[0] - 1,
                w1 = w[1] - 1,
                w2 = w[2] - 2
            )
        };
        let mut out = format!("Model: \"{}\"\n", self.name);
        out += &bar("┏", "┳", "┓", "━");
        out += &row("Layer (type)", "Output Shape", "Param #", "┃");
        out += &bar("┡", "╇", "┩", "━");
        for (i, l) in self.layers.iter().enumerate() {
            let counted = l.module.params().into_iter().filter(|&p| store.is_counted(p));
            let count: usize = counted.map(|p| store.get(p).numel()).sum();
            out += &row(
                &format!("{} ({})", l.name, l.kind),
                &format!("(None, {})", l.out_features),
                &thousands(count),
                "│",
            );
            if i + 1 < self.layers.len() {
                out += &bar("├", "┼", "┤", "─");
            }
        }
        out += &bar("└", "┴", "┘", "─");
        let bytes = |k: usize| size(k * std::mem::size_of::<F>());
        let (total, trainable) = (store.num_params(), store.num_trainable());
        out += &format!(" Total params: {} ({})\n", thousands(total), bytes(total));
        out += &format!(" Trainable params: {} ({})\n", thousands(trainable), bytes(trainable));
        out += &format!(
            " Non-trainable params: {} ({})\n",
            thousands(total - trainable),
            bytes(total - trainable)
        );
        out
    }
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn size(bytes: usize) -> String {
    let b = bytes as f64;
    if b < 1024.0 {
        format!("{b:.2} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.2} KB", b / 1024.0)
    } else {
        format!("{:.2} MB", b / (1024.0 * 1024.0))
    }
}

impl<F: Float> SequentialBuilder<F> {
    /// Appends a layer (Keras' `model.add`).
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, spec: impl LayerSpec<F> + 'static) -> Self {
        self.specs.push(Box::new(spec));
        self
    }

    /// The model's name in `summary()` (default `sequential`).
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// Initializes every layer as `preset`'s framework does (PyTorch's `nn.Linear`, Keras'
    /// `Dense`), where a layer sets no initializer of its own; see [`InitPreset`].
    pub fn init(mut self, preset: InitPreset) -> Self {
        self.preset = preset;
        self
    }

    /// Builds every layer into `store`, initializers seeded with `seed`. The input size comes
    /// from the first layer's `input_dim`; panics if it has none (see [`Self::build_with_input`]).
    #[track_caller]
    pub fn build(self, store: &mut ParamStore<F>, seed: u64) -> Sequential<F> {
        let Some(input_dim) = self.specs.first().and_then(|s| s.input_dim()) else {
            panic!("Sequential::build: the first layer needs an input_dim (or use build_with_input)");
        };
        self.build_with_input(store, seed, input_dim)
    }

    /// Builds with `input_dim` features per sample.
    pub fn build_with_input(self, store: &mut ParamStore<F>, seed: u64, input_dim: usize) -> Sequential<F> {
        let mut b = ParamBuilder::new(store, seed).init_preset(self.preset);
        let mut counts: HashMap<&'static str, usize> = HashMap::new();
        let mut n = input_dim;
        let mut layers = Vec::with_capacity(self.specs.len());
        for (i, spec) in self.specs.iter().enumerate() {
            let c = counts.entry(spec.kind()).or_insert(0);
            let stem = spec.kind().to_lowercase();
            let name = if *c == 0 { stem } else { format!("{stem}_{c}") };
            *c += 1;
            let module = spec.build_module(&mut b.sub(&i.to_string()), n);
            n = spec.out_features(n);
            layers.push(Built {
                name,
                kind: spec.kind(),
                out_features: n,
                module,
            });
        }
        Sequential {
            layers,
            input_dim,
            name: self.name,
        }
    }
}

impl<F: Float> Sequential<F> {
    /// Panics: layer `i` was given `shape` where it takes `width` features.
    #[track_caller]
    fn wrong_input(&self, i: usize, width: usize, shape: &[usize]) -> ! {
        let from = match i {
            0 => "the model's input".to_string(),
            _ => format!("the output of layer {} `{}`", i - 1, self.layers[i - 1].name),
        };
        let layer = &self.layers[i];
        panic!(
            "Sequential `{}`: layer {i} `{}` ({}) takes inputs of {width} features, got shape {shape:?} ({from})",
            self.name, layer.name, layer.kind
        );
    }
}

/// Names the layer a panic came from, on the way out of it (the panic's own message, printed
/// first, names the op and the shapes).
struct LayerNote<'a> {
    model: &'a str,
    index: usize,
    layer: &'a str,
    kind: &'static str,
}

impl Drop for LayerNote<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let LayerNote {
                model,
                index,
                layer,
                kind,
            } = self;
            eprintln!("note: the panic above happened in layer {index} `{layer}` ({kind}) of Sequential `{model}`");
        }
    }
}

impl<F: Float> Module<F> for Sequential<F> {
    /// Runs the layers in order. Each layer's input is checked first: a width that does not fit
    /// panics naming the layer (its position, counted from 0 as in `nn.Sequential`, its name
    /// and type) at the line that called `forward`, `predict` or `fit`.
    fn forward<'t>(&self, fw: &ForwardPass<'t, F>, x: Var<'t, F>) -> Var<'t, F> {
        let (mut h, mut width) = (x, self.input_dim);
        for (index, layer) in self.layers.iter().enumerate() {
            let shape = h.shape();
            if shape.last() != Some(&width) {
                self.wrong_input(index, width, &shape);
            }
            let _note = LayerNote {
                model: &self.name,
                index,
                layer: &layer.name,
                kind: layer.kind,
            };
            h = layer.module.forward(fw, h);
            width = layer.out_features;
        }
        h
    }

    fn input_features(&self) -> Option<usize> {
        Some(self.input_dim)
    }

    fn params(&self) -> Vec<ParamId> {
        self.layers.iter().flat_map(|l| l.module.params()).collect()
    }
}
