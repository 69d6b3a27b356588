//! The seed post's C program fits sin(x) with a 1-4-1 sigmoid network and a backward pass
//! derived by hand. Here the same network is just its forward code; the hand-derived
//! gradients are checked against the tape, and the tape against finite differences.
//!
//! cargo run --release --example gradcheck_sin_network

use borel::autograd::{GradcheckOptions, Tape, Tensor, Var, gradcheck};

/// Forward of the 1-4-1 network on a batch `x` of shape [n, 1]: mean squared error to sin(x).
fn loss<'t>(x: Var<'t, f64>, p: &[Var<'t, f64>]) -> Var<'t, f64> {
    let h = (x.matmul(p[0]) + p[1]).sigmoid(); // [n, 4]
    let y = h.matmul(p[2]) + p[3]; // [n, 1]
    (y - x.sin()).square().mean()
}

/// The backward pass as the C program derives it, written out with loops.
fn hand_derived(x: &[f64], w1: &[f64], b1: &[f64], w2: &[f64], b2: f64) -> Vec<Vec<f64>> {
    let n = x.len() as f64;
    let (mut g_w1, mut g_b1, mut g_w2, mut g_b2) = (vec![0.0; 4], vec![0.0; 4], vec![0.0; 4], 0.0);
    for &xi in x {
        let h: Vec<f64> = (0..4).map(|j| 1.0 / (1.0 + (-(xi * w1[j] + b1[j])).exp())).collect();
        let y: f64 = (0..4).map(|j| h[j] * w2[j]).sum::<f64>() + b2;
        let dy = 2.0 * (y - xi.sin()) / n; // d mse / d y
        g_b2 += dy;
        for j in 0..4 {
            g_w2[j] += dy * h[j];
            let dz = dy * w2[j] * h[j] * (1.0 - h[j]); // through the sigmoid
            g_w1[j] += dz * xi;
            g_b1[j] += dz;
        }
    }
    vec![g_w1, g_b1, g_w2, vec![g_b2]]
}

fn main() {
    let xs: Vec<f64> = (0..16).map(|i| -std::f64::consts::PI + i as f64 * 0.4).collect();
    let params = [
        Tensor::from_vec(vec![0.8, -1.1, 0.5, 1.7], &[1, 4]),
        Tensor::from_vec(vec![0.1, 0.3, -0.2, -0.5], &[4]),
        Tensor::from_vec(vec![1.2, -0.7, 0.4, 0.9], &[4, 1]),
        Tensor::from_vec(vec![0.05], &[1]),
    ];
    let x = Tensor::from_vec(xs.clone(), &[xs.len(), 1]);

    let tape = Tape::<f64>::new();
    let p: Vec<_> = params.iter().map(|t| tape.var(t.clone())).collect();
    let grads = loss(tape.constant(x.clone()), &p).backward();
    let by_hand = hand_derived(
        &xs,
        params[0].data(),
        params[1].data(),
        params[2].data(),
        params[3].data()[0],
    );
    println!("parameter   largest |tape - hand-derived|");
    let mut worst: f64 = 0.0;
    for (name, (v, hand)) in ["w1", "b1", "w2", "b2"].iter().zip(p.iter().zip(&by_hand)) {
        let d = grads[*v]
            .data()
            .iter()
            .zip(hand)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        worst = worst.max(d);
        println!("{name:<11} {d:.3e}");
    }
    assert!(worst < 1e-12, "the hand-derived backward disagrees with the tape");

    println!("\nThe tape against finite differences:");
    let xc = x.clone();
    let report = gradcheck(
        move |v| {
            let xv = v[0].tape().constant(xc.clone());
            loss(xv, v)
        },
        &params,
        &GradcheckOptions::default(),
    );
    print!("{report}");
    report.assert();
}
