//! BatchNorm and LayerNorm: gradients of first and second order against finite differences
//! in f64, in a `Sequential` (summary counts, training through an optimizer, inference),
//! in a user's module, in weight files (PyTorch's names), and their panics.

use borel_autograd::{
    GradcheckOptions, ParamGrads, ParamId, ParamStore, Tape, Tensor, Var, expr, gradcheck, gradgradcheck,
};
use borel_nn::{
    BatchNorm, BatchNormModule, Dense, ForwardPass, LayerNorm, Layout, Loss, Module, ParamBuilder, Sequential,
    WeightFile,
};

fn x() -> Tensor<f64> {
    Tensor::from_fn(&[4, 3], |i| ((i * 5 % 7) as f64 - 3.0) / 2.0 + 0.1 * i as f64)
}

fn weights(c: usize) -> Tensor<f64> {
    Tensor::from_fn(&[4, c], |i| 1.0 + ((i * 3) % 5) as f64 / 4.0)
}

/// gradcheck and gradgradcheck of `sum(module(x) * w)` in `x`, gamma and beta.
fn check_both_orders(module: &dyn Module<f64>, store: &ParamStore<f64>, gamma: ParamId, beta: ParamId, training: bool) {
    let f = expr(|v| {
        let mut fw = ForwardPass::new(v[0].tape(), store, training);
        fw.bind(gamma, v[1]);
        fw.bind(beta, v[2]);
        let y = module.forward(&fw, v[0]);
        (y * v[0].tape().constant(weights(3))).sum()
    });
    let inputs = [
        x(),
        Tensor::from_vec(vec![0.5, 1.5, -2.0], &[3]),
        Tensor::from_vec(vec![0.1, -0.2, 0.3], &[3]),
    ];
    let r = gradcheck(f, &inputs, &GradcheckOptions::default());
    assert!(r.passed, "training {training}: {r}");
    let r2 = gradgradcheck(f, &inputs, &GradcheckOptions::default());
    assert!(r2.passed, "training {training}: {r2}");
}

#[test]
fn batch_norm_gradients_of_first_and_second_order() {
    let mut store = ParamStore::new();
    let bn = BatchNorm::pytorch().build(&mut ParamBuilder::new(&mut store, 0), "bn", 3);
    *store.get_mut(bn.running_mean()) = Tensor::from_vec(vec![0.3, -0.2, 0.5], &[3]);
    *store.get_mut(bn.running_var()) = Tensor::from_vec(vec![1.5, 0.7, 2.0], &[3]);
    for training in [true, false] {
        check_both_orders(&bn, &store, bn.gamma().unwrap(), bn.beta().unwrap(), training);
    }
}

#[test]
fn layer_norm_gradients_of_first_and_second_order() {
    let mut store = ParamStore::new();
    let ln = LayerNorm::pytorch().build(&mut ParamBuilder::new(&mut store, 0), "ln", 3);
    check_both_orders(&ln, &store, ln.gamma().unwrap(), ln.beta().unwrap(), true);
}

/// A plain gradient step, then the buffers (what every optimizer's update does; borel-nn's
/// tests do not see borel-optim).
fn sgd(store: &mut ParamStore<f32>, grads: &ParamGrads<f32>, lr: f32) {
    for (id, g) in grads.iter() {
        *store.get_mut(id) = store.get(id) - &(g * lr);
    }
    store.apply_buffers(grads);
}

fn net(store: &mut ParamStore<f32>) -> Sequential<f32> {
    Sequential::new()
        .add(Dense::new(4).input_dim(2))
        .add(BatchNorm::keras())
        .add(LayerNorm::keras())
        .add(Dense::new(1))
        .build(store, 7)
}

#[test]
fn summary_counts_as_keras_does() {
    let mut store = ParamStore::new();
    let model = net(&mut store);
    let s = model.summary(&store);
    // Keras: Dense(4) 12, BatchNormalization(4) 16 (8 non-trainable), LayerNormalization(4) 8,
    // Dense(1) 5; num_batches_tracked is not a parameter.
    assert!(s.contains("batchnormalization (BatchNormalization)"), "{s}");
    let count = |kind: &str| {
        let row = s
            .lines()
            .find(|l| l.contains(kind))
            .unwrap_or_else(|| panic!("{kind} in\n{s}"));
        row.trim_end_matches(" │").rsplit(' ').next().unwrap().to_string()
    };
    assert_eq!(count("(BatchNormalization)"), "16", "{s}");
    assert_eq!(count("(LayerNormalization)"), "8", "{s}");
    assert!(s.contains("Total params: 41 ("), "{s}");
    assert!(s.contains("Trainable params: 33 ("), "{s}");
    assert!(s.contains("Non-trainable params: 8 ("), "{s}");
}

/// Batches whose features have mean about 3 and variance about 4 after the first layer's
/// identity kernel.
fn data() -> (Tensor<f32>, Tensor<f32>) {
    let x = Tensor::from_fn(&[16, 2], |i| 3.0 + 2.0 * (((i * 7) % 11) as f32 - 5.0) / 3.2);
    let y = Tensor::from_fn(&[16, 1], |i| (i % 3) as f32);
    (x, y)
}

#[test]
fn training_updates_running_statistics_and_inference_uses_them() {
    let mut store = ParamStore::<f32>::new();
    let mut b = ParamBuilder::new(&mut store, 0);
    let bn = BatchNorm::pytorch().pytorch_momentum(0.5).build(&mut b, "bn", 2);
    let (x, y) = data();
    for step in 1..=30 {
        let tape = Tape::new();
        let fw = ForwardPass::train(&tape, &store);
        let out = bn.forward(&fw, tape.constant(x.clone()));
        let loss = Loss::Mse.of(out.sum_axes(&[1], true), tape.constant(y.clone()));
        sgd(&mut store, &fw.backward(loss), 0.1);
        assert_eq!(store.get(bn.num_batches_tracked()).item(), step as f32);
    }
    let mean = store.get(bn.running_mean()).data().to_vec();
    let want: Vec<f32> = (0..2)
        .map(|c| (0..16).map(|r| x.data()[r * 2 + c]).sum::<f32>() / 16.0)
        .collect();
    for (m, w) in mean.iter().zip(&want) {
        assert!((m - w).abs() < 1e-4, "running mean {mean:?}, batch mean {want:?}");
    }
    // Inference normalizes with the running statistics (the unbiased variance, 16/15 of the
    // batch's), training with the batch's: (inference - beta) = (training - beta) sqrt(15/16).
    let predicted = bn.predict(&store, &x);
    let tape = Tape::new();
    let trained = bn
        .forward(&ForwardPass::train(&tape, &store), tape.constant(x.clone()))
        .value();
    let beta = store.get(bn.beta().unwrap()).data().to_vec();
    for (i, (p, t)) in predicted.data().iter().zip(trained.data()).enumerate() {
        let b = beta[i % 2];
        assert!(
            ((p - b) - (t - b) * (15.0f32 / 16.0).sqrt()).abs() < 1e-4,
            "{i}: {p} vs {t}"
        );
    }
}

/// A user's module: dense, batch norm, relu, dense; its parameters and buffers listed.
struct Block {
    dense: borel_nn::DenseModule,
    bn: BatchNormModule,
    out: borel_nn::DenseModule,
}

impl Block {
    fn new(store: &mut ParamStore<f32>, seed: u64) -> Self {
        let mut b = ParamBuilder::new(store, seed);
        Block {
            dense: Dense::new(3).build(&mut b, "dense", 2),
            bn: BatchNorm::pytorch().build(&mut b, "bn", 3),
            out: Dense::new(1).build(&mut b, "out", 3),
        }
    }
}

impl Module<f32> for Block {
    fn forward<'t>(&self, fw: &ForwardPass<'t, f32>, x: Var<'t, f32>) -> Var<'t, f32> {
        let h = self.bn.forward(fw, self.dense.forward(fw, x)).relu();
        self.out.forward(fw, h)
    }
    fn params(&self) -> Vec<ParamId> {
        [self.dense.params(), Module::<f32>::params(&self.bn), self.out.params()].concat()
    }
}

#[test]
fn batch_norm_in_a_user_module_trains_and_saves_with_pytorch_names() {
    let mut store = ParamStore::<f32>::new();
    let block = Block::new(&mut store, 3);
    let (x, y) = data();
    for _ in 0..3 {
        let tape = Tape::new();
        let fw = ForwardPass::train(&tape, &store);
        let loss = Loss::Mse.of(block.forward(&fw, tape.constant(x.clone())), tape.constant(y.clone()));
        sgd(&mut store, &fw.backward(loss), 0.1);
    }
    assert_eq!(store.get(block.bn.num_batches_tracked()).item(), 3.0);
    let bytes = store.to_safetensors(Layout::PyTorch);
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = file.names().into_iter().map(String::from).collect();
    names.sort();
    let want = [
        "bn.bias",
        "bn.num_batches_tracked",
        "bn.running_mean",
        "bn.running_var",
        "bn.weight",
        "dense.bias",
        "dense.weight",
        "out.bias",
        "out.weight",
    ];
    assert_eq!(names, want);
    let mut other = ParamStore::<f32>::new();
    let twin = Block::new(&mut other, 99);
    other.load_bytes(&bytes, "in memory".as_ref(), Layout::PyTorch).unwrap();
    assert_eq!(other.snapshot(), store.snapshot());
    assert_eq!(twin.predict(&other, &x).data(), block.predict(&store, &x).data());
}

#[test]
#[should_panic(expected = "BatchNorm: expected more than 1 value per feature in training, got input of shape [1, 3]")]
fn batch_norm_refuses_a_training_batch_of_one() {
    let mut store = ParamStore::<f32>::new();
    let bn = BatchNorm::new().build(&mut ParamBuilder::new(&mut store, 0), "bn", 3);
    let tape = Tape::new();
    bn.forward(&ForwardPass::train(&tape, &store), tape.constant(Tensor::ones(&[1, 3])));
}

#[test]
#[should_panic(expected = "BatchNorm: input of shape [4, 2]; expected [batch, 3] or [batch, 3, length]")]
fn batch_norm_names_the_shapes() {
    let mut store = ParamStore::<f32>::new();
    let bn = BatchNorm::new().build(&mut ParamBuilder::new(&mut store, 0), "bn", 3);
    bn.predict(&store, &Tensor::ones(&[4, 2]));
}
