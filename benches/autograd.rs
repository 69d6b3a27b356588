//! Criterion benchmarks of the autograd core. Figures to compare against, measured on the
//! same kind of machine, are listed in the README's performance table; `benches/reference.py`
//! measures NumPy/OpenBLAS in the same run.
//!
//! cargo bench --bench autograd
//! cargo bench --bench autograd -- forward_mode

use std::hint::black_box;
use std::time::Duration;

use borel::autograd::{DenseAct, Tape, Tensor, Var, func, hessian, hvp, jacfwd, jacobian, jvp, set_parallel_threshold};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;

fn matmul(c: &mut Criterion) {
    let mut g = c.benchmark_group("matmul_f32");
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    for n in [64usize, 256, 1024] {
        let a = Tensor::<f32>::rand_normal(&[n, n], 0.0, 1.0, &mut rng);
        let b = Tensor::<f32>::rand_normal(&[n, n], 0.0, 1.0, &mut rng);
        // Elements per second here are floating-point operations per second (2 n^3 each).
        g.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |bench, _| {
            let mut tape = Tape::new();
            bench.iter(|| {
                let y = tape.constant(a.clone()).matmul(tape.constant(b.clone())).value();
                black_box(y);
                tape.reset();
            })
        });
    }
    g.finish();
}

/// One training step's forward and backward of the seed's linear model (2-100-50-50-10-1)
/// at batch 64, written with raw ops.
fn seed_linear_step(c: &mut Criterion) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let sizes = [2usize, 100, 50, 50, 10, 1];
    let params: Vec<Tensor<f32>> = sizes
        .windows(2)
        .flat_map(|w| {
            [
                Tensor::rand_normal(&[w[0], w[1]], 0.0, 0.1, &mut rng),
                Tensor::zeros(&[w[1]]),
            ]
        })
        .collect();
    let x = Tensor::<f32>::rand_normal(&[64, 2], 0.0, 1.0, &mut rng);
    let y = Tensor::<f32>::rand_normal(&[64, 1], 0.0, 1.0, &mut rng);
    c.bench_function("seed_linear_step_b64", |bench| {
        let mut tape = Tape::new();
        bench.iter(|| {
            {
                let p: Vec<_> = params.iter().map(|t| tape.var(t.clone())).collect();
                let mut h = tape.constant(x.clone());
                for l in 0..5 {
                    h = h.matmul(p[2 * l]) + p[2 * l + 1];
                }
                let loss = (h - tape.constant(y.clone())).square().mean();
                black_box(loss.backward());
            }
            tape.reset();
        })
    });
}

/// Tape overhead: a chain of 10,000 scalar ops, recorded and differentiated.
fn tiny_op_chain(c: &mut Criterion) {
    let mut g = c.benchmark_group("tiny_ops");
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("chain_10000_scalar_ops_fwd_bwd", |bench| {
        let mut tape = Tape::<f32>::new();
        bench.iter(|| {
            {
                let x = tape.var(Tensor::scalar(0.5));
                let mut y = x;
                for i in 0..10_000 {
                    y = if i % 2 == 0 { y * x } else { y + x };
                }
                black_box(y.backward());
            }
            tape.reset();
        })
    });
    g.finish();
}

/// Where splitting elementwise work over threads starts to pay: `exp` serial vs parallel.
fn elementwise(c: &mut Criterion) {
    let mut g = c.benchmark_group("elementwise_exp");
    for log2 in [12u32, 14, 16, 18, 20] {
        let n = 1usize << log2;
        let x = Tensor::<f32>::linspace(-1.0, 1.0, n);
        g.throughput(Throughput::Elements(n as u64));
        for (mode, threshold) in [("serial", usize::MAX), ("parallel", 0)] {
            g.bench_with_input(BenchmarkId::new(mode, n), &n, |bench, _| {
                set_parallel_threshold(threshold);
                let tape = Tape::new();
                let xv = tape.constant(x.clone());
                bench.iter(|| black_box(xv.value().map(f32::exp)));
            });
        }
    }
    set_parallel_threshold(borel::autograd::PAR_THRESHOLD);
    g.finish();
}

/// Reductions in f32: all elements, along the contiguous last axis, down the rows (the bias
/// gradient of a batch), and max; the sizes of a large activation and of a small layer.
fn reductions(c: &mut Criterion) {
    let mut g = c.benchmark_group("reduce_f32");
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let big = Tensor::<f32>::rand_normal(&[1024, 1024], 0.0, 1.0, &mut rng);
    let small = Tensor::<f32>::rand_normal(&[64, 100], 0.0, 1.0, &mut rng);
    g.throughput(Throughput::Elements(big.numel() as u64));
    g.bench_function("sum_all_1m", |b| b.iter(|| black_box(big.sum())));
    g.bench_function("mean_all_1m", |b| b.iter(|| black_box(big.mean())));
    g.bench_function("sum_last_axis_1024x1024", |b| {
        b.iter(|| black_box(big.sum_axes(&[-1], false)))
    });
    g.bench_function("sum_first_axis_1024x1024", |b| {
        b.iter(|| black_box(big.sum_axes(&[0], false)))
    });
    g.bench_function("max_all_1m", |b| b.iter(|| black_box(big.max())));
    g.throughput(Throughput::Elements(small.numel() as u64));
    g.bench_function("sum_first_axis_64x100", |b| {
        b.iter(|| black_box(small.sum_axes(&[0], false)))
    });
    g.finish();
}

/// Weights and biases of an MLP of the given widths (tanh between layers, linear last).
fn mlp_params(sizes: &[usize], seed: u64) -> Vec<(Tensor<f32>, Tensor<f32>)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    sizes
        .windows(2)
        .map(|w| {
            let scale = 1.0 / (w[0] as f64).sqrt();
            (
                Tensor::rand_normal(&[w[0], w[1]], 0.0, scale, &mut rng),
                Tensor::rand_normal(&[w[1]], 0.0, 0.1, &mut rng),
            )
        })
        .collect()
}

/// The MLP of `params` on `x`: fused dense nodes, or matmul + bias + tanh.
fn mlp<'t>(params: &[(Tensor<f32>, Tensor<f32>)], x: Var<'t, f32>, fused: bool) -> Var<'t, f32> {
    let tape = x.tape();
    let last = params.len() - 1;
    params.iter().enumerate().fold(x, |h, (l, (w, b))| {
        let (w, b) = (tape.constant(w.clone()), tape.constant(b.clone()));
        match (fused, l == last) {
            (true, true) => h.dense(w, Some(b), DenseAct::Linear),
            (true, false) => h.dense(w, Some(b), DenseAct::Tanh),
            (false, true) => h.matmul(w) + b,
            (false, false) => (h.matmul(w) + b).tanh(),
        }
    })
}

/// Forward mode (issue #24): `jvp` of an MLP (784-256-256-10 at batch 64) against its forward
/// pass alone; `jacfwd` against `jacobian` (reverse) for 2 inputs and 1,000 outputs; Hessian
/// and Hessian-vector product of a small MLP, forward over reverse against reverse over
/// reverse (which `hessian` uses; `hvp` uses forward over reverse).
fn forward_mode(c: &mut Criterion) {
    let mut g = c.benchmark_group("forward_mode");
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let params = mlp_params(&[784, 256, 256, 10], 3);
    let x = Tensor::<f32>::rand_normal(&[64, 784], 0.0, 1.0, &mut rng);
    let u = Tensor::<f32>::rand_normal(&[64, 784], 0.0, 1.0, &mut rng);
    for (fused, name) in [(true, "fused"), (false, "unfused")] {
        g.bench_function(format!("mlp_forward_{name}"), |bench| {
            bench.iter(|| {
                let tape = Tape::new();
                black_box(mlp(&params, tape.var(x.clone()), fused).value())
            })
        });
        g.bench_function(format!("mlp_jvp_{name}"), |bench| {
            bench.iter(|| black_box(jvp(|v| mlp(&params, v, fused), &x, &u)))
        });
    }
    let wide = mlp_params(&[2, 64, 1000], 4);
    let x2 = Tensor::<f32>::from_vec(vec![0.3, -0.8], &[1, 2]);
    let f = func(|v| mlp(&wide, v, true));
    g.bench_function("jacfwd_2_64_1000", |bench| bench.iter(|| black_box(jacfwd(f, &x2))));
    g.bench_function("jacobian_2_64_1000", |bench| bench.iter(|| black_box(jacobian(f, &x2))));
    let small = mlp_params(&[16, 32, 1], 5);
    let x16 = Tensor::<f32>::rand_normal(&[1, 16], 0.0, 1.0, &mut rng);
    let loss = func(|v| mlp(&small, v, true).tanh().sum());
    g.bench_function("hessian_16_32_1_rev_over_rev", |bench| {
        bench.iter(|| black_box(hessian(loss, &x16)))
    });
    g.bench_function("hessian_16_32_1_fwd_over_rev", |bench| {
        bench.iter(|| black_box(forward_hessian(&small, &x16)))
    });
    let v16 = Tensor::<f32>::rand_normal(&[1, 16], 0.0, 1.0, &mut rng);
    g.bench_function("hvp_16_32_1_fwd_over_rev", |bench| {
        bench.iter(|| black_box(hvp(loss, &x16, &v16)))
    });
    g.bench_function("hvp_16_32_1_rev_over_rev", |bench| {
        bench.iter(|| {
            let tape = Tape::new();
            let xv = tape.var(x16.clone());
            let gr = tape.grad(mlp(&small, xv, true).tanh().sum(), &[xv], true)[0];
            black_box(tape.grad((gr * tape.constant(v16.clone())).sum(), &[xv], false)[0].value())
        })
    });
    g.finish();
}

/// The Hessian of `tanh(mlp(x)).sum()` by forward over reverse: one tangent sweep over the
/// recorded gradient per input element (`hessian` itself is reverse over reverse, measured
/// the cheaper of the two here).
fn forward_hessian(params: &[(Tensor<f32>, Tensor<f32>)], x: &Tensor<f32>) -> Vec<f32> {
    let tape = Tape::new();
    let xv = tape.var(x.clone());
    let g = tape.grad(mlp(params, xv, true).tanh().sum(), &[xv], true)[0];
    let n = x.shape().iter().product::<usize>();
    let mut out = vec![0.0; n * n];
    for j in 0..n {
        let unit = Tensor::from_fn(x.shape(), |i| if i == j { 1.0 } else { 0.0 });
        for (i, &v) in tape.jvp(&[g], &[xv], &[unit], false)[0]
            .value()
            .data()
            .iter()
            .enumerate()
        {
            out[i * n + j] = v;
        }
    }
    out
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(20);
    targets = matmul, seed_linear_step, tiny_op_chain, elementwise, reductions, forward_mode
}
criterion_main!(benches);
