//! L-BFGS against `torch.optim.LBFGS` (tests/fixtures/make_lbfgs.py): 20 steps on the
//! Rosenbrock function in 2 and 6 dimensions and on a small tanh network, with and without
//! the strong-Wolfe line search, with history sizes that wrap; then resuming from saved
//! state, f32, and the checks on settings, parameters and state.

use std::collections::BTreeMap;

use borel_autograd::{ParamGrads, ParamId, ParamStore, ParamVars, Tape, Tensor, Var};
use borel_optim::{Lbfgs, LineSearch, State};

/// One row of the fixture: the state after a step.
struct Row {
    loss: f64,
    n_iter: u64,
    func_evals: u64,
    params: Vec<f64>,
}

/// A case of the fixture: its settings and its rows (step 0 holds the starting values).
struct Case {
    problem: String,
    line_search: LineSearch,
    lr: f64,
    max_iter: usize,
    history_size: usize,
    rows: Vec<Row>,
}

fn fixture() -> BTreeMap<String, Case> {
    let mut cases = BTreeMap::new();
    for line in include_str!("fixtures/lbfgs.csv").lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let case = cases.entry(f[0].to_string()).or_insert_with(|| Case {
            problem: f[1].to_string(),
            line_search: match f[2] {
                "none" => LineSearch::None,
                "strong_wolfe" => LineSearch::StrongWolfe,
                other => panic!("unknown line search {other}"),
            },
            lr: f[3].parse().unwrap(),
            max_iter: f[4].parse().unwrap(),
            history_size: f[5].parse().unwrap(),
            rows: Vec::new(),
        });
        assert_eq!(f[6].parse::<usize>().unwrap(), case.rows.len(), "rows in step order");
        case.rows.push(Row {
            loss: f[7].parse().unwrap_or(f64::NAN),
            n_iter: f[8].parse().unwrap(),
            func_evals: f[9].parse().unwrap(),
            params: f[11].split(' ').map(|v| v.parse().unwrap()).collect(),
        });
    }
    cases
}

/// The shapes of a problem's parameters, in the fixture's order.
fn shapes(problem: &str) -> Vec<Vec<usize>> {
    match problem {
        "rosenbrock2" => vec![vec![1], vec![1]],
        "rosenbrock6" => vec![vec![2, 3]],
        "mlp" => vec![vec![1, 8], vec![8], vec![8, 1], vec![1], vec![3]],
        other => panic!("unknown problem {other}"),
    }
}

/// The loss of a problem, written as make_lbfgs.py writes it.
fn loss<'t>(problem: &str, tape: &'t Tape<f64>, p: &ParamVars<'t, f64>, ids: &[ParamId]) -> Var<'t, f64> {
    match problem {
        "rosenbrock2" => {
            let (x, y) = (p[ids[0]], p[ids[1]]);
            ((1.0 - x).square() + (y - x.square()).square() * 100.0).sum()
        }
        "rosenbrock6" => rosenbrock(p[ids[0]].reshape(&[6])),
        _ => {
            // `ids[4]` is optimized but not reached by the loss
            let (xs, ys) = mlp_data();
            let (x, y) = (tape.constant(xs), tape.constant(ys));
            let hidden = (x.matmul(p[ids[0]]) + p[ids[1]]).tanh();
            (hidden.matmul(p[ids[2]]) + p[ids[3]] - y).square().mean()
        }
    }
}

/// `sum 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2` of a vector `x`.
fn rosenbrock(x: Var<'_, f64>) -> Var<'_, f64> {
    let n = x.shape()[0];
    let (head, tail) = (x.slice(0, 0, n - 1), x.slice(0, 1, n));
    ((tail - head.square()).square() * 100.0 + (1.0 - head).square()).sum()
}

/// The network's 16 points (tests/fixtures/lbfgs_mlp.csv).
fn mlp_data() -> (Tensor<f64>, Tensor<f64>) {
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for line in include_str!("fixtures/lbfgs_mlp.csv").lines().skip(1) {
        let (x, y) = line.split_once(',').unwrap();
        xs.push(x.parse().unwrap());
        ys.push(y.parse().unwrap());
    }
    let n = xs.len();
    (Tensor::from_vec(xs, &[n, 1]), Tensor::from_vec(ys, &[n, 1]))
}

/// A store with a problem's parameters, from flat values.
fn store_of(problem: &str, flat: &[f64]) -> (ParamStore<f64>, Vec<ParamId>) {
    let mut store = ParamStore::new();
    let mut offset = 0;
    let ids = shapes(problem)
        .iter()
        .enumerate()
        .map(|(i, shape)| {
            let n: usize = shape.iter().product();
            let value = Tensor::from_vec(flat[offset..offset + n].to_vec(), shape);
            offset += n;
            store.add(&format!("p{i}"), value, true)
        })
        .collect();
    assert_eq!(offset, flat.len(), "{problem}: the fixture's parameter count");
    (store, ids)
}

fn flat(store: &ParamStore<f64>) -> Vec<f64> {
    store.iter().flat_map(|(_, _, t)| t.data().to_vec()).collect()
}

fn optimizer(case: &Case) -> Lbfgs<f64> {
    Lbfgs::new(case.lr)
        .max_iter(case.max_iter)
        .history_size(case.history_size)
        .line_search(case.line_search)
}

/// One step of `opt` on `problem`; returns the loss it reports.
fn step(opt: &mut Lbfgs<f64>, problem: &str, store: &mut ParamStore<f64>, ids: &[ParamId]) -> f64 {
    opt.step(store, |store| {
        let tape = Tape::new();
        let p = store.vars(&tape);
        let loss = loss(problem, &tape, &p, ids);
        (loss.item(), p.backward(loss))
    })
}

/// The largest difference between `got` and `want`, relative to the largest `want`.
fn relative(got: &[f64], want: &[f64]) -> f64 {
    let scale = want.iter().fold(0.0f64, |m, w| m.max(w.abs()));
    let diff = got.iter().zip(want).fold(0.0f64, |m, (g, w)| m.max((g - w).abs()));
    diff / scale
}

#[test]
fn iterates_match_pytorch_to_1e_10() {
    let cases = fixture();
    assert_eq!(cases.len(), 14);
    for (name, case) in &cases {
        let (mut store, ids) = store_of(&case.problem, &case.rows[0].params);
        let mut opt = optimizer(case);
        let (mut worst, mut worst_loss) = (0.0f64, 0.0f64);
        for (t, want) in case.rows.iter().enumerate().skip(1) {
            let loss = step(&mut opt, &case.problem, &mut store, &ids);
            let rel = relative(&flat(&store), &want.params);
            worst = worst.max(rel);
            worst_loss = worst_loss.max((loss - want.loss).abs() / case.rows[1].loss);
            assert!(
                rel <= 1e-10,
                "{name}, step {t}: parameters differ by {rel:.2e} relative"
            );
            assert_eq!(
                (opt.n_iter(), opt.func_evals()),
                (want.n_iter, want.func_evals),
                "{name}, step {t}: (n_iter, func_evals)"
            );
        }
        assert!(
            worst_loss <= 1e-10,
            "{name}: losses differ by {worst_loss:.2e} of the first"
        );
        eprintln!("{name}: parameters {worst:.1e}, loss {worst_loss:.1e} (relative to PyTorch)");
    }
}

/// The fixture's case `name`, its store at step 0 and its parameter ids.
fn start(name: &str) -> (Case, ParamStore<f64>, Vec<ParamId>) {
    let case = fixture().remove(name).unwrap();
    let (store, ids) = store_of(&case.problem, &case.rows[0].params);
    (case, store, ids)
}

fn bits(store: &ParamStore<f64>) -> Vec<u64> {
    flat(store).iter().map(|v| v.to_bits()).collect()
}

#[test]
fn resuming_from_saved_state_is_bit_identical() {
    let dir = std::env::temp_dir().join(format!("borel-lbfgs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in [
        "mlp_wolfe_h8",
        "mlp_fixed_h10",
        "rosenbrock6_fixed_h3",
        "rosenbrock6_wolfe_h3",
    ] {
        let (case, mut unbroken, ids) = start(name);
        let mut a = optimizer(&case);
        let mut want = Vec::new();
        for _ in 0..6 {
            step(&mut a, &case.problem, &mut unbroken, &ids);
            want.push(bits(&unbroken));
        }
        let (_, mut store, ids) = start(name);
        let mut b = optimizer(&case);
        for _ in 0..2 {
            step(&mut b, &case.problem, &mut store, &ids);
        }
        let path = dir.join(format!("{name}.safetensors"));
        b.state().save(&path, &store).unwrap();
        let loaded = State::load(&path, &store).unwrap();
        assert_eq!(loaded, b.state(), "{name}: the state read back");
        // PyTorch's counts: func_evals as the step count, n_iter as each parameter's
        assert_eq!((loaded.step(), loaded.param_step(ids[0])), (b.func_evals(), b.n_iter()));
        let pairs = (loaded.get(ids[0]).unwrap().len() - 2) / 2;
        assert_eq!(pairs, case.history_size, "{name}: the history has wrapped by step 2");
        let mut c = optimizer(&case);
        c.set_state(loaded, &store).unwrap();
        for (k, want) in want.iter().enumerate().skip(2) {
            step(&mut c, &case.problem, &mut store, &ids);
            assert!(bits(&store) == *want, "{name}: step {} differs after resuming", k + 1);
        }
        assert_eq!((c.n_iter(), c.func_evals()), (a.n_iter(), a.func_evals()));
    }
}

#[test]
fn a_parameter_without_gradient_stays_and_frozen_ones_are_left_out() {
    let (case, mut store, ids) = start("mlp_wolfe");
    // a frozen parameter takes no part: the same path as the fixture's, and no buffers
    let frozen = store.add("frozen", Tensor::from_vec(vec![5.0, 6.0], &[2]), false);
    let mut opt = optimizer(&case);
    for want in &case.rows[1..4] {
        step(&mut opt, &case.problem, &mut store, &ids);
        let got: Vec<f64> = ids.iter().flat_map(|&id| store.get(id).data().to_vec()).collect();
        assert!(relative(&got, &want.params) <= 1e-10);
    }
    assert_eq!(
        store.get(ids[4]).data(),
        &[1.0, -2.0, 3.0],
        "the unused parameter moved"
    );
    assert_eq!(store.get(frozen).data(), &[5.0, 6.0], "the frozen parameter moved");
    let state = opt.state();
    assert!(state.get(frozen).is_none() && state.get(ids[4]).is_some());
}

#[test]
fn f32_finds_rosenbrocks_minimum() {
    let mut store = ParamStore::<f32>::new();
    let xy = store.add("xy", Tensor::from_vec(vec![-1.5f32, 2.0], &[2]), true);
    for search in [LineSearch::StrongWolfe, LineSearch::None] {
        let mut store = store.clone();
        let mut opt = Lbfgs::new(1.0).line_search(search);
        for _ in 0..10 {
            opt.step(&mut store, |store| {
                let tape = Tape::new();
                let p = store.vars(&tape);
                let (x, y) = (p[xy].slice(0, 0, 1), p[xy].slice(0, 1, 2));
                let loss = ((1.0 - x).square() + (y - x.square()).square() * 100.0).sum();
                (loss.item(), p.backward(loss))
            });
        }
        let err = store.get(xy).max_abs_diff(&Tensor::ones(&[2]));
        assert!(
            err < 1e-3,
            "{search:?}: {:?} is {err} from (1, 1)",
            store.get(xy).data()
        );
    }
    store.add("unused", Tensor::zeros(&[1]), true);
}

/// A closure for `store`'s parameter `w` with the loss `sum (w - 0.5)^2`.
fn quadratic(w: ParamId) -> impl FnMut(&ParamStore<f64>) -> (f64, ParamGrads<f64>) {
    move |store| {
        let tape = Tape::new();
        let p = store.vars(&tape);
        let loss = (p[w] - 0.5).square().sum();
        (loss.item(), p.backward(loss))
    }
}

#[test]
fn a_step_ends_where_pytorchs_does() {
    let mut store = ParamStore::new();
    let w = store.add("w", Tensor::from_vec(vec![0.5, 0.5 + 1e-8], &[2]), true);
    let mut opt = Lbfgs::pytorch();
    assert_eq!(opt.learning_rate(), 1.0);
    // a gradient within tolerance_grad: one evaluation, no iteration, nothing moves
    let before = bits(&store);
    opt.step(&mut store, quadratic(w));
    assert_eq!((opt.n_iter(), opt.func_evals(), bits(&store)), (0, 1, before));
    // max_eval bounds the evaluations of a step, the line search's included
    let w2 = store.add("w2", Tensor::from_vec(vec![3.0, -4.0], &[2]), true);
    let rosen = move |store: &ParamStore<f64>| {
        let tape = Tape::new();
        let p = store.vars(&tape);
        let loss = rosenbrock(p[w2]) + (p[w] - 0.5).square().sum();
        (loss.item(), p.backward(loss))
    };
    let mut opt = Lbfgs::new(1.0).max_eval(7).line_search(LineSearch::StrongWolfe);
    opt.step(&mut store, rosen);
    assert_eq!(opt.func_evals(), 7);
    // no trainable parameter: the closure's loss, and nothing counted
    let mut empty = ParamStore::new();
    let c = empty.add("c", Tensor::from_vec(vec![2.0], &[1]), false);
    let loss = Lbfgs::new(1.0).step(&mut empty, |store| (store.get(c).data()[0], ParamGrads::new(store)));
    assert_eq!(loss, 2.0);
}

/// The message of the panic `f` raises.
fn panic_message(f: impl FnOnce()) -> String {
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("no panic");
    let text = err.downcast_ref::<&str>().map(|s| s.to_string());
    err.downcast_ref::<String>().cloned().or(text).unwrap_or_default()
}

#[test]
fn gradients_of_another_store_or_other_parameters_panic() {
    let mut store = ParamStore::new();
    let w = store.add("w", Tensor::from_vec(vec![2.0, -1.0], &[2]), true);
    let mut other = ParamStore::<f64>::new();
    other.add("w", Tensor::zeros(&[2]), true);
    let msg = panic_message(|| {
        Lbfgs::new(1.0).step(&mut store.clone(), |_| (0.0, ParamGrads::new(&other)));
    });
    assert!(
        msg.contains("Lbfgs::step: the closure returned gradients of another ParamStore"),
        "{msg}"
    );
    let mut opt = Lbfgs::new(1.0).max_iter(2);
    opt.step(&mut store, quadratic(w));
    let v = store.add("v", Tensor::zeros(&[3]), true);
    let msg = panic_message(|| {
        opt.clone().step(&mut store.clone(), quadratic(w));
    });
    assert!(
        msg.contains("the trainable parameters are not those of the previous steps"),
        "{msg}"
    );
    // after reset() the new parameters are taken
    opt.reset();
    opt.step(&mut store, quadratic(w));
    assert!(opt.state().get(v).is_some(), "no buffers for the new parameter");
}

#[test]
fn state_of_another_optimizer_is_refused_and_changes_nothing() {
    use borel_optim::{Adam, Optimizer};
    let mut store = ParamStore::new();
    let w = store.add("w", Tensor::from_vec(vec![2.0, -1.0], &[2]), true);
    // AMSGrad's three buffers: L-BFGS keeps an even number
    let mut adam = Adam::new(0.1).amsgrad(true);
    let (_, grads) = quadratic(w)(&store);
    adam.update(&mut store, &grads);
    let mut opt = Lbfgs::new(1.0).max_iter(3);
    opt.step(&mut store, quadratic(w));
    let before = opt.state();
    let err = opt.set_state(adam.state().clone(), &store).unwrap_err();
    assert!(err.to_string().contains("3 buffers per parameter"), "{err}");
    assert_eq!(opt.state(), before);
}
