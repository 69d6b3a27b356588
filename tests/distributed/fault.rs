//! A rank that fails ends the whole job promptly instead of leaving the others waiting in a
//! collective: with `BOREL_FAULT=panic` the last rank panics at step 3, with
//! `BOREL_FAULT=error` it calls `World::abort` there. `tests/distributed/run.sh` runs both
//! under `mpirun` inside a timeout and checks the exit status and the message on stderr.
//! Without `BOREL_FAULT` (or alone) it trains 20 steps on every rank and ends normally.

mod common;

use borel::data::DataLoader;
use borel::distributed::World;
use borel::prelude::*;
use common::{model_b, seed_data};

fn main() {
    let world = World::init().expect("MPI starts");
    let fault = std::env::var("BOREL_FAULT").unwrap_or_default();
    let failing = world.rank() == world.size() - 1;
    let (x, y) = seed_data::<f64>(640);
    let mut store = ParamStore::new();
    let net = model_b(&mut store, 0);
    world.sync(&mut store).expect("every rank built model B");
    let mut opt = RmsProp::keras();
    let mut loader = DataLoader::new(&x, &y, 32).shuffle(1).shard(world.rank(), world.size());
    let batches: Vec<_> = loader.epoch().collect();
    for (i, (xb, yb)) in batches.into_iter().cycle().take(20).enumerate() {
        if failing && i == 3 {
            match fault.as_str() {
                "panic" => panic!("injected panic on rank {} at step 3", world.rank()),
                "error" => world.abort(format!("injected error on rank {} at step 3", world.rank())),
                _ => {}
            }
        }
        let tape = Tape::new();
        let f = ForwardPass::train(&tape, &store);
        let mut grads = f.backward(Loss::Mse.of(net.forward(&f, tape.constant(xb)), yb));
        world.average(&mut grads);
        opt.update(&mut store, &grads);
    }
    if world.is_root() {
        println!(
            "distributed_fault: 20 steps on {} ranks, no fault injected",
            world.size()
        );
    }
}
