//! Data-parallel throughput: the MLP 784-1024-1024-10 (relu, cross-entropy, RMSprop), batch
//! 256 per rank, the user's loop with `World::average` before each update. Rank 0 prints
//! samples per second over all ranks and the share of the step spent averaging gradients.
//! Run by `benches/compare/run_mpi.sh` under mpirun (threads per rank: RAYON_NUM_THREADS).

use std::time::Instant;

use borel::prelude::*;

const BATCH: usize = 256;
const DIMS: [usize; 4] = [784, 1024, 1024, 10];
const WARMUP: usize = 3;
const STEPS: usize = 20;

fn main() {
    let world = World::init().expect("MPI starts");
    let rng = &mut StdRng::seed_from_u64(1 + world.rank() as u64);
    let x = Tensor::<f32>::rand_uniform(&[BATCH, DIMS[0]], 0.0, 1.0, rng);
    let y = Tensor::<f32>::from_fn(&[BATCH], |i| ((i * 7 + world.rank()) % DIMS[3]) as f32);
    let mut store = ParamStore::new();
    let net = Sequential::new()
        .add(Dense::new(DIMS[1]).activation(Activation::Relu))
        .add(Dense::new(DIMS[2]).activation(Activation::Relu))
        .add(Dense::new(DIMS[3]))
        .build_with_input(&mut store, 0, DIMS[0]);
    world.sync(&mut store).expect("same model everywhere");
    let mut opt = RmsProp::keras();
    let mut averaging = 0.0;
    let mut step = |averaging: &mut f64| {
        let tape = Tape::new();
        let fw = ForwardPass::train(&tape, &store);
        let logits = net.forward(&fw, tape.constant(x.clone()));
        let mut grads = fw.backward(Loss::SparseCategoricalCrossEntropy.of(logits, tape.constant(y.clone())));
        let t = Instant::now();
        world.average(&mut grads);
        *averaging += t.elapsed().as_secs_f64();
        opt.update(&mut store, &grads);
    };
    for _ in 0..WARMUP {
        step(&mut averaging);
    }
    world.barrier();
    averaging = 0.0;
    let t = Instant::now();
    for _ in 0..STEPS {
        step(&mut averaging);
    }
    let secs = t.elapsed().as_secs_f64();
    let mut share = [averaging / secs];
    world.sum(&mut share);
    if world.is_root() {
        let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
        println!(
            "RESULT crate=borel ranks={} threads={threads} ms_per_step={:.2} samples_per_s={:.0} allreduce_share={:.3}",
            world.size(),
            secs * 1e3 / STEPS as f64,
            (world.size() * BATCH * STEPS) as f64 / secs,
            share[0] / world.size() as f64
        );
    }
}
