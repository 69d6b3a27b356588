//! Errors raised inside a layer name the layer and are reported at the user's line, and the
//! initialization presets draw what PyTorch's and Keras' dense layers draw.

#[path = "common/panic_site.rs"]
mod panic_site;

use borel_autograd::{ParamId, Tape, Tensor, Var};
use borel_nn::{Dense, DenseModule, ForwardPass, InitPreset, Module, ParamBuilder, ParamStore, Sequential};
use panic_site::panic_of;

/// A user's module: a dense layer and a skip connection.
struct Skip {
    hidden: DenseModule,
    scale: ParamId,
}

impl Module<f32> for Skip {
    fn forward<'t>(&self, fw: &ForwardPass<'t, f32>, x: Var<'t, f32>) -> Var<'t, f32> {
        self.hidden.forward(fw, x).tanh() * fw.param(self.scale) + x
    }
    fn params(&self) -> Vec<ParamId> {
        vec![self.hidden.kernel(), self.hidden.bias().unwrap(), self.scale]
    }
}

#[test]
fn errors_inside_layers_name_the_layer_at_the_callers_line() {
    let mut store = ParamStore::<f32>::new();
    let net = Sequential::new()
        .add(Dense::new(4).input_dim(3))
        .add(Dense::new(2))
        .build(&mut store, 0);
    let tape = Tape::new();
    let fw = ForwardPass::train(&tape, &store);
    let wide = tape.constant(Tensor::ones(&[5, 4]));

    let line = line!() + 2;
    let (message, at) = panic_of(file!(), || {
        net.forward(&fw, wide);
    });
    assert_eq!(
        message,
        "Sequential `sequential`: layer 0 `dense` (Dense) takes inputs of 3 features, got shape [5, 4] (the model's input)"
    );
    assert_eq!(at, line);

    let line = line!() + 1;
    let (message, at) = panic_of(file!(), || drop(net.predict(&store, &Tensor::ones(&[2, 7]))));
    assert!(
        message.contains("layer 0 `dense` (Dense) takes inputs of 3 features, got shape [2, 7]"),
        "{message}"
    );
    assert_eq!(at, line);

    // A user's module: the layer is named by its parameters' prefix, and the shape error of
    // the user's own skip connection is reported where the module was called.
    let mut skip_store = ParamStore::<f32>::new();
    let mut b = ParamBuilder::new(&mut skip_store, 0);
    let hidden = Dense::new(3).build(&mut b, "hidden", 3);
    let scale = b.param("scale", &[1], borel_nn::Init::Ones);
    let skip = Skip { hidden, scale };
    let tape = Tape::new();
    let fw = ForwardPass::train(&tape, &skip_store);
    let x2 = tape.constant(Tensor::ones(&[5, 2]));
    let line = line!() + 2;
    let (message, at) = panic_of(file!(), || {
        skip.forward(&fw, x2);
    });
    assert_eq!(
        message,
        "Dense layer `hidden`: its kernel [3, 3] takes inputs of 3 features, got shape [5, 2]"
    );
    assert_eq!(at, line);
}

#[test]
fn the_pytorch_preset_draws_nn_linears_distribution() {
    let mut store = ParamStore::<f64>::new();
    let net = Sequential::new()
        .add(Dense::new(400).input_dim(25))
        .add(Dense::new(1).bias_init(borel_nn::Init::Zeros))
        .init(InitPreset::PyTorch)
        .build(&mut store, 3);
    let get = |name: &str| store.get(store.find(name).unwrap()).data().to_vec();
    // U(-b, b) with b = 1/sqrt(fan_in): |w| <= b, variance b^2/3.
    for (name, fan_in) in [("0.kernel", 25.0), ("0.bias", 25.0), ("1.kernel", 400.0)] {
        let v = get(name);
        let bound = 1.0 / f64::sqrt(fan_in);
        assert!(v.iter().all(|w| w.abs() <= bound), "{name}");
        let var = v.iter().map(|w| w * w).sum::<f64>() / v.len() as f64;
        let want = bound * bound / 3.0;
        let tol = 4.0 * want * (0.8f64 / v.len() as f64).sqrt();
        assert!((var - want).abs() < tol, "{name}: variance {var}, want {want}");
    }
    assert_eq!(
        get("1.bias"),
        vec![0.0],
        "an initializer set on the layer wins over the preset"
    );
    // Keras' preset is the default: Glorot-uniform kernel, zero bias.
    let mut keras = ParamStore::<f64>::new();
    let _net = Sequential::new()
        .add(Dense::new(400).input_dim(25))
        .build(&mut keras, 3);
    let bound = (6.0f64 / 425.0).sqrt();
    assert!(
        keras
            .get(keras.find("0.kernel").unwrap())
            .data()
            .iter()
            .all(|w| w.abs() <= bound)
    );
    assert!(
        keras
            .get(keras.find("0.bias").unwrap())
            .data()
            .iter()
            .all(|&b| b == 0.0)
    );
    let _ = net;
}
