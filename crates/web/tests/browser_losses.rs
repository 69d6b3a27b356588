//! The page and the native build train the same: the first 100 batch losses of the sigmoid
//! preset, captured from the page in headless Chromium by `web/test.sh`
//! (`data/browser_sigmoid_first_100.json`), against the same run natively.

use borel_web::config::Config;
use borel_web::trainer::Trainer;

#[test]
fn native_first_100_losses_match_the_browser() {
    let browser: Vec<f64> = serde_json::from_str(include_str!("data/browser_sigmoid_first_100.json")).unwrap();
    assert_eq!(browser.len(), 100);
    let mut t = Trainer::new(&Config::preset("sigmoid").unwrap()).unwrap();
    let native: Vec<f64> = (0..100).map(|_| t.step().unwrap()).collect();
    // wasm32 has no fused multiply-add; x86's GEMM kernels may use one, so the last bit of
    // some f32 losses may differ. Anything else (data, init, shuffling, optimizer) would
    // show as differences of whole percents.
    for (i, (b, n)) in browser.iter().zip(&native).enumerate() {
        assert!((b - n).abs() <= 1e-6 * n.abs(), "step {i}: browser {b}, native {n}");
    }
}
