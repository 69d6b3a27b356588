//! Data-parallel training over MPI: every rank runs this same program on the same data;
//! `fit` gives every rank rank 0's weights, trains each on its share of every epoch and
//! averages the gradients, so the ranks train together as one process with a batch of
//! `ranks x 32`. Rank 0 prints and writes the checkpoint; run it again and it resumes.
//!
//! cargo build --release --features mpi --example distributed_fit
//! mpirun -np 2 target/release/examples/distributed_fit [checkpoint path]
use borel::callbacks::Checkpoint;
use borel::prelude::*;
use std::f32::consts::PI;

type T = Tensor<f32>;

/// The seed's surface at 4000 points, x standardized.
fn data() -> (T, T) {
    let v = |a: &[f32]| T::from_vec(a.to_vec(), &[a.len()]);
    let r = &mut StdRng::seed_from_u64(0);
    let x = T::rand_normal(&[4000, 2], 0., 1., r) * v(&[2., 1.]);
    let c = (&x * v(&[3. * PI, 4. * PI])).cos();
    let y = x.square() * v(&[1., 2.]) - c * v(&[0.2, 0.4]);
    (GlobalStandardizer::fit(&x).transform(&x), y.sum_axes(&[-1], true))
}

fn train(world: &World, path: &str) -> Result<History, FitError> {
    let (x, y) = data();
    let mut store = ParamStore::new();
    let d = || Dense::new(20).activation(Activation::Sigmoid);
    let net = Sequential::new()
        .add(d().input_dim(2))
        .add(d())
        .add(Dense::new(1))
        .build(&mut store, 0);
    let mut model = Model::new(net, store);
    // Horovod's advice: the global batch grows with the ranks, so does the learning rate.
    model.compile(Loss::Mse, RmsProp::keras().lr(0.001 * world.size() as f64));
    let mut opts = FitOptions::new()
        .epochs(20)
        .batch_size(32)
        .verbose(2)
        .callback(Checkpoint::every(path, 5).resumable())
        .distributed(world);
    // Rank 0's answer for all: every rank resumes, or none does.
    if world.broadcast_flag(std::path::Path::new(path).exists()) {
        opts = opts.resume_from(path);
    }
    model.fit(&x, &y, opts)
}

fn main() {
    let world = World::init().expect("MPI starts once");
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/distributed_fit.ckpt".into());
    match train(&world, &path) {
        Ok(h) if world.is_root() => {
            println!(
                "{} ranks: loss {:.4} after {} epochs",
                world.size(),
                h.loss().last().unwrap(),
                h.epochs.len()
            );
        }
        Ok(_) => {}
        Err(e) => world.abort(e),
    }
}
