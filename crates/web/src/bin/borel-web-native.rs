//! The page's training run, natively: prints the first batch losses, the epoch losses and
//! the speed as JSON, to compare with what the page reports for the same config.
//!
//! `cargo run --release -p borel-web --bin borel-web-native -- [CONFIG_JSON] [EPOCHS] [STEPS]`
//! (defaults: `{"preset":"sigmoid"}`, 300 epochs, the first 100 step losses).

use std::time::Instant;

use borel_web::config::Config;
use borel_web::trainer::Trainer;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = args.first().map_or(r#"{"preset":"sigmoid"}"#, String::as_str);
    let epochs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(300);
    let steps: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100);
    let c = Config::from_json(config).unwrap_or_else(|e| fail(&e));
    let mut t = Trainer::new(&c).unwrap_or_else(|e| fail(&e));
    let started = Instant::now();
    for _ in 0..epochs {
        t.epoch().unwrap_or_else(|e| fail(&e));
    }
    let seconds = started.elapsed().as_secs_f64();
    let report = serde_json::json!({
        "stepLosses": &t.step_losses()[..steps.min(t.steps_done())],
        "losses": t.epoch_losses(),
        "steps": t.steps_done(),
        "seconds": seconds,
        "stepsPerSecond": t.steps_done() as f64 / seconds,
    });
    println!("{report}");
}

fn fail(e: &dyn std::fmt::Display) -> ! {
    eprintln!("borel-web-native: {e}");
    std::process::exit(2)
}
