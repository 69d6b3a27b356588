//! Gradients exist only for what the output reaches through recorded ops: `GradStore::get`
//! gives `None` for any other leaf (PyTorch's `grad is None`, while indexing still gives an
//! explicit zero), and `ParamGrads` has no entry for such a parameter.

use borel_autograd::{ParamStore, Tape, Tensor};

#[test]
fn grad_store_tells_reached_leaves_from_the_others() {
    let tape = Tape::<f64>::new();
    let used = tape.var(Tensor::from_vec(vec![1.0, 2.0], &[2]));
    let unused = tape.var(Tensor::ones(&[3]));
    let under_no_grad = tape.var(Tensor::ones(&[2]));
    let detached = tape.var(Tensor::ones(&[2]));
    let zero_path = tape.var(Tensor::ones(&[2]));
    let frozen = tape.no_grad(|| under_no_grad * 2.0);
    let y = (used * used + frozen + detached.detach() + zero_path * 0.0).sum();
    let later = tape.var(Tensor::ones(&[1]));
    let mut grads = y.backward();
    assert_eq!(grads.get(used).unwrap().data(), &[2.0, 4.0]);
    // reached through a zero: a gradient of zeros, as in PyTorch
    assert_eq!(grads.get(zero_path).unwrap().data(), &[0.0, 0.0]);
    for (name, v) in [
        ("unused", unused),
        ("under no_grad", under_no_grad),
        ("detached", detached),
        ("created after the output", later),
    ] {
        assert!(grads.get(v).is_none(), "{name} has a gradient");
        assert!(
            grads[v].data().iter().all(|&g| g == 0.0),
            "{name}: indexing is not zero"
        );
        assert_eq!(grads[v].shape(), v.value().shape(), "{name}");
        assert!(grads.take(v).is_none(), "{name} gave a gradient to take");
    }
    assert!(grads.take(used).is_some());
}

#[test]
fn param_grads_have_entries_only_for_parameters_the_loss_reaches() {
    let mut store = ParamStore::<f32>::new();
    let w = store.add("w", Tensor::from_vec(vec![1.0, -1.0], &[2]), true);
    let unused = store.add("unused", Tensor::ones(&[2, 2]), true);
    let frozen = store.add("frozen", Tensor::ones(&[2]), false);
    let only_detached = store.add("only_detached", Tensor::ones(&[2]), true);
    let tape = Tape::new();
    let p = store.vars(&tape);
    let loss = (p[w] * p[frozen] + p[only_detached].detach()).square().sum();
    let grads = p.backward(loss);
    assert_eq!(grads[w].data(), &[4.0, 0.0]);
    for id in [unused, frozen, only_detached] {
        assert!(grads.get(id).is_none(), "{} has an entry", store.name(id));
    }
    assert_eq!(grads.iter().map(|(id, _)| id).collect::<Vec<_>>(), vec![w]);
    assert_eq!(grads.first_non_finite(), None);
}

#[test]
#[should_panic(expected = "parameter #1 has no gradient (frozen, or unused by the loss)")]
fn indexing_a_missing_entry_says_why() {
    let mut store = ParamStore::<f32>::new();
    let w = store.add("w", Tensor::ones(&[1]), true);
    let unused = store.add("unused", Tensor::ones(&[1]), true);
    let tape = Tape::new();
    let p = store.vars(&tape);
    let grads = p.backward(p[w].sum());
    let _ = &grads[unused];
}
