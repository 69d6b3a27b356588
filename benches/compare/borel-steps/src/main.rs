//! The comparison workloads written as a Borel user writes them: a `Sequential`, a tape per
//! step, `ForwardPass::backward`, `Optimizer::update`. Same data, initial weights and batch order
//! as the hand-written floor (`peer-common`), so the final SSEs match it to float rounding.
//!
//! `borel-steps small linear|sigmoid|relu | small-captured linear|sigmoid|relu | large |
//! matmul [N] | chain | chain-captured | pinn | info`; `REPS` repetitions. The `-captured`
//! variants run the same steps recorded once and replayed (`Captured`, `Plan`). Prints `RESULT` lines in the hand-written program's format (`info`: an `INFO`
//! line naming the GEMM kernels Borel chose for this CPU).

use borel::autograd::Plan;
use borel::prelude::{
    Activation, Adam, Captured, Dense, ForwardPass, Loss, Module, Optimizer, ParamStore, RmsProp, Sequential, Tape,
    Tensor,
};
use peer_common::{
    Act, EPOCHS, LARGE_BATCH, LARGE_DIMS, LARGE_STEPS, LARGE_WARMUP, MM_ITERS, MM_N, MM_WARMUP, Model, N, Rng, Timer,
    args, epoch_batches, gather, glorot, init_params, large_batch, make_data, report_large, report_small, sse,
};

fn seed_net(model: Model, store: &mut ParamStore<f32>) -> Sequential<f32> {
    let dims = model.dims();
    let mut b = Sequential::new();
    for (i, &units) in dims[1..].iter().enumerate() {
        let act = match model.act(i) {
            Act::None => Activation::Linear,
            Act::Sigmoid => Activation::Sigmoid,
            Act::Relu => Activation::Relu,
        };
        b = b.add(Dense::new(units).activation(act));
    }
    b.build_with_input(store, 0, dims[0])
}

/// Puts `(W [in, out], b)` pairs into the store, in layer order.
fn load_params(store: &mut ParamStore<f32>, params: Vec<(Vec<f32>, Vec<f32>)>) {
    let values: Vec<Tensor<f32>> = params
        .into_iter()
        .flat_map(|(w, b)| {
            let o = b.len();
            let i = w.len() / o;
            [Tensor::from_vec(w, &[i, o]), Tensor::from_vec(b, &[o])]
        })
        .collect();
    store.restore(&values);
}

fn small(model: Model, reps: usize) {
    let data = make_data(42);
    let x = Tensor::from_vec(data.x.clone(), &[N, 2]);
    for _ in 0..reps {
        let mut store = ParamStore::new();
        let net = seed_net(model, &mut store);
        load_params(&mut store, init_params(model, 7));
        let mut opt = RmsProp::keras();
        let mut rng = Rng::new(1234);
        let (mut xb, mut yb) = (Vec::new(), Vec::new());
        let mut steps = 0;
        let t = Timer::start();
        for _ in 0..EPOCHS {
            for idx in epoch_batches(&mut rng) {
                gather(&data, &idx, &mut xb, &mut yb);
                let m = idx.len();
                let tape = Tape::new();
                let fw = ForwardPass::train(&tape, &store);
                let pred = net.forward(&fw, tape.constant(Tensor::from_vec(xb.clone(), &[m, 2])));
                let loss = Loss::Mse.of(pred, tape.constant(Tensor::from_vec(yb.clone(), &[m, 1])));
                let grads = fw.backward(loss);
                opt.update(&mut store, &grads);
                steps += 1;
            }
        }
        let secs = t.secs();
        let pred = net.predict(&store, &x);
        report_small(
            "borel",
            model,
            secs,
            steps,
            sse(pred.data(), &data.y),
            "Sequential,RmsProp::keras",
        );
    }
}

/// [`small`] with the step captured: recorded on the first batch of each shape, replayed on
/// the others.
fn small_captured(model: Model, reps: usize) {
    let data = make_data(42);
    let x = Tensor::from_vec(data.x.clone(), &[N, 2]);
    for _ in 0..reps {
        let mut store = ParamStore::new();
        let net = seed_net(model, &mut store);
        load_params(&mut store, init_params(model, 7));
        let mut opt = RmsProp::keras();
        let mut rng = Rng::new(1234);
        let (mut xb, mut yb) = (Vec::new(), Vec::new());
        let mut steps = 0;
        let mut step = Captured::new(|fw, x, y| Loss::Mse.of(net.forward(fw, x), y));
        let t = Timer::start();
        for _ in 0..EPOCHS {
            for idx in epoch_batches(&mut rng) {
                gather(&data, &idx, &mut xb, &mut yb);
                let m = idx.len();
                let (xt, yt) = (
                    Tensor::from_vec(xb.clone(), &[m, 2]),
                    Tensor::from_vec(yb.clone(), &[m, 1]),
                );
                let (_, grads) = step.run(&store, &xt, &yt);
                opt.update(&mut store, &grads);
                steps += 1;
            }
        }
        let secs = t.secs();
        let pred = net.predict(&store, &x);
        report_small(
            "borel-captured",
            model,
            secs,
            steps,
            sse(pred.data(), &data.y),
            "Captured,RmsProp::keras",
        );
    }
}

fn large(reps: usize) {
    let (x, y) = large_batch(99, LARGE_BATCH);
    let x = Tensor::from_vec(x, &[LARGE_BATCH, 784]);
    let y = Tensor::from_vec(y.iter().map(|&c| c as f32).collect(), &[LARGE_BATCH]);
    let d = LARGE_DIMS;
    for _ in 0..reps {
        let mut store = ParamStore::new();
        let net = Sequential::new()
            .add(Dense::new(d[1]).activation(Activation::Relu))
            .add(Dense::new(d[2]).activation(Activation::Relu))
            .add(Dense::new(d[3]))
            .build_with_input(&mut store, 0, d[0]);
        let mut rng = Rng::new(5);
        let params = (0..3)
            .map(|l| (glorot(&mut rng, d[l], d[l + 1]), vec![0.0; d[l + 1]]))
            .collect();
        load_params(&mut store, params);
        let mut opt = RmsProp::keras();
        let mut step = || {
            let tape = Tape::new();
            let fw = ForwardPass::train(&tape, &store);
            let logits = net.forward(&fw, tape.constant(x.clone()));
            let loss = Loss::SparseCategoricalCrossEntropy.of(logits, tape.constant(y.clone()));
            let value = loss.item();
            let grads = fw.backward(loss);
            opt.update(&mut store, &grads);
            value
        };
        for _ in 0..LARGE_WARMUP {
            step();
        }
        let t = Timer::start();
        let mut l = 0.0;
        for _ in 0..LARGE_STEPS {
            l = step();
        }
        let ms = t.secs() * 1e3 / LARGE_STEPS as f64;
        report_large("borel", ms, &format!("rmsprop,ce,loss={l:.4}"));
    }
}

fn matmul(n: usize, reps: usize) {
    let mut rng = Rng::new(3);
    let a = Tensor::from_fn(&[n, n], |_| rng.uniform() as f32);
    let b = Tensor::from_fn(&[n, n], |_| rng.uniform() as f32);
    let iters = (MM_ITERS * (MM_N / n).pow(3)).clamp(MM_ITERS, 200_000);
    for _ in 0..reps {
        for _ in 0..MM_WARMUP {
            std::hint::black_box(a.matmul(&b));
        }
        let t = Timer::start();
        for _ in 0..iters {
            std::hint::black_box(a.matmul(&b));
        }
        let secs = t.secs() / iters as f64;
        let gflops = 2.0 * (n as f64).powi(3) / secs / 1e9;
        println!(
            "RESULT crate=borel bench=matmul n={n} ms={:.4} gflops={gflops:.2} note=Tensor::matmul",
            secs * 1e3
        );
    }
}

/// A chain of 10,000 recorded scalar ops (x * 1.0001, x + 0.0001, sin x), forward and backward.
fn chain(reps: usize) {
    for _ in 0..reps {
        let mut best = f64::INFINITY;
        for _ in 0..20 {
            let tape = Tape::<f32>::new();
            let t = Timer::start();
            let x0 = tape.var(Tensor::scalar(0.5));
            let mut x = x0;
            for i in 0..10_000 {
                x = match i % 3 {
                    0 => x * 1.0001,
                    1 => x + 0.0001,
                    _ => x.sin(),
                };
            }
            std::hint::black_box(x.backward());
            best = best.min(t.secs());
        }
        println!(
            "RESULT crate=borel bench=chain ns_per_op={:.1} note=best_of_20",
            best * 1e9 / 10_000.0
        );
    }
}

/// [`chain`] captured once and replayed: forward kernels and the reverse sweep, no records.
fn chain_captured(reps: usize) {
    let mut store = ParamStore::<f32>::new();
    let x0 = store.add("x", Tensor::scalar(0.5), true);
    let mut plan = Plan::capture(&store, &[], |_, p, _| {
        let mut x = p[x0];
        for i in 0..10_000 {
            x = match i % 3 {
                0 => x * 1.0001,
                1 => x + 0.0001,
                _ => x.sin(),
            };
        }
        Ok(x)
    })
    .expect("the chain captures");
    for _ in 0..reps {
        let mut best = f64::INFINITY;
        for _ in 0..20 {
            let t = Timer::start();
            std::hint::black_box(plan.replay(&store, &[]));
            best = best.min(t.secs());
        }
        println!(
            "RESULT crate=borel-captured bench=chain ns_per_op={:.1} note=best_of_20",
            best * 1e9 / 10_000.0
        );
    }
}

/// Collocation points of the PINN step, and its Adam steps timed (after a warm-up).
const PINN_POINTS: usize = 64;
const PINN_WARMUP: usize = 50;
const PINN_STEPS: usize = 500;

/// One training step of examples/01_pinn (in f32, as the other workloads): a 1-32-32-1 tanh
/// MLP u(x), u'' from two nested `grad` calls with create_graph at 64 points in [0, pi], loss
/// mean((u'' + sin x)^2) + mean(u(0)^2, u(pi)^2), Adam (lr 1e-3).
fn pinn(reps: usize) {
    let pi = std::f64::consts::PI;
    let x = Tensor::<f32>::linspace(0.0, pi, PINN_POINTS).reshape(&[PINN_POINTS, 1]);
    let ends = Tensor::<f32>::linspace(0.0, pi, 2).reshape(&[2, 1]);
    for _ in 0..reps {
        let mut store = ParamStore::new();
        let net = Sequential::new()
            .add(Dense::new(32).activation(Activation::Tanh))
            .add(Dense::new(32).activation(Activation::Tanh))
            .add(Dense::new(1))
            .build_with_input(&mut store, 0, 1);
        let mut rng = Rng::new(11);
        let dims = [1, 32, 32, 1];
        let params = (0..3)
            .map(|l| (glorot(&mut rng, dims[l], dims[l + 1]), vec![0.0; dims[l + 1]]))
            .collect();
        load_params(&mut store, params);
        let mut opt = Adam::new(1e-3);
        let mut step = || {
            let tape = Tape::new();
            let fw = ForwardPass::train(&tape, &store);
            let xv = tape.var(x.clone());
            let u = net.forward(&fw, xv);
            let ux = tape.grad(u.sum(), &[xv], true)[0];
            let uxx = tape.grad(ux.sum(), &[xv], true)[0];
            let r = (uxx + xv.sin()).square().mean();
            let ub = net.forward(&fw, tape.constant(ends.clone())).square();
            let loss = r + ub.mean();
            let value = loss.item();
            let grads = fw.backward(loss);
            opt.update(&mut store, &grads);
            value
        };
        for _ in 0..PINN_WARMUP {
            step();
        }
        let t = Timer::start();
        let mut l = 0.0;
        for _ in 0..PINN_STEPS {
            l = step();
        }
        let us = t.secs() * 1e6 / PINN_STEPS as f64;
        println!("RESULT crate=borel bench=pinn us_per_step={us:.1} note=adam,loss={l:.4e}");
    }
}

fn main() {
    let a = args();
    let reps: usize = std::env::var("REPS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    match a.first().map(String::as_str) {
        Some("small") => small(Model::parse(&a[1]), reps),
        Some("large") => large(reps),
        Some("matmul") => matmul(a.get(1).and_then(|s| s.parse().ok()).unwrap_or(MM_N), reps),
        Some("small-captured") => small_captured(Model::parse(&a[1]), reps),
        Some("chain") => chain(reps),
        Some("chain-captured") => chain_captured(reps),
        Some("pinn") => pinn(reps),
        Some("info") => println!("INFO borel_gemm={}", borel::autograd::gemm_kernel()),
        _ => {
            for m in [Model::Linear, Model::Sigmoid, Model::Relu] {
                small(m, reps);
                small_captured(m, reps);
            }
            large(reps);
            matmul(MM_N, reps);
            chain(reps);
            chain_captured(reps);
            pinn(reps);
        }
    }
}
