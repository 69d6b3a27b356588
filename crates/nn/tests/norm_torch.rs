//! BatchNorm and LayerNorm against PyTorch in f32: outputs, input and parameter gradients,
//! running statistics after each training batch, and inference with them
//! (`fixtures/norm_torch.json`, written by `fixtures/make_norm_fixture.py`; this test needs no
//! Python).

use borel_autograd::{ParamStore, Tape, Tensor};
use borel_nn::{BatchNorm, ForwardPass, LayerNorm, Module, ParamBuilder};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/norm_torch.json");

/// The fixture script's fixed values.
fn pattern(n: usize, k: usize, shift: f64, scale: f64) -> Vec<f64> {
    (0..n).map(|i| ((i * k % 7) as f64 - shift) / scale).collect()
}

fn numbers(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(list) => list.iter().map(|v| v.as_f64().expect("fixture: a number")).collect(),
        other => vec![other.as_f64().expect("fixture: a number")],
    }
}

fn tensor(data: &[f64], shape: &[usize]) -> Tensor<f32> {
    Tensor::from_vec(data.iter().map(|&v| v as f32).collect(), shape)
}

/// Within 1e-6 of PyTorch's value, relative to its size where it is above 1.
#[track_caller]
fn assert_close(what: &str, got: &Tensor<f32>, want: &Value) {
    let want = numbers(want);
    assert_eq!(got.numel(), want.len(), "{what}: length");
    for (i, (g, w)) in got.data().iter().zip(&want).enumerate() {
        let g = f64::from(*g);
        assert!(
            (g - w).abs() <= 1e-6 * w.abs().max(1.0),
            "{what}: element {i} is {g}, PyTorch says {w}"
        );
    }
}

/// The module of a case, its affine parameters set as the script sets them, and its buffers.
fn build(case: &Value, store: &mut ParamStore<f32>) -> (Box<dyn Module<f32>>, [Option<borel_autograd::ParamId>; 5]) {
    let c = case["features"].as_u64().unwrap() as usize;
    let mut b = ParamBuilder::new(store, 0);
    let (module, ids): (Box<dyn Module<f32>>, _) = if case["layer"] == "batch_norm" {
        let spec = match (case["keras"].as_bool().unwrap(), case["momentum"].as_f64()) {
            (true, _) => BatchNorm::keras(),
            (false, Some(m)) => BatchNorm::pytorch().pytorch_momentum(m),
            (false, None) => BatchNorm::pytorch().cumulative_average(),
        };
        let m = spec.build(&mut b, "bn", c);
        let ids = [
            m.gamma(),
            m.beta(),
            Some(m.running_mean()),
            Some(m.running_var()),
            Some(m.num_batches_tracked()),
        ];
        (Box::new(m), ids)
    } else {
        let eps = case["eps"].as_f64().unwrap();
        let m = LayerNorm::pytorch().eps(eps).build(&mut b, "ln", c);
        let ids = [m.gamma(), m.beta(), None, None, None];
        (Box::new(m), ids)
    };
    *store.get_mut(ids[0].unwrap()) = tensor(
        &pattern(c, 3, 1.0, 2.0).iter().map(|v| v + 1.0).collect::<Vec<_>>(),
        &[c],
    );
    *store.get_mut(ids[1].unwrap()) = tensor(&pattern(c, 2, 3.0, 4.0), &[c]);
    (module, ids)
}

/// One pass as the script runs it: output, gradients of `sum(y * v)`, buffers written.
fn check_pass(
    case: &str,
    module: &dyn Module<f32>,
    store: &mut ParamStore<f32>,
    ids: &[Option<borel_autograd::ParamId>; 5],
    step: &Value,
    training: bool,
) {
    let shape: Vec<usize> = numbers(&step["shape"]).iter().map(|&d| d as usize).collect();
    let tape = Tape::new();
    let fw = ForwardPass::new(&tape, store, training);
    let x = tape.var(tensor(&numbers(&step["x"]), &shape));
    let y = module.forward(&fw, x);
    let v = tape.constant(tensor(&pattern(y.value().numel(), 5, 2.0, 3.0), &shape));
    let mut grads = (y * v).sum().backward();
    let dx = grads.take(x).expect("x reaches the loss");
    let params = fw.grads(grads);
    let what = |w: &str| format!("{case} ({}) {w}", if training { "train" } else { "eval" });
    assert_close(&what("y"), &y.value(), &step["y"]);
    assert_close(&what("dx"), &dx, &step["dx"]);
    if training {
        assert_close(&what("dweight"), &params[ids[0].unwrap()], &step["dweight"]);
        assert_close(&what("dbias"), &params[ids[1].unwrap()], &step["dbias"]);
    }
    store.apply_buffers(&params);
    for (k, id) in ["running_mean", "running_var", "num_batches_tracked"]
        .iter()
        .zip(&ids[2..])
    {
        if let (Some(id), Some(want)) = (id, step.get(*k)) {
            assert_close(&what(k), store.get(*id), want);
        }
    }
}

#[test]
fn batch_norm_and_layer_norm_match_pytorch() {
    let fixture: Value = serde_json::from_str(FIXTURE).expect("fixture: JSON");
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let mut store = ParamStore::new();
        let (module, ids) = build(case, &mut store);
        for step in case["train"].as_array().unwrap() {
            check_pass(name, module.as_ref(), &mut store, &ids, step, true);
        }
        let before = store.snapshot();
        check_pass(name, module.as_ref(), &mut store, &ids, &case["eval"], false);
        assert_eq!(store.snapshot(), before, "{name}: inference changed the store");
    }
}

/// A trained PyTorch `nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))`'s state_dict (its
/// `num_batches_tracked` an int64 scalar) loads one to one into the same Borel model, whose
/// inference then gives PyTorch's output.
#[test]
fn a_pytorch_state_dict_with_batch_norm_loads_one_to_one() {
    use borel_nn::{Dense, Layout, Sequential, WeightFile};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut store = ParamStore::<f32>::new();
    let model = Sequential::new()
        .add(Dense::new(3).input_dim(2))
        .add(BatchNorm::pytorch())
        .build(&mut store, 0);
    store
        .load(dir.join("batch_norm_state_dict.safetensors"), Layout::PyTorch)
        .unwrap();
    assert_eq!(store.get(store.find("1.num_batches_tracked").unwrap()).item(), 3.0);
    let expected: Value = serde_json::from_str(include_str!("fixtures/batch_norm_state_dict.json")).unwrap();
    let x = tensor(&numbers(&expected["x"]), &[4, 2]);
    assert_close("inference after loading", &model.predict(&store, &x), &expected["y"]);
    let mut f64_store = ParamStore::<f64>::new();
    let _twin = Sequential::new()
        .add(Dense::new(3).input_dim(2))
        .add(BatchNorm::pytorch())
        .build(&mut f64_store, 0);
    let err = f64_store
        .load(dir.join("batch_norm_state_dict.safetensors"), Layout::PyTorch)
        .unwrap_err();
    assert!(err.to_string().contains("is f32, the model is f64"), "{err}");
}
