use super::*;
use crate::config::OptKind;
use borel::data::GlobalStandardizer;
use borel::prelude::{FitOptions, Model};
use borel_optim::RmsProp;

fn small(preset: &str, samples: usize) -> Config {
    Config {
        samples,
        ..Config::preset(preset).unwrap()
    }
}

/// The page must show what the library computes: the same data, network, optimizer and
/// shuffling as `Model::fit` give bit-identical epoch losses.
#[test]
fn steps_reproduce_model_fit_exactly() {
    for preset in ["sigmoid", "relu"] {
        let c = small(preset, 300);
        let mut t = Trainer::new(&c).unwrap();
        for _ in 0..4 {
            t.epoch().unwrap();
        }
        let s = sample(&Target::Seed, 300, 0.0).unwrap();
        let raw = Tensor::<f32>::from_fn(&[300, 2], |i| s.x[i] as f32);
        let x = GlobalStandardizer::fit(&raw).transform(&raw);
        let y = Tensor::<f32>::from_fn(&[300, 1], |i| s.y[i] as f32);
        let mut store = ParamStore::new();
        let net = network(&c, &mut store);
        let mut model = Model::new(net, store);
        model.compile(Loss::Mse, RmsProp::keras());
        let h = model
            .fit(&x, &y, FitOptions::new().epochs(4).batch_size(64).seed(0))
            .unwrap();
        assert_eq!(t.epoch_losses(), h.loss(), "{preset}");
    }
}

#[test]
fn a_squashing_network_beats_the_linear_bound_a_linear_one_cannot() {
    let mut sig = Trainer::new(&small("sigmoid", 1000)).unwrap();
    let mut lin = Trainer::new(&small("linear", 1000)).unwrap();
    let bound = sig.linear_bound();
    assert!((35.0..50.0).contains(&bound), "{bound}");
    // The page's check, natively: 250 epochs take the sigmoid net below half the bound.
    for _ in 0..250 {
        sig.epoch().unwrap();
    }
    for _ in 0..100 {
        lin.epoch().unwrap();
    }
    let (s, l) = (sig.epoch_losses()[249], lin.epoch_losses()[99]);
    assert!(s < bound / 2.0, "sigmoid {s} vs bound {bound}");
    assert!(l > bound * 0.999, "linear {l} vs bound {bound}");
    assert_eq!((sig.steps_done(), sig.step_losses().len()), (250 * 16, 250 * 16));
}

#[test]
fn same_config_same_losses_other_seed_other_losses() {
    let run = |seed: u64| {
        let mut t = Trainer::new(&Config {
            seed,
            ..small("sigmoid", 200)
        })
        .unwrap();
        (0..30).map(|_| t.step().unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(run(0), run(0));
    assert_ne!(run(0), run(1));
}

#[test]
fn grids_cover_the_view_and_kernels_have_the_layer_shapes() {
    let t = Trainer::new(&small("sigmoid", 100)).unwrap();
    let pts = t.grid_points(4);
    assert_eq!(
        (pts[0], pts[3], pts[15]),
        ((-3.75, 1.875), (3.75, 1.875), (3.75, -1.875))
    );
    let tg = t.target_grid(4);
    assert_eq!(tg[5], Target::Seed.eval(pts[5].0, pts[5].1));
    let shapes: Vec<(usize, usize)> = t.kernels().iter().map(|k| (k.0, k.1)).collect();
    assert_eq!(shapes, [(2, 20), (20, 20), (20, 1)]);
    assert_eq!(t.num_params(), 60 + 420 + 21);
    // The grid goes through the same standardization as the samples: a sample point's
    // prediction equals the network's prediction on that sample's standardized row.
    let (mean, std) = t.scale;
    let g = t.predict_grid(4);
    let row = Tensor::from_fn(&[1, 2], |i| {
        let v = if i == 0 { pts[6].0 } else { pts[6].1 };
        ((v - mean) / std) as f32
    });
    assert_eq!(g[6], t.net.predict(&t.store, &row).data()[0]);
}

#[test]
fn an_exact_plane_has_no_linear_gap_and_divergence_is_reported() {
    let plane = Trainer::new(&Config {
        target: "1 + 2 x1 - x2".into(),
        ..small("linear", 300)
    })
    .unwrap();
    assert!(plane.linear_bound() < 1e-8, "{}", plane.linear_bound());
    let mut c = small("sigmoid", 100);
    c.optimizer = OptKind::Sgd;
    c.lr = 1e30;
    let mut t = Trainer::new(&c).unwrap();
    let err = (0..50).find_map(|_| t.step().err()).expect("diverges");
    assert!(matches!(err, TrainError::Diverged { epoch: 1..=50, .. }), "{err}");
    let bad = Trainer::new(&Config {
        target: "x1 +".into(),
        ..small("linear", 10)
    });
    assert_eq!(
        bad.err().unwrap().to_string(),
        "column 5: expected a number, x1, x2, pi, e, a function or '(', found end of input"
    );
}
