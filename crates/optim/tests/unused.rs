//! Parameters the loss does not reach have no gradient, and every optimizer leaves them as
//! PyTorch leaves a parameter whose `grad` is `None`: value, buffers and its own step count.
//! Three steps of each PyTorch preset against torch.optim's values
//! (tests/fixtures/make_unused.py), the Keras presets, state files, and gradients of another
//! store. (Clipping passes over a missing entry too: see optim.rs.)

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};

use borel_autograd::{ParamGrads, ParamId, ParamStore, ParamVars, Tape, Tensor, Var};
use borel_optim::{Adagrad, Adam, AdamW, Momentum, Optimizer, RmsProp, Sgd, State};

mod optimizers;

/// The optimizers of the fixture, as make_unused.py builds them.
fn pytorch_case(case: &str) -> Box<dyn Optimizer<f64>> {
    match case {
        "adam" => Box::new(Adam::new(0.1)),
        "adam_amsgrad_weight_decay" => Box::new(Adam::new(0.1).weight_decay(0.1).amsgrad(true)),
        "adamw" => Box::new(AdamW::new(0.1).weight_decay(0.1)),
        "sgd_momentum_dampening" => Box::new(Sgd::new(0.1).momentum(0.9).dampening(0.3).weight_decay(0.1)),
        "sgd_nesterov" => Box::new(Sgd::new(0.1).momentum(Momentum::Nesterov(0.9))),
        "adagrad_lr_decay" => Box::new(Adagrad::new(0.1).lr_decay(0.5).weight_decay(0.1)),
        "rmsprop_centered_momentum" => Box::new(
            RmsProp::pytorch()
                .lr(0.01)
                .momentum(0.5)
                .centered(true)
                .weight_decay(0.1),
        ),
        other => panic!("no optimizer for fixture case {other}"),
    }
}

const NAMES: [&str; 4] = ["w", "u", "late", "never"];

/// The fixture's four parameters, in its order.
fn store() -> (ParamStore<f64>, [ParamId; 4]) {
    let mut store = ParamStore::new();
    let starts = [[1.5, -0.5], [2.9, -0.7], [0.3, 0.6], [0.25, 4.0]];
    let ids = std::array::from_fn(|i| store.add(NAMES[i], Tensor::from_vec(starts[i].to_vec(), &[2]), true));
    (store, ids)
}

/// The fixture's loss at step `t`: `w` always, `u` at steps 1 and 3, `late` from step 2,
/// `never` at no step.
fn loss<'t>(tape: &'t Tape<f64>, p: &ParamVars<'t, f64>, [w, u, late, _]: [ParamId; 4], t: usize) -> Var<'t, f64> {
    let a = tape.constant(Tensor::from_vec(vec![1.0, -3.0], &[2]));
    let b = tape.constant(Tensor::from_vec(vec![0.5, 2.0], &[2]));
    let mut value = (p[w] * a - b).square().sum();
    if t != 2 {
        value = value + (p[u] * p[u] * p[u]).sum() * p[w].sum();
    }
    if t != 1 {
        value = value + (p[late] * a).exp().sum();
    }
    value
}

/// Three steps of `opt`; calls `check(step, store, opt)` after each.
fn run(opt: &mut dyn Optimizer<f64>, mut check: impl FnMut(usize, &ParamStore<f64>, &dyn Optimizer<f64>)) {
    let (mut store, ids) = store();
    for t in 1..=3 {
        let tape = Tape::new();
        let p = store.vars(&tape);
        let grads = p.backward(loss(&tape, &p, ids, t));
        let reached: Vec<bool> = ids.iter().map(|&id| grads.get(id).is_some()).collect();
        assert_eq!(reached, [true, t != 2, t != 1, false], "entries at step {t}");
        opt.update(&mut store, &grads);
        check(t, &store, opt);
    }
}

#[test]
fn three_steps_match_torch_optim_with_unused_parameters() {
    let csv = include_str!("fixtures/unused.csv");
    let mut want: BTreeMap<String, Vec<[f64; 2]>> = BTreeMap::new();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        want.entry(f[0].into())
            .or_default()
            .push([f[3].parse().unwrap(), f[4].parse().unwrap()]);
    }
    assert_eq!(want.len(), 7, "seven optimizers");
    let mut worst = 0.0f64;
    for (case, rows) in &want {
        assert_eq!(rows.len(), 12, "{case}: three steps of four parameters");
        let mut opt = pytorch_case(case);
        run(opt.as_mut(), |t, store, _| {
            for (k, id) in store.ids().enumerate() {
                let expected = rows[(t - 1) * 4 + k];
                for (got, exp) in store.get(id).data().iter().zip(expected) {
                    let rel = (got - exp).abs() / exp.abs().max(1e-12);
                    worst = worst.max(rel);
                    assert!(
                        rel <= 1e-12,
                        "{case}, step {t}: {} = {got}, torch.optim {exp}",
                        NAMES[k]
                    );
                }
            }
        });
    }
    eprintln!("largest relative difference to torch.optim: {worst:.2e}");
}

/// Every preset: a step without a gradient leaves the parameter, its buffers and its step
/// count bit for bit as they were; a parameter never reached has neither buffers nor steps.
#[test]
fn every_optimizer_leaves_a_parameter_without_gradient_untouched() {
    for (name, make) in optimizers::every::<f64>() {
        let mut opt = make();
        let mut after_first: Option<(Vec<u64>, Vec<Vec<u64>>)> = None;
        run(opt.as_mut(), |t, store, opt| {
            let [_, u, late, never] = NAMES.map(|n| store.find(n).unwrap());
            let bits = |id: ParamId| -> (Vec<u64>, Vec<Vec<u64>>) {
                let value = store.get(id).data().iter().map(|v| v.to_bits()).collect();
                let bufs = opt.state().get(id).unwrap_or_default();
                (
                    value,
                    bufs.iter()
                        .map(|b| b.data().iter().map(|v| v.to_bits()).collect())
                        .collect(),
                )
            };
            match t {
                1 => after_first = Some(bits(u)),
                2 => assert_eq!(
                    after_first.as_ref(),
                    Some(&bits(u)),
                    "{name}: u moved without a gradient"
                ),
                _ => {}
            }
            assert_eq!(store.get(never).data(), &[0.25, 4.0], "{name}: never moved");
            assert!(opt.state().get(never).is_none(), "{name}: buffers for never");
            let s = opt.state();
            let steps = (s.step(), s.param_step(u), s.param_step(late), s.param_step(never));
            let want = [(1, 1, 0, 0), (2, 1, 1, 0), (3, 2, 2, 0)][t - 1];
            assert_eq!(steps, want, "{name}: step counts after step {t}");
        });
    }
}

#[test]
fn per_parameter_step_counts_survive_a_state_file() {
    let mut opt = Adam::new(0.1);
    let mut saved = None;
    run(&mut opt, |t, store, opt| {
        if t == 2 {
            saved = Some((opt.state().to_bytes(store), store.clone()));
        }
    });
    let (bytes, store) = saved.unwrap();
    let path = std::path::Path::new("unused.safetensors");
    let state = State::<f64>::from_bytes(&bytes, path, &store).unwrap();
    let [w, u, late, never] = NAMES.map(|n| store.find(n).unwrap());
    let steps: Vec<u64> = [w, u, late, never].iter().map(|&id| state.param_step(id)).collect();
    assert_eq!((state.step(), steps), (2, vec![2, 1, 1, 0]));

    // State written before parameters had counts of their own: every parameter with
    // buffers took them all.
    let legacy = replace_same_length(&bytes, "\"step/", "\"xtep/");
    let state = State::<f64>::from_bytes(&legacy, path, &store).unwrap();
    let steps: Vec<u64> = [w, u, late, never].iter().map(|&id| state.param_step(id)).collect();
    assert_eq!(steps, [2, 2, 2, 0]);

    // counts above the whole count, or for parameters the model does not have, are refused
    let bad = replace_same_length(&bytes, "\"step/u\":\"1\"", "\"step/u\":\"9\"");
    let err = State::<f64>::from_bytes(&bad, path, &store).unwrap_err().to_string();
    assert!(
        err.contains("step count of 'u' is '9', not a count of at most 2 steps"),
        "{err}"
    );
    let bad = replace_same_length(&bytes, "\"step/u\"", "\"step/q\"");
    let err = State::<f64>::from_bytes(&bad, path, &store).unwrap_err().to_string();
    assert!(
        err.contains("'step/q' is for 'q', which the model does not have"),
        "{err}"
    );
    // a parameter with buffers must have a count
    let bad = replace_same_length(&bytes, "\"step/u\"", "\"xtep/u\"");
    let err = State::<f64>::from_bytes(&bad, path, &store).unwrap_err().to_string();
    assert!(err.contains("'u' has buffers but no step count"), "{err}");
}

/// `bytes` with `from` replaced by `to`, which has the same length (so that the
/// safetensors header keeps its size).
fn replace_same_length(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let text = String::from_utf8_lossy(bytes);
    assert!(text.contains(from), "{from} not in the header");
    let (from, to) = (from.as_bytes(), to.as_bytes());
    let mut out = bytes.to_vec();
    let mut i = 0;
    while i + from.len() <= out.len() {
        if &out[i..i + from.len()] == from {
            out[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn gradients_of_another_store_panic_at_the_callers_line() {
    let make = || {
        let mut s = ParamStore::new();
        let id = s.add("w", Tensor::from_vec(vec![1.0f32, 2.0], &[2]), true);
        (s, id)
    };
    let (mut a, _) = make();
    let (b, wb) = make();
    let mut grads_of_b = ParamGrads::new(&b);
    grads_of_b.insert(wb, Tensor::from_vec(vec![0.5, 0.5], &[2]));
    let previous = panic::take_hook();
    let file = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let seen = file.clone();
    panic::set_hook(Box::new(move |info| {
        *seen.lock().unwrap() = info.location().map(|l| l.file().to_string()).unwrap_or_default();
    }));
    for (name, make_opt) in optimizers::every::<f32>() {
        let (mut opt, name) = (make_opt(), optimizers::type_name(name));
        let err = panic::catch_unwind(AssertUnwindSafe(|| opt.update(&mut a, &grads_of_b)))
            .expect_err("updating a store with another store's gradients");
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        let want = format!("{name}::update: the gradients are of another ParamStore than the one being updated");
        assert!(msg.starts_with(&want), "{msg}");
        assert!(
            file.lock().unwrap().ends_with("unused.rs"),
            "{name}: panicked in {}",
            file.lock().unwrap()
        );
        assert_eq!(opt.state().step(), 0, "{name} counted a step");
        assert_eq!(a.get(a.find("w").unwrap()).data(), &[1.0, 2.0]);
    }
    panic::set_hook(previous);
}
