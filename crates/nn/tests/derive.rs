//! `#[derive(Module)]`: parameters from fields in order (nested modules, options, vectors,
//! arrays, skipped fields), another float type, and the inherent `forward`.

use borel_autograd::{ParamId, ParamStore, Tape, Tensor, Var};
use borel_nn::{Dense, DenseModule, ForwardPass, Init, Module, ParamBuilder};

#[derive(Module)]
#[module(crate = borel_nn)]
struct Block {
    dense: DenseModule,
    gate: Option<ParamId>,
}

impl Block {
    fn forward<'t>(&self, fw: &ForwardPass<'t>, x: Var<'t>) -> Var<'t> {
        let y = self.dense.forward(fw, x);
        match self.gate {
            Some(gate) => y * fw.param(gate),
            None => y,
        }
    }
}

#[derive(Module)]
#[module(crate = borel_nn)]
struct Stack {
    blocks: Vec<Block>,
    heads: [DenseModule; 2],
    #[module(skip)]
    label: &'static str,
}

impl Stack {
    fn forward<'t>(&self, fw: &ForwardPass<'t>, x: Var<'t>) -> Var<'t> {
        let h = self.blocks.iter().fold(x, |h, block| block.forward(fw, h));
        self.heads[0].forward(fw, h) + self.heads[1].forward(fw, h)
    }
}

fn stack(store: &mut ParamStore) -> Stack {
    let b = &mut ParamBuilder::new(store, 0);
    let block = |b: &mut ParamBuilder, name: &str, gate: bool| Block {
        dense: Dense::new(3).build(b, name, 3),
        gate: gate.then(|| b.param(&format!("{name}.gate"), &[1], Init::Constant(0.5))),
    };
    Stack {
        blocks: vec![block(b, "b0", true), block(b, "b1", false)],
        heads: [Dense::new(1).build(b, "h0", 3), Dense::new(1).build(b, "h1", 3)],
        label: "stack",
    }
}

#[test]
fn parameters_come_from_the_fields_in_order() {
    let mut store = ParamStore::new();
    let net = stack(&mut store);
    let names: Vec<&str> = net.params().iter().map(|&id| store.name(id)).collect();
    let want = [
        "b0.kernel",
        "b0.bias",
        "b0.gate",
        "b1.kernel",
        "b1.bias",
        "h0.kernel",
        "h0.bias",
        "h1.kernel",
        "h1.bias",
    ];
    assert_eq!(names, want);
    assert_eq!(net.label, "stack");
    // The derived Module::forward is the inherent one: same values, and gradients for all.
    let x = Tensor::from_fn(&[4, 3], |i| i as f32 / 10.0);
    let tape = Tape::new();
    let fw = ForwardPass::train(&tape, &store);
    let y = Module::forward(&net, &fw, tape.constant(x.clone()));
    assert_eq!(y.value().data(), net.predict(&store, &x).data());
    let grads = fw.backward(y.sum());
    assert_eq!(grads.iter().count(), want.len());
}

#[derive(Module)]
#[module(crate = borel_nn, float = f64)]
struct Affine(DenseModule);

impl Affine {
    fn forward<'t>(&self, fw: &ForwardPass<'t, f64>, x: Var<'t, f64>) -> Var<'t, f64> {
        self.0.forward(fw, x)
    }
}

#[test]
fn a_module_of_another_float_type() {
    let mut store = ParamStore::<f64>::new();
    let net = Affine(Dense::new(2).build(&mut ParamBuilder::new(&mut store, 0), "affine", 2));
    assert_eq!(net.params().len(), 2);
    assert_eq!(net.predict(&store, &Tensor::zeros(&[1, 2])).data(), &[0.0, 0.0]);
}
