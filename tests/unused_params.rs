//! `fit` with a parameter the loss never reaches: it has no gradient, so the optimizer leaves
//! it (value and state) as it was, as PyTorch leaves a parameter whose `grad` is `None`, and
//! the non-finite checks, which look at gradients and updated values, pass over it.

use borel::prelude::*;

/// A dense layer and a spare parameter that the forward code does not use.
struct WithSpare {
    dense: DenseModule,
    spare: ParamId,
}

impl Module<f32> for WithSpare {
    fn forward<'t>(&self, fw: &ForwardPass<'t, f32>, x: Var<'t, f32>) -> Var<'t, f32> {
        self.dense.forward(fw, x)
    }
    fn params(&self) -> Vec<ParamId> {
        let mut ids = Module::<f32>::params(&self.dense);
        ids.push(self.spare);
        ids
    }
}

fn model(spare: Vec<f32>) -> (Model<f32, WithSpare>, ParamId) {
    let mut store = ParamStore::new();
    let mut b = ParamBuilder::new(&mut store, 0);
    let dense = Dense::new(1).build(&mut b, "dense", 2);
    let id = store.add("spare", Tensor::from_vec(spare, &[2]), true);
    let mut m = Model::new(WithSpare { dense, spare: id }, store);
    m.compile(Loss::Mse, Adam::new(0.1).weight_decay(0.1));
    (m, id)
}

fn data() -> (Tensor<f32>, Tensor<f32>) {
    let x = Tensor::from_fn(&[16, 2], |i| (i % 7) as f32 / 3.0 - 1.0);
    let y = Tensor::from_fn(&[16, 1], |i| x.data()[2 * i] - 2.0 * x.data()[2 * i + 1]);
    (x, y)
}

#[test]
fn fit_leaves_a_parameter_the_loss_does_not_reach_untouched() {
    let (x, y) = data();
    let (mut m, spare) = model(vec![2.9, -0.5]);
    let history = m.fit(&x, &y, FitOptions::new().epochs(3).batch_size(4)).unwrap();
    assert!(history.epochs[2].loss < history.epochs[0].loss);
    assert_eq!(m.store().get(spare).data(), &[2.9, -0.5]);
    let opt = m.optimizer().unwrap();
    assert!(
        opt.state().get(spare).is_none(),
        "Adam kept buffers for the spare parameter"
    );
    assert_eq!(opt.state().param_step(spare), 0);
    assert_eq!(opt.state().step(), 12);
}

#[test]
fn a_non_finite_parameter_the_loss_does_not_reach_stops_nothing() {
    let (x, y) = data();
    let (mut m, spare) = model(vec![f32::NAN, 1.0]);
    m.fit(&x, &y, FitOptions::new().epochs(2).batch_size(8)).unwrap();
    assert!(m.store().get(spare).data()[0].is_nan());
    assert_eq!(m.store().get(spare).data()[1], 1.0);
}
