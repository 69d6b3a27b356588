use borel_autograd::{GradcheckOptions, Tape, Tensor, expr, gradcheck, gradgradcheck};
use borel_nn::{
    Activation, ActivationLayer, Dense, Dropout, ForwardPass, Init, Module, ParamBuilder, ParamStore, Sequential,
};
use rand::SeedableRng;

#[path = "../../autograd/tests/common/panic_site.rs"]
mod panic_site;
use panic_site::panic_site;

fn opts() -> GradcheckOptions {
    GradcheckOptions::default()
}

#[test]
fn dense_gradcheck_with_every_activation() {
    let all = [
        Activation::Linear,
        Activation::Relu,
        Activation::LeakyRelu(0.3),
        Activation::Elu(1.0),
        Activation::Gelu,
        Activation::GeluTanh,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Softplus,
        Activation::Silu,
        Activation::Softmax,
    ];
    let x = Tensor::from_vec(vec![0.5, -1.0, 0.25, 1.5, 0.7, -0.3, 1.1, -0.9], &[2, 4]);
    for act in all {
        let mut store = ParamStore::<f64>::new();
        let layer = Dense::new(3).activation(act).bias_init(Init::Uniform(-0.5, 0.5)).build(
            &mut ParamBuilder::new(&mut store, 3),
            "d",
            4,
        );
        let (w, b) = (
            store.get(layer.kernel()).clone(),
            store.get(layer.bias().unwrap()).clone(),
        );
        // Keep pre-activations away from the kinks of relu, leaky relu and elu.
        let tape = Tape::new();
        let z = tape.constant(x.clone()).matmul(tape.constant(w.clone())) + tape.constant(b.clone());
        assert!(
            z.value().data().iter().all(|v| v.abs() > 0.05),
            "{act}: pre-activation near a kink"
        );
        let f = expr(|v| {
            let mut cx = ForwardPass::eval(v[0].tape(), &store);
            cx.bind(layer.kernel(), v[1]);
            cx.bind(layer.bias().unwrap(), v[2]);
            (layer.forward(&cx, v[0]) * v[0].tape().constant(Tensor::from_fn(&[2, 3], |i| 1.0 + i as f64))).sum()
        });
        let r = gradcheck(f, &[x.clone(), w.clone(), b.clone()], &opts());
        assert!(r.passed, "{act}: {r}");
        let r2 = gradgradcheck(f, &[x.clone(), w, b], &opts());
        assert!(r2.passed, "{act}: {r2}");
    }
}

#[test]
fn activations_parse_by_keras_name() {
    for (name, a) in [
        ("relu", Activation::Relu),
        ("swish", Activation::Silu),
        ("linear", Activation::Linear),
    ] {
        assert_eq!(name.parse::<Activation>().unwrap(), a);
    }
    assert_eq!("mse".parse::<borel_nn::Loss>().unwrap(), borel_nn::Loss::Mse);
}

#[test]
fn initializers_follow_keras_and_are_seeded() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let w: Tensor<f64> = Init::GlorotUniform.sample(&[100, 50], &mut rng);
    let limit = (6.0f64 / 150.0).sqrt();
    assert!(w.data().iter().all(|v| v.abs() <= limit));
    let var = w.data().iter().map(|v| v * v).sum::<f64>() / 5000.0;
    assert!(
        (var - limit * limit / 3.0).abs() < 0.1 * limit * limit / 3.0,
        "variance {var}"
    );
    for init in [Init::GlorotNormal, Init::HeNormal, Init::LecunNormal] {
        let t: Tensor<f64> = init.sample(&[400, 100], &mut rng);
        let var = t.data().iter().map(|v| v * v).sum::<f64>() / t.numel() as f64;
        let want = match init {
            Init::GlorotNormal => 2.0 / 500.0,
            Init::HeNormal => 2.0 / 400.0,
            _ => 1.0 / 400.0,
        };
        assert!((var / want - 1.0).abs() < 0.05, "{init:?}: variance {var} want {want}");
    }
    let a: Tensor<f32> = Init::HeUniform.sample(&[3, 3], &mut rand::rngs::StdRng::seed_from_u64(9));
    let b: Tensor<f32> = Init::HeUniform.sample(&[3, 3], &mut rand::rngs::StdRng::seed_from_u64(9));
    assert_eq!(a, b);
}

#[test]
fn dropout_is_active_only_in_training_and_seeded() {
    let store = ParamStore::<f64>::new();
    let tape = Tape::new();
    let x = tape.var(Tensor::ones(&[4, 50]));
    let a = Dropout::new(0.5)
        .forward(&ForwardPass::train(&tape, &store).seed(7), x)
        .value();
    let b = Dropout::new(0.5)
        .forward(&ForwardPass::train(&tape, &store).seed(7), x)
        .value();
    assert_eq!(a, b);
    assert!(a.data().iter().all(|&v| v == 0.0 || v == 2.0));
    let eval = Dropout::new(0.5).forward(&ForwardPass::eval(&tape, &store), x);
    assert_eq!(eval.value(), x.value());
}

fn seed_linear(store: &mut ParamStore<f32>) -> Sequential<f32> {
    Sequential::new()
        .add(Dense::new(100).input_dim(2))
        .add(Dense::new(50))
        .add(Dense::new(50))
        .add(Dense::new(10))
        .add(Dense::new(1))
        .build(store, 0)
}

#[test]
fn summary_of_the_seed_linear_model() {
    let mut store = ParamStore::new();
    let model = seed_linear(&mut store);
    let want = "\
Model: \"sequential\"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ dense (Dense)                   │ (None, 100)            │           300 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 50)             │         5,050 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_2 (Dense)                 │ (None, 50)             │         2,550 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_3 (Dense)                 │ (None, 10)             │           510 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_4 (Dense)                 │ (None, 1)              │            11 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 8,421 (32.89 KB)
 Trainable params: 8,421 (32.89 KB)
 Non-trainable params: 0 (0.00 B)
";
    assert_eq!(model.summary(&store), want);
}

#[test]
fn summary_of_the_sigmoid_and_one_relu_models() {
    let mut store = ParamStore::<f32>::new();
    let sigmoid = Sequential::new()
        .add(Dense::new(20).activation(Activation::Sigmoid).input_dim(2))
        .add(Dense::new(20).activation(Activation::Sigmoid))
        .add(Dense::new(1))
        .build(&mut store, 0);
    let s = sigmoid.summary(&store);
    assert!(
        s.contains("│ dense (Dense)                   │ (None, 20)             │            60 │"),
        "{s}"
    );
    assert!(
        s.contains("│ dense_1 (Dense)                 │ (None, 20)             │           420 │"),
        "{s}"
    );
    assert!(
        s.contains("│ dense_2 (Dense)                 │ (None, 1)              │            21 │"),
        "{s}"
    );
    assert!(
        s.ends_with(
            " Total params: 501 (1.96 KB)\n Trainable params: 501 (1.96 KB)\n Non-trainable params: 0 (0.00 B)\n"
        ),
        "{s}"
    );

    let mut store = ParamStore::<f32>::new();
    let relu = Sequential::new()
        .add(Dense::new(100).input_dim(2))
        .add(Dense::new(50))
        .add(Dense::new(50))
        .add(Dense::new(10).activation(Activation::Relu))
        .add(Dense::new(1))
        .build(&mut store, 0);
    let s = relu.summary(&store);
    assert!(s.contains(" Total params: 8,421 (32.89 KB)"), "{s}");
    assert!(
        s.contains("│ dense_3 (Dense)                 │ (None, 10)             │           510 │"),
        "{s}"
    );
}

#[test]
fn frozen_parameters_get_no_gradient_and_count_as_non_trainable() {
    let mut store = ParamStore::<f64>::new();
    let model = Sequential::new()
        .add(Dense::new(2).input_dim(2))
        .add(ActivationLayer::new(Activation::Tanh))
        .build(&mut store, 0);
    let bias = store.find("0.bias").unwrap();
    store.set_trainable(bias, false);
    let tape = Tape::new();
    let cx = ForwardPass::train(&tape, &store);
    let g = cx.backward(model.forward(&cx, tape.constant(Tensor::ones(&[1, 2]))).sum());
    let kernel = store.find("0.kernel").unwrap();
    assert!(g.get(kernel).is_some() && g.get(bias).is_none());
    assert!(model.summary(&store).contains("Non-trainable params: 2 (16.00 B)"));
}

#[test]
fn a_dense_layer_of_zero_units_is_refused_at_the_callers_line() {
    let (msg, file, line) = panic_site(|| {
        let _ = Dense::new(0);
    });
    assert_eq!(msg, "Dense::new: units must be a positive integer, got 0");
    assert_eq!((file.ends_with("tests/nn.rs"), line), (true, line!() - 3));
}
