//! Every kernel set the CPU can run against an f64 reference.

use super::*;

/// `C = A B + beta C0` in f64 from f32 operands, row-major, with the sum of the
/// magnitudes of each element's terms.
fn reference(
    a: &Strided<'_, f32>,
    b: &Strided<'_, f32>,
    (m, k, n): (usize, usize, usize),
    c0: &[f32],
    beta: f32,
) -> Vec<(f64, f64)> {
    let mut c = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            let terms = (0..k).map(|p| a.data[i * a.rs + p * a.cs] as f64 * b.data[p * b.rs + j * b.cs] as f64);
            let last = beta as f64 * c0[i * n + j] as f64;
            let value = terms.clone().sum::<f64>() + last;
            let magnitude = terms.map(f64::abs).sum::<f64>() + last.abs();
            c.push((value, magnitude));
        }
    }
    c
}

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.5 - 1.0)
        .collect()
}

/// Every kernel set this CPU can run gives the f64 reference's products to f32 rounding
/// (each element within `(k + 2) eps` times the sum of the magnitudes of its terms), on odd
/// shapes, transposed operands and accumulation onto `C`, above and below the
/// multithreading sizes.
#[test]
fn every_kernel_matches_an_f64_reference() {
    let shapes = [
        (1, 1, 1),
        (1, 7, 1),
        (1, 64, 1),
        (64, 20, 1),
        (64, 1, 20),
        (1, 13, 17),
        (17, 13, 1),
        (64, 2, 100),
        (7, 11, 13),
        (31, 37, 41),
        (97, 101, 103),
        (131, 127, 137),
        // 2^24 multiply-adds and more: rayon's threads on every kernel set.
        (257, 256, 257),
    ];
    let runnable = Kernel::runnable();
    assert!(runnable.contains(&chosen()), "the chosen kernels run here");
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma") {
        assert!(runnable.contains(&Kernel::Avx512) && runnable.contains(&Kernel::Avx2));
    }
    let mut checked = 0;
    for kernel in runnable {
        for &(m, k, n) in &shapes {
            for (ta, tb, beta) in [
                (false, false, 0.0),
                (true, false, 1.0),
                (false, true, 1.0),
                (true, true, 0.5),
            ] {
                check(kernel, (m, k, n), ta, tb, beta);
                checked += 1;
            }
        }
    }
    assert!(
        checked >= shapes.len() * 4,
        "every shape ran on at least one kernel set"
    );
}

fn check(kernel: Kernel, (m, k, n): (usize, usize, usize), ta: bool, tb: bool, beta: f32) {
    let (da, db, c0) = (values(m * k, 1), values(k * n, 2), values(m * n, 3));
    let a = Strided {
        data: &da,
        rs: if ta { 1 } else { k },
        cs: if ta { m } else { 1 },
    };
    let b = Strided {
        data: &db,
        rs: if tb { 1 } else { n },
        cs: if tb { k } else { 1 },
    };
    let want = reference(&a, &b, (m, k, n), &c0, beta);
    let mut out = Buf::with_capacity(m * n);
    out.extend_from_slice(&c0);
    gemm_with(kernel, "test", (m, k, n), a, b, beta, &mut out, 0);
    assert_eq!(out.len(), m * n);
    for (i, (&got, &(want, magnitude))) in out.iter().zip(&want).enumerate() {
        // Rounding of the f32 sum of k + 1 terms, and of the result.
        let bound = (k + 2) as f64 * f32::EPSILON as f64 * magnitude;
        assert!(
            (got as f64 - want).abs() <= bound,
            "{} kernels, {m}x{k}x{n} (ta {ta}, tb {tb}, beta {beta}): element {i} is {got}, want {want}",
            kernel.name()
        );
    }
}
