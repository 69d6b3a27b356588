//! `Model::fit` with `FitOptions::distributed`: the same run as one process (and bit for bit
//! the hand-written data-parallel loop), only rank 0 writes checkpoints, and a resumed run
//! continues exactly.

use borel::autograd::Float;
use borel::callbacks::Checkpoint;
use borel::distributed::World;
use borel::prelude::*;

use crate::common::{assert_close, model_b, seed_data};
use crate::{BATCH, EPOCHS, Run, SAMPLES, SEED, assert_same_run, data_parallel, one_process, report};

/// Model B compiled as the seed compiles it; built with another seed on every rank but 0,
/// which `fit` must replace with rank 0's weights.
fn model<F: Float>(world: &World) -> Model<F, Sequential<F>> {
    let mut store = ParamStore::new();
    let net = model_b(&mut store, if world.is_root() { 0 } else { 200 + world.rank() as u64 });
    let mut m = Model::new(net, store);
    m.compile(Loss::Mse, RmsProp::keras());
    m
}

fn options<F: Float>(world: &World, epochs: usize) -> FitOptions<F> {
    FitOptions::new()
        .epochs(epochs)
        .batch_size(BATCH)
        .seed(SEED)
        .distributed(world)
}

/// Each epoch's mean loss over the padded global order, from one process's step losses.
fn epoch_means(steps: &[f64], ranks: usize) -> Vec<f64> {
    let total = SAMPLES.div_ceil(ranks) * ranks;
    let rows: Vec<usize> = (0..total)
        .step_by(BATCH * ranks)
        .map(|s| (total - s).min(BATCH * ranks))
        .collect();
    let weighted = |e: &[f64]| e.iter().zip(&rows).map(|(l, &r)| l * r as f64).sum::<f64>() / total as f64;
    steps.chunks(rows.len()).map(weighted).collect()
}

/// `fit` on every rank against one process with the global batch (per epoch and in the
/// weights), and against the data-parallel hand-written loop (bit for bit).
pub fn fit_matches_one_process<F: Float>(world: &World, tol: f64) {
    let (x, y) = seed_data::<F>(SAMPLES);
    let mut m = model::<F>(world);
    let history = m.fit(&x, &y, options(world, EPOCHS)).expect("fit");
    let want = one_process(&x, &y, world.size());
    let what = format!("fit, {}", F::NAME);
    let means = epoch_means(&want.losses, world.size());
    assert_eq!(history.loss().len(), EPOCHS);
    let mut worst_loss = 0.0f64;
    for (e, (got, want)) in history.loss().iter().zip(&means).enumerate() {
        worst_loss = worst_loss.max(assert_close(
            &format!("{what}: loss of epoch {}", e + 1),
            *got,
            *want,
            tol,
        ));
    }
    let by_fit = Run {
        losses: want.losses.clone(),
        store: m.store().clone(),
    };
    let (_, worst_weight) = assert_same_run(world, &what, &by_fit, &want, tol);
    report(world, &what, "an epoch's", (worst_loss, worst_weight), tol);
    let by_loop = data_parallel(world, &x, &y);
    assert!(
        m.store().snapshot() == by_loop.store.snapshot(),
        "{what}: fit and the hand-written data-parallel loop differ"
    );
    resume_continues_exactly::<F>(world);
}

/// Two epochs with a resumable checkpoint (written by rank 0 only), then a resumed fit to
/// three, equal bit for bit to three epochs at once.
fn resume_continues_exactly<F: Float>(world: &World) {
    let (x, y) = seed_data::<F>(SAMPLES);
    let dir = std::env::temp_dir().join(format!("borel-distributed-{}-{}", F::NAME, world.size()));
    if world.is_root() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
    }
    world.barrier();
    let mine = dir.join(format!("rank{}.ckpt", world.rank()));
    let checkpoint = || Checkpoint::every(&mine, 1).resumable();
    let mut whole = model::<F>(world);
    let full = whole.fit(&x, &y, options(world, 3)).unwrap();
    let mut first = model::<F>(world);
    first.fit(&x, &y, options(world, 2).callback(checkpoint())).unwrap();
    world.barrier();
    assert_eq!(
        mine.exists(),
        world.is_root(),
        "rank {}: only rank 0 writes checkpoints",
        world.rank()
    );
    let mut resumed = model::<F>(world);
    let opts = options(world, 3)
        .callback(checkpoint())
        .resume_from(dir.join("rank0.ckpt"));
    let rest = resumed.fit(&x, &y, opts).unwrap();
    assert_eq!(rest.loss(), full.loss(), "{}: resumed history", F::NAME);
    assert!(
        resumed.store().snapshot() == whole.store().snapshot(),
        "{}: resumed weights",
        F::NAME
    );
    world.barrier();
    if world.is_root() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
