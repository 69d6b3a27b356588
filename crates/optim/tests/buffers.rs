//! Every optimizer's update (and each L-BFGS evaluation) first writes the buffer values the
//! gradients carry: a batch norm's running statistics, set by the training pass.

use borel_autograd::{ParamGrads, ParamStore, Tensor};
use borel_optim::{Lbfgs, Optimizer};

mod optimizers;

#[test]
fn every_update_writes_the_buffers_the_gradients_carry() {
    for (name, make) in optimizers::every::<f64>() {
        let mut store = ParamStore::new();
        let w = store.add("w", Tensor::from_vec(vec![1.0, 2.0], &[2]), true);
        let mean = store.add("running_mean", Tensor::zeros(&[2]), false);
        let mut grads = ParamGrads::new(&store);
        grads.insert(w, Tensor::from_vec(vec![0.5, -0.5], &[2]));
        grads.set_buffer(mean, Tensor::from_vec(vec![0.25, 0.75], &[2]));
        make().update(&mut store, &grads);
        assert_eq!(store.get(mean).data(), &[0.25, 0.75], "{name}");
        assert_ne!(store.get(w).data(), &[1.0, 2.0], "{name}: the step itself");
    }
}

#[test]
fn lbfgs_writes_the_buffers_of_each_evaluation() {
    let mut store = ParamStore::<f64>::new();
    let w = store.add("w", Tensor::from_vec(vec![1.0], &[1]), true);
    let count = store.add_uncounted("num_batches_tracked", Tensor::zeros(&[]));
    let mut evaluations = 0.0;
    Lbfgs::new(1.0).max_iter(3).step(&mut store, |s| {
        evaluations += 1.0;
        assert_eq!(
            s.get(count).item(),
            evaluations - 1.0,
            "the previous evaluation's value"
        );
        let x = s.get(w).item();
        let mut grads = ParamGrads::new(s);
        grads.insert(w, Tensor::from_vec(vec![2.0 * x], &[1]));
        grads.set_buffer(count, Tensor::scalar(evaluations));
        (x * x, grads)
    });
    assert_eq!(store.get(count).item(), evaluations);
    assert!(evaluations >= 2.0);
}

#[test]
#[should_panic(expected = "ParamStore::apply_buffers: 'w' is trainable")]
fn a_buffer_value_for_a_trainable_parameter_is_refused() {
    let mut store = ParamStore::<f64>::new();
    let w = store.add("w", Tensor::zeros(&[1]), true);
    let mut grads = ParamGrads::new(&store);
    grads.set_buffer(w, Tensor::ones(&[1]));
    borel_optim::Sgd::new(0.1).update(&mut store, &grads);
}
