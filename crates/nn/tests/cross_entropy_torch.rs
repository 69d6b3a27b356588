//! The cross-entropies against PyTorch on logits up to 1e30, in f32 and f64: values and
//! gradients in both reductions, and Hessian-vector products of the mean
//! (`fixtures/cross_entropy_torch.json`, written by `fixtures/make_cross_entropy_fixture.py`;
//! this test needs no Python).

use borel_autograd::{Float, Tape, Tensor, Var};
use borel_nn::{Loss, Reduction};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/cross_entropy_torch.json");

/// Each loss under the fixture's name, with the key of the target it takes.
const LOSSES: [(&str, Loss, &str); 3] = [
    ("sparse", Loss::SparseCategoricalCrossEntropy, "labels"),
    ("categorical", Loss::CategoricalCrossEntropy, "probs"),
    ("binary", Loss::BinaryCrossEntropyWithLogits, "binary"),
];

/// The fixture script's direction of the Hessian-vector product.
fn pattern(n: usize, k: usize, shift: f64, scale: f64) -> Vec<f64> {
    (0..n).map(|i| ((i * k % 5) as f64 - shift) / scale).collect()
}

fn numbers(case: &Value, key: &str) -> Vec<f64> {
    match &case[key] {
        Value::Array(list) => list.iter().map(|v| v.as_f64().expect("fixture: a number")).collect(),
        other => vec![other.as_f64().unwrap_or_else(|| panic!("fixture: no '{key}'"))],
    }
}

fn tensor<F: Float>(data: &[f64], shape: &[usize]) -> Tensor<F> {
    Tensor::from_vec(data.iter().map(|&v| F::from_f64(v)).collect(), shape)
}

/// `got` matches PyTorch's `want` within a few units in the last place of `F`.
fn assert_close<F: Float>(what: &str, logits: &[f64], got: &Tensor<F>, want: &[f64]) {
    let (atol, rtol) = if F::NAME == "f32" { (1e-6, 1e-6) } else { (1e-12, 1e-12) };
    assert_eq!(got.numel(), want.len(), "{what}: length");
    for (i, (g, w)) in got.data().iter().map(|g| g.to_f64()).zip(want).enumerate() {
        assert!(
            (g - w).abs() <= atol + rtol * w.abs(),
            "{} {what} of {logits:?}: element {i} is {g}, PyTorch says {w}",
            F::NAME
        );
    }
}

fn check_loss<F: Float>(case: &Value, name: &str, loss: Loss, target_key: &str) {
    let shape: Vec<usize> = numbers(case, "shape").iter().map(|&d| d as usize).collect();
    let logits = numbers(case, "logits");
    let target = numbers(case, target_key);
    let target_shape = if target.len() == shape[0] {
        vec![shape[0]]
    } else {
        shape.clone()
    };
    for (r, key) in [(Reduction::Mean, "mean"), (Reduction::Sum, "sum")] {
        let tape = Tape::<F>::new();
        let z = tape.var(tensor(&logits, &shape));
        let l = loss.compute(z, tensor::<F>(&target, &target_shape), r);
        let g = tape.grad(l, &[z], true)[0];
        let what = format!("{name} {key}");
        assert_close(&what, &logits, &l.value(), &numbers(case, &format!("{name}_{key}")));
        let want = numbers(case, &format!("{name}_{key}_grad"));
        assert_close(&format!("{what} gradient"), &logits, &g.value(), &want);
        if r == Reduction::Mean {
            let v: Var<'_, F> = tape.constant(tensor(&pattern(logits.len(), 3, 1.5, 1.5), &shape));
            let h = tape.grad((g * v).sum(), &[z], false)[0];
            let want = numbers(case, &format!("{name}_{key}_hvp"));
            assert_close(&format!("{what} hvp"), &logits, &h.value(), &want);
        }
    }
}

fn check_cases<F: Float>() -> usize {
    let fixture: Value = serde_json::from_str(FIXTURE).expect("fixture: JSON");
    let cases = fixture["cases"].as_array().expect("fixture: cases");
    let mine: Vec<&Value> = cases.iter().filter(|c| c["dtype"] == F::NAME).collect();
    for case in &mine {
        for (name, loss, target_key) in LOSSES {
            check_loss::<F>(case, name, loss, target_key);
        }
    }
    mine.len()
}

#[test]
fn f32_cross_entropies_match_pytorch_on_logits_up_to_1e30() {
    assert_eq!(check_cases::<f32>(), 5);
}

#[test]
fn f64_cross_entropies_match_pytorch_on_logits_up_to_1e30() {
    assert_eq!(check_cases::<f64>(), 5);
}

/// The cases of the report, spelled out: a rounded logsumexp used to lose them.
#[test]
fn equal_large_logits_cost_ln_2() {
    let tape = Tape::<f64>::new();
    let z = tape.var(Tensor::from_vec(vec![1e30, 1e30], &[1, 2]));
    let label = Tensor::from_vec(vec![0.0], &[1]);
    assert_eq!(Loss::SparseCategoricalCrossEntropy.of(z, &label).item(), 2f64.ln());
    let tape = Tape::<f32>::new();
    let z = tape.var(Tensor::from_vec(vec![1e7, 1e7], &[1, 2]));
    let onehot = Tensor::from_vec(vec![1.0, 0.0], &[1, 2]);
    assert_eq!(Loss::CategoricalCrossEntropy.of(z, &onehot).item(), 2f32.ln());
}
