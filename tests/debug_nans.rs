//! With NaN tracing on, `fit` names the op that made the first NaN and the line that called
//! `fit` (a module's `forward` reports its caller's line); its own binary: the switch is global.

use borel::prelude::*;

/// A dense layer followed by log: NaN once the layer's output goes negative.
struct LogNet(DenseModule);

impl Module<f32> for LogNet {
    fn forward<'t>(&self, fw: &ForwardPass<'t, f32>, x: Var<'t, f32>) -> Var<'t, f32> {
        let h = self.0.forward(fw, x);
        h.log()
    }
    fn params(&self) -> Vec<ParamId> {
        self.0.params()
    }
}

fn model(bias: f64) -> Model<f32, LogNet> {
    let mut store = ParamStore::new();
    let b = &mut ParamBuilder::new(&mut store, 0);
    let layer = Dense::new(1)
        .kernel_init(Init::Zeros)
        .bias_init(Init::Constant(bias))
        .build(b, "d", 2);
    let mut model = Model::new(LogNet(layer), store);
    model.compile(Loss::Mse, Sgd::new(0.1));
    model
}

#[test]
fn fit_names_the_op_and_the_line_that_made_the_nan() {
    borel::autograd::set_debug_nans(true);
    let (x, opts) = (Tensor::ones(&[8, 2]), || FitOptions::new().batch_size(4).shuffle(false));
    // NaN from the start (log of -5): found by the check before training, weights untouched.
    let mut m = model(-5.0);
    let before = m.store().snapshot();
    // A module's `forward` reports the line that called it: here, `fit`'s.
    let fit_line = line!() + 1;
    let err = m.fit(&x, &Tensor::zeros(&[8, 1]), opts()).unwrap_err();
    let FitError::NonFiniteOp { report, epoch: 0, .. } = &err else {
        panic!("expected the traced op before training, got {err}")
    };
    let site = report.site.expect("recorded while tracing");
    assert_eq!(
        (report.op.as_str(), site.file(), site.line()),
        ("log", file!(), fit_line),
        "{err}"
    );
    assert_eq!(m.store().snapshot(), before);
    // NaN after one update: the first step pushes the layer's output below zero.
    let mut m = model(0.5);
    let fit_line = line!() + 1;
    let err = m.fit(&x, &Tensor::full(&[8, 1], -10.0), opts()).unwrap_err();
    let FitError::NonFiniteOp { report, epoch, batch } = &err else {
        panic!("expected the traced op in training, got {err}")
    };
    assert_eq!((report.op.as_str(), *epoch, *batch), ("log", 1, 2), "{err}");
    assert!(
        err.to_string().contains(&format!("called at {}:{fit_line}:", file!())),
        "{err}"
    );
    assert!(m.store().snapshot().iter().all(|t| t.all_finite()));
}
