//! Training checkpoints and `FitOptions::resume_from`: a run stopped at any epoch, or killed
//! with SIGKILL at any moment, resumes from its last checkpoint and ends bit for bit as the
//! uninterrupted run (weights, history, the other checkpoint files); a checkpoint that does
//! not fit the model or the run is refused, naming what differs, and changes nothing.

use std::path::{Path, PathBuf};

use borel::nn::Layout;
use borel::optim::schedule::{ReduceOnPlateau, StepLr};
use borel::prelude::*;
use borel::{ResumeError, nn::FileError};

/// Epochs of the shared run.
const EPOCHS: usize = 24;

/// The environment variable naming the directory of a training child (see `resume_child`).
const CHILD_DIR: &str = "BOREL_RESUME_CHILD_DIR";

fn data() -> (Tensor<f32>, Tensor<f32>) {
    let x = Tensor::from_fn(&[480, 2], |i| ((i * 37 % 101) as f32 / 50.0) - 1.0);
    let y = Tensor::from_fn(&[480, 1], |i| (3.0 * x.data()[2 * i]).sin() * x.data()[2 * i + 1]);
    (x, y)
}

fn model(hidden: usize) -> Model<f32, Sequential<f32>> {
    let mut store = ParamStore::new();
    let net = Sequential::new()
        .add(Dense::new(hidden).activation(Activation::Tanh).input_dim(2))
        .add(Dropout::new(0.1))
        .add(Dense::new(1))
        .build(&mut store, 1);
    let mut m = Model::new(net, store);
    m.compile(Loss::Mse, Adam::new(0.02));
    m
}

/// Everything that carries state across epochs: shuffling, dropout, a validation split, a
/// schedule, reduce-on-plateau, early stopping with its best weights, a best-only weights
/// checkpoint, and the training checkpoint itself (`run.ckpt`, every epoch).
fn options(dir: &Path, epochs: usize) -> FitOptions<f32> {
    let plateau = ReduceOnPlateau::new(0.5, 2).min_delta(1e-3);
    FitOptions::new()
        .epochs(epochs)
        .batch_size(16)
        .validation_split(0.25)
        .seed(3)
        .schedule(StepLr::new(5, 0.7))
        .reduce_on_plateau(plateau)
        // the training loss wobbles: the best epoch (22) is not the last, so the weights
        // restored at the end come from early stopping's state
        .callback(EarlyStopping::new(Monitor::Loss, 3).restore_best_weights())
        .callback(Checkpoint::best_only(dir.join("best.safetensors"), Monitor::ValLoss))
        .callback(Checkpoint::every(dir.join("run.ckpt"), 1).resumable())
}

/// The history with every bit of every number, `seconds` aside (wall time differs between
/// any two runs).
fn bits(h: &History) -> Vec<String> {
    let b = |v: Option<f64>| v.map(f64::to_bits);
    let mut lines: Vec<String> = h
        .epochs
        .iter()
        .map(|e| {
            format!(
                "{} {:x} {:?} {:?} {:?}",
                e.epoch,
                e.loss.to_bits(),
                b(e.accuracy),
                b(e.val_loss),
                b(e.val_accuracy)
            )
        })
        .collect();
    lines.push(format!("stopped_early {}", h.stopped_early));
    lines
}

/// What a run leaves: its history's bits, its final weights and the best-only checkpoint, as
/// bytes.
#[derive(Debug, PartialEq)]
struct Outcome {
    history: Vec<String>,
    weights: Vec<u8>,
    best: Vec<u8>,
}

/// One run in `dir`, resumed from `dir/run.ckpt` when it exists.
fn run_in(dir: &Path, epochs: usize) -> Outcome {
    let (x, y) = data();
    let mut m = model(32);
    let mut opts = options(dir, epochs);
    if dir.join("run.ckpt").exists() {
        opts = opts.resume_from(dir.join("run.ckpt"));
    }
    let history = m.fit(&x, &y, opts).unwrap();
    Outcome {
        history: bits(&history),
        weights: m.store().to_safetensors(Layout::Borel),
        best: std::fs::read(dir.join("best.safetensors")).unwrap(),
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join(format!("borel-resume-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_run_stopped_at_any_epoch_resumes_bit_identical() {
    let reference = run_in(&scratch("whole"), EPOCHS);
    assert!(reference.history.len() > 10, "{:?}", reference.history);
    for stop in [1, 2, 5, 9, 13, 17, 21, 23] {
        let dir = scratch(&format!("stop-{stop}"));
        run_in(&dir, stop);
        let resumed = run_in(&dir, EPOCHS);
        assert_eq!(resumed, reference, "resumed after epoch {stop}");
    }
}

#[test]
fn a_run_that_stopped_early_resumes_to_the_same_end() {
    // patience 1 and a rate cut on every plateau: early stopping ends the run before EPOCHS
    let early = |dir: &Path| {
        let mut opts = FitOptions::new()
            .epochs(60)
            .batch_size(16)
            .seed(5)
            .validation_split(0.25);
        opts = opts
            .callback(EarlyStopping::new(Monitor::ValLoss, 1).restore_best_weights())
            .callback(Checkpoint::every(dir.join("run.ckpt"), 1).resumable());
        if dir.join("run.ckpt").exists() {
            opts = opts.resume_from(dir.join("run.ckpt"));
        }
        let (x, y) = data();
        let mut m = model(32);
        let h = m.fit(&x, &y, opts).unwrap();
        (bits(&h), m.store().to_safetensors(Layout::Borel), h.epochs.len())
    };
    let whole = early(&scratch("early-whole"));
    assert!(
        whole.2 < 60 && whole.0.last().unwrap() == "stopped_early true",
        "{:?}",
        whole.0
    );
    // resumed from the checkpoint of the stopping epoch: nothing left to train, and the best
    // weights early stopping kept come back from the file
    let dir = scratch("early-again");
    early(&dir);
    assert_eq!(early(&dir), whole);
}

/// Fits `m` from the checkpoint `path` and returns the error; checks that the weights, the
/// optimizer's state and its rate are as before.
fn refused(m: &mut Model<f32, Sequential<f32>>, opts: FitOptions<f32>, path: &Path) -> FitError {
    let (x, y) = data();
    let (weights, state, lr) = (
        m.store().snapshot(),
        m.optimizer().unwrap().state().clone(),
        m.optimizer().unwrap().learning_rate(),
    );
    let err = m.fit(&x, &y, opts.resume_from(path)).unwrap_err();
    assert_eq!(
        m.store().snapshot(),
        weights,
        "weights changed by a refused resume: {err}"
    );
    assert_eq!(m.optimizer().unwrap().state(), &state, "{err}");
    assert_eq!(m.optimizer().unwrap().learning_rate(), lr, "{err}");
    err
}

#[test]
fn a_checkpoint_that_does_not_fit_is_refused_and_changes_nothing() {
    let dir = scratch("mismatch");
    let ckpt = dir.join("run.ckpt");
    let (x, y) = data();
    model(32).fit(&x, &y, options(&dir, 3)).unwrap();
    // a model with state of its own, so that "unchanged" means something
    let trained = |hidden| {
        let mut m = model(hidden);
        m.fit(&x, &y, FitOptions::new().epochs(1).batch_size(16)).unwrap();
        m
    };
    refuses_other_shapes(&dir, &ckpt, &trained);
    refuses_other_optimizers(&dir, &ckpt, &trained, &x, &y);
    refuses_other_run_settings(&dir, &ckpt, &trained);
    refuses_files_that_are_no_checkpoint(&dir, &ckpt, &trained);
    // and the file itself fits: the same model resumes from it
    model(32).fit(&x, &y, options(&dir, 6).resume_from(&ckpt)).unwrap();
}

/// Weights of another shape: the file error names the tensor and both shapes.
fn refuses_other_shapes(dir: &Path, ckpt: &Path, trained: &dyn Fn(usize) -> Model<f32, Sequential<f32>>) {
    let err = refused(&mut trained(8), options(dir, 6), ckpt);
    let FitError::Resume(ResumeError::Weights(FileError::Shape {
        name, expected, found, ..
    })) = &err
    else {
        panic!("{err}")
    };
    assert_eq!(
        (name.as_str(), expected.as_slice(), found.as_slice()),
        ("0.kernel", &[2, 8][..], &[2, 32][..])
    );
    assert!(
        err.to_string()
            .contains("tensor '0.kernel' has shape [2, 32], the model expects [2, 8]"),
        "{err}"
    );
}

/// Another optimizer type, or the same type with other settings.
fn refuses_other_optimizers(
    dir: &Path,
    ckpt: &Path,
    trained: &dyn Fn(usize) -> Model<f32, Sequential<f32>>,
    x: &Tensor<f32>,
    y: &Tensor<f32>,
) {
    let mut sgd = trained(32);
    sgd.compile(Loss::Mse, Sgd::new(0.1).momentum(0.9));
    let err = refused(&mut sgd, options(dir, 6), ckpt);
    assert!(
        matches!(&err, FitError::Resume(ResumeError::Optimizer { checkpoint, model, .. }) if checkpoint == "Adam" && model == "Sgd"),
        "{err}"
    );
    assert!(
        err.to_string()
            .ends_with("the checkpoint's optimizer is Adam, the model is compiled with Sgd"),
        "{err}"
    );

    // the same optimizer type with other settings: the optimizer itself refuses the state,
    // the last check before anything is applied
    let momentum_dir = scratch("mismatch-momentum");
    let mut with_momentum = model(32);
    with_momentum.compile(Loss::Mse, Sgd::new(0.01).momentum(0.9));
    with_momentum.fit(x, y, options(&momentum_dir, 2)).unwrap();
    let mut plain = trained(32);
    plain.compile(Loss::Mse, Sgd::new(0.01));
    let err = refused(&mut plain, options(dir, 6), &momentum_dir.join("run.ckpt"));
    assert!(
        matches!(err, FitError::Resume(ResumeError::OptimizerState { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("has 1 buffers, Sgd keeps 0"), "{err}");
}

/// Another batch size, validation split or set of callbacks.
fn refuses_other_run_settings(dir: &Path, ckpt: &Path, trained: &dyn Fn(usize) -> Model<f32, Sequential<f32>>) {
    let err = refused(&mut trained(32), options(dir, 6).batch_size(32), ckpt);
    assert!(
        err.to_string()
            .ends_with("the checkpoint's run has batch_size 16, this fit has 32"),
        "{err}"
    );
    let err = refused(&mut trained(32), options(dir, 6).validation_split(0.5), ckpt);
    assert!(
        err.to_string().ends_with("has training_samples 360, this fit has 240"),
        "{err}"
    );

    let no_early_stopping = FitOptions::new()
        .epochs(6)
        .batch_size(16)
        .validation_split(0.25)
        .seed(3);
    let no_early_stopping = no_early_stopping
        .schedule(StepLr::new(5, 0.7))
        .reduce_on_plateau(ReduceOnPlateau::new(0.5, 2))
        .callback(Checkpoint::every(ckpt, 1).resumable());
    let err = refused(&mut trained(32), no_early_stopping, ckpt);
    assert!(matches!(err, FitError::Resume(ResumeError::Callbacks { .. })), "{err}");
    assert!(
        err.to_string().contains(
            r#"holds the state of ["EarlyStopping", "Checkpoint", "Checkpoint"], this fit has ["Checkpoint"]"#
        ),
        "{err}"
    );
}

/// A weights-only file, a missing one, a torn one.
fn refuses_files_that_are_no_checkpoint(
    dir: &Path,
    ckpt: &Path,
    trained: &dyn Fn(usize) -> Model<f32, Sequential<f32>>,
) {
    let err = refused(&mut trained(32), options(dir, 6), &dir.join("best.safetensors"));
    assert!(
        matches!(err, FitError::Resume(ResumeError::NotACheckpoint { .. })),
        "{err}"
    );
    let err = refused(&mut trained(32), options(dir, 6), &dir.join("absent.ckpt"));
    assert!(
        matches!(err, FitError::Resume(ResumeError::File(FileError::Io { .. }))),
        "{err}"
    );
    let bytes = std::fs::read(ckpt).unwrap();
    std::fs::write(dir.join("torn.ckpt"), &bytes[..bytes.len() - 9]).unwrap();
    let err = refused(&mut trained(32), options(dir, 6), &dir.join("torn.ckpt"));
    assert!(
        matches!(err, FitError::Resume(ResumeError::File(FileError::Format { .. }))),
        "{err}"
    );
}

#[test]
fn a_checkpoint_of_another_dtype_is_refused() {
    let dir = scratch("dtype");
    let (x, y) = data();
    model(32).fit(&x, &y, options(&dir, 2)).unwrap();
    let mut store = ParamStore::<f64>::new();
    let net = Sequential::new().add(Dense::new(1).input_dim(2)).build(&mut store, 0);
    let mut m = Model::new(net, store);
    m.compile(Loss::Mse, Adam::new(0.02));
    let (x, y) = (Tensor::<f64>::ones(&[8, 2]), Tensor::<f64>::zeros(&[8, 1]));
    let err = m
        .fit(&x, &y, FitOptions::new().resume_from(dir.join("run.ckpt")))
        .unwrap_err();
    assert!(
        matches!(err, FitError::Resume(ResumeError::File(FileError::Dtype { .. }))),
        "{err}"
    );
}

/// The child of `a_run_killed_20_times_resumes_bit_identical`: one run in the directory named
/// by `BOREL_RESUME_CHILD_DIR` (resumed when it holds a checkpoint), its outcome written to
/// `outcome.txt` there. Run by hand (`--include-ignored`) it trains once in a scratch folder.
#[test]
#[ignore = "the training child of a_run_killed_20_times_resumes_bit_identical"]
fn resume_child() {
    let dir = std::env::var_os(CHILD_DIR).map_or_else(|| scratch("child"), PathBuf::from);
    let outcome = run_in(&dir, EPOCHS);
    assert!(!outcome.history.is_empty());
    let text = format!(
        "{}\n{:?}\n{:?}\n",
        outcome.history.join("\n"),
        outcome.weights,
        outcome.best
    );
    std::fs::write(dir.join("outcome.txt"), text).unwrap();
}

#[cfg(unix)]
mod killed {
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use super::*;

    fn spawn_child(dir: &Path) -> Child {
        Command::new(std::env::current_exe().unwrap())
            .args(["resume_child", "--exact", "--include-ignored", "--test-threads=1"])
            .env(CHILD_DIR, dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Runs a child in `dir` to its end (resuming from the checkpoint there) and returns its
    /// outcome.
    fn finish(dir: &Path) -> String {
        let status = spawn_child(dir).wait().unwrap();
        assert!(status.success(), "the resumed child failed: {status}");
        std::fs::read_to_string(dir.join("outcome.txt")).unwrap()
    }

    /// The epoch of the checkpoint in `dir`, if there is one.
    fn checkpoint_epoch(dir: &Path) -> Option<usize> {
        let file = borel::autograd::io::read_tensors::<f32>(&dir.join("run.ckpt")).ok()?;
        file.meta("epoch")?.parse().ok()
    }

    /// Starts a child in `dir` and kills it with SIGKILL at a random moment: once its
    /// checkpoint has reached a random epoch (0: at once), after a random part of an epoch's
    /// time, so kills land in start-up, mid-epoch and mid-save. Returns the epoch of the last
    /// checkpoint when the child was killed, or `Err` with it when the child had finished.
    fn kill_at_random_moment(dir: &Path, rng: &mut StdRng, epoch_time: Duration) -> Result<usize, usize> {
        let target = rng.random_range(0..EPOCHS - 1);
        let delay = epoch_time.mul_f64(rng.random_range(0.0..1.0));
        let mut child = spawn_child(dir);
        while checkpoint_epoch(dir).unwrap_or(0) < target && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(delay);
        child.kill().unwrap();
        let killed = child.wait().unwrap().signal() == Some(9);
        let epoch = checkpoint_epoch(dir).unwrap_or(0);
        if killed { Ok(epoch) } else { Err(epoch) }
    }

    #[test]
    fn a_run_killed_20_times_resumes_bit_identical() {
        let started = Instant::now();
        let reference = finish(&scratch("killed-reference"));
        let epoch_time = started.elapsed() / EPOCHS as u32;
        let mut rng = StdRng::seed_from_u64(22);
        let (mut kills, mut attempts) = (Vec::new(), 0);
        while kills.len() < 20 && attempts < 40 {
            let dir = scratch(&format!("killed-{attempts}"));
            attempts += 1;
            let killed = kill_at_random_moment(&dir, &mut rng, epoch_time);
            let torn = std::fs::read_dir(&dir).unwrap().flatten();
            let temp_files = torn
                .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
                .count();
            if let Ok(epoch) = killed {
                kills.push((epoch, temp_files));
            }
            assert_eq!(finish(&dir), reference, "attempt {attempts}: {killed:?}");
            let _ = std::fs::remove_dir_all(&dir);
        }
        println!(
            "{} kills in {attempts} attempts, (checkpoint epoch, temp files left): {kills:?}",
            kills.len()
        );
        assert_eq!(kills.len(), 20, "the children finished before their kill: {kills:?}");
    }
}
