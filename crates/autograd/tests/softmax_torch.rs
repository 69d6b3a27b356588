//! softmax, log_softmax and logsumexp against PyTorch on logits up to 1e30, in f32 and f64:
//! values, gradients and Hessian-vector products (`fixtures/softmax_torch.json`, written by
//! `fixtures/make_softmax_fixture.py`; this test needs no Python).

use borel_autograd::{Float, Tape, Tensor, Var};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/softmax_torch.json");

/// The fixture script's weights: `((i k) mod 5 - shift) / scale`.
fn pattern(n: usize, k: usize, shift: f64, scale: f64) -> Vec<f64> {
    (0..n).map(|i| ((i * k % 5) as f64 - shift) / scale).collect()
}

fn numbers(case: &Value, key: &str) -> Vec<f64> {
    let list = case[key]
        .as_array()
        .unwrap_or_else(|| panic!("fixture: no list '{key}'"));
    list.iter().map(|v| v.as_f64().expect("fixture: a number")).collect()
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

/// Value, gradient of `sum(w * f(x))` and Hessian-vector product along `v` of one function.
fn check_function<F: Float>(case: &Value, name: &str, f: for<'t> fn(Var<'t, F>) -> Var<'t, F>) {
    let (shape, logits) = shape_and_logits(case);
    let n = logits.len();
    let tape = Tape::<F>::new();
    let x = tape.var(tensor(&logits, &shape));
    let w = tape.constant(tensor(&pattern(n, 7, 2.0, 2.0), &shape));
    let v = tape.constant(tensor(&pattern(n, 3, 1.5, 1.5), &shape));
    let y = f(x);
    let g = tape.grad((w * y).sum(), &[x], true)[0];
    let h = tape.grad((g * v).sum(), &[x], false)[0];
    assert_close(name, &logits, &y.value(), &numbers(case, name));
    assert_close(
        &format!("{name} gradient"),
        &logits,
        &g.value(),
        &numbers(case, &format!("{name}_grad")),
    );
    assert_close(
        &format!("{name} hvp"),
        &logits,
        &h.value(),
        &numbers(case, &format!("{name}_hvp")),
    );
}

fn shape_and_logits(case: &Value) -> (Vec<usize>, Vec<f64>) {
    let shape = numbers(case, "shape").iter().map(|&d| d as usize).collect();
    (shape, numbers(case, "logits"))
}

fn check_logsumexp<F: Float>(case: &Value) {
    let (shape, logits) = shape_and_logits(case);
    let tape = Tape::<F>::new();
    let x = tape.var(tensor(&logits, &shape));
    let rows: Vec<f64> = (0..shape[0]).map(|r| 1.0 + 0.5 * r as f64).collect();
    let lse = x.logsumexp_axes(&[-1], false);
    let g = tape.grad((lse * tape.constant(tensor(&rows, &[shape[0]]))).sum(), &[x], false)[0];
    assert_close("logsumexp", &logits, &lse.value(), &numbers(case, "logsumexp"));
    assert_close(
        "logsumexp gradient",
        &logits,
        &g.value(),
        &numbers(case, "logsumexp_grad"),
    );
}

fn check_cases<F: Float>() -> usize {
    let fixture: Value = serde_json::from_str(FIXTURE).expect("fixture: JSON");
    let cases = fixture["cases"].as_array().expect("fixture: cases");
    let mine: Vec<&Value> = cases.iter().filter(|c| c["dtype"] == F::NAME).collect();
    for case in &mine {
        check_function::<F>(case, "softmax", |x| x.softmax(-1));
        check_function::<F>(case, "log_softmax", |x| x.log_softmax(-1));
        check_logsumexp::<F>(case);
    }
    mine.len()
}

#[test]
fn f32_matches_pytorch_on_logits_up_to_1e30() {
    assert_eq!(check_cases::<f32>(), 7);
}

#[test]
fn f64_matches_pytorch_on_logits_up_to_1e300() {
    assert_eq!(check_cases::<f64>(), 8);
}

/// The cases of the report, spelled out: a rounded logsumexp used to lose them.
#[test]
fn equal_large_logits_split_evenly() {
    let tape = Tape::<f32>::new();
    let x = tape.var(Tensor::from_vec(vec![1e7, 1e7], &[2]));
    assert_eq!(x.softmax(0).value().data(), &[0.5, 0.5]);
    let w = tape.constant(Tensor::from_vec(vec![-1.0, 1.0], &[2]));
    assert_eq!((x.softmax(0) * w).sum().backward()[x].data(), &[-0.5, 0.5]);
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::from_vec(vec![1e30, 1e30], &[2]));
    assert_eq!(x.log_softmax(0).value().data(), &[-2f64.ln(); 2]);
}
