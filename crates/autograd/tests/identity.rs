//! Gradients and parameters know exactly what they belong to: a `GradStore` its tape's
//! recording, a `ParamId` its store (and the clones of it made while the parameter existed).
//! A mismatch panics at the caller's line naming both, instead of answering for another value.

use borel_autograd::{ParamGrads, ParamStore, Tape, Tensor};

#[path = "common/panic_site.rs"]
mod panic_site;
use panic_site::panic_site;

/// The numbers written after `marker` in `msg`, in order.
fn numbers_after(msg: &str, marker: &str) -> Vec<u64> {
    msg.split(marker)
        .skip(1)
        .map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits
                .parse()
                .unwrap_or_else(|_| panic!("no number after {marker:?} in {msg:?}"))
        })
        .collect()
}

#[test]
fn a_gradient_store_refuses_the_vars_of_a_new_tape_after_its_own_is_dropped() {
    // A new tape often takes the dropped one's place in memory, and its node ids restart at 0.
    for _ in 0..20 {
        let grads = {
            let old = Tape::<f64>::new();
            let a = old.var(Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3]));
            (a * a).sum().backward()
        };
        let tape = Tape::<f64>::new();
        let b = tape.var(Tensor::zeros(&[2, 2]));
        let (msg, file, line) = panic_site(|| {
            let _ = grads.get(b);
        });
        assert!(file.ends_with("tests/identity.rs"), "{file}: {msg}");
        assert_eq!(line, line!() - 3, "{msg}");
        let recordings = numbers_after(&msg, "recording #");
        assert!(
            msg.starts_with("GradStore: var #0 belongs to tape recording #"),
            "{msg}"
        );
        assert!(recordings.len() == 2 && recordings[0] != recordings[1], "{msg}");
    }
}

#[test]
fn two_live_tapes_have_different_recordings() {
    let (t1, t2) = (Tape::<f32>::new(), Tape::<f32>::new());
    let a = t1.var(Tensor::scalar(2.0));
    let b = t2.var(Tensor::scalar(3.0));
    let mut grads = (a * a).backward();
    let (msg, _, _) = panic_site(|| {
        let _ = grads.take(b);
    });
    assert!(msg.contains("(another tape, or this one before Tape::reset)"), "{msg}");
    assert_eq!(grads.take(a).map(|g| g.item()), Some(4.0));
}

/// Two clones of one store, each with a parameter of its own added after the copy.
fn diverged() -> (ParamStore<f64>, ParamStore<f64>, [borel_autograd::ParamId; 3]) {
    let mut a = ParamStore::<f64>::new();
    let shared = a.add("shared", Tensor::ones(&[2]), true);
    let mut b = a.clone();
    let only_a = a.add("only_a", Tensor::zeros(&[3, 3]), true);
    let only_b = b.add("only_b", Tensor::zeros(&[5]), true);
    (a, b, [shared, only_a, only_b])
}

#[test]
fn a_param_id_resolves_in_clones_only_for_the_parameters_they_share() {
    let (a, b, [shared, only_a, only_b]) = diverged();
    assert_eq!(a.get(shared).shape(), &[2]);
    assert_eq!(b.get(shared).shape(), &[2]);
    assert!(b.contains(shared) && !b.contains(only_a) && !a.contains(only_b));
    assert_eq!(only_a.index(), only_b.index());
    assert_ne!(only_a, only_b);
    let (msg, file, line) = panic_site(|| {
        let _ = b.get(only_a);
    });
    assert!(file.ends_with("tests/identity.rs"), "{file}: {msg}");
    assert_eq!(line, line!() - 3, "{msg}");
    assert!(msg.starts_with("ParamStore of ParamStore #"), "{msg}");
    let stores = numbers_after(&msg, "ParamStore #");
    assert!(msg.contains("parameter #1 of ParamStore #"), "{msg}");
    assert!(stores.len() == 2 && stores[0] != stores[1], "{msg}");
    // The other way round names the same two stores, swapped.
    let (back, _, _) = panic_site(|| {
        let _ = a.name(only_b);
    });
    assert_eq!(
        numbers_after(&back, "ParamStore #"),
        vec![stores[1], stores[0]],
        "{back}"
    );
}

#[test]
fn vars_and_gradients_of_one_store_refuse_the_ids_of_another() {
    let (a, mut b, [shared, only_a, only_b]) = diverged();
    let tape = Tape::<f64>::new();
    let vars = b.vars(&tape);
    let (msg, _, _) = panic_site(|| {
        let _ = &vars[only_a];
    });
    assert!(msg.starts_with("ParamVars of ParamStore #"), "{msg}");
    let grads = vars.backward((vars[shared] * vars[only_b].sum()).sum());
    // An update of store `a` with `b`'s gradients: an error, not a silent no-op.
    let (msg, _, _) = panic_site(|| {
        let _ = grads.get(only_a);
    });
    assert!(msg.starts_with("ParamGrads of ParamStore #"), "{msg}");
    assert_eq!(grads[shared].data(), &[0.0, 0.0]);
    let (msg, _, _) = panic_site(|| ParamGrads::new(&a).insert(only_b, Tensor::zeros(&[5])));
    assert!(msg.starts_with("ParamGrads::insert of ParamStore #"), "{msg}");
    *b.get_mut(shared) = Tensor::full(&[2], 7.0);
    assert_eq!(a.get(shared).data(), &[1.0, 1.0], "a clone's values are its own");
}

#[test]
fn ids_of_a_store_list_its_own_parameters() {
    let (a, b, [shared, only_a, only_b]) = diverged();
    assert_eq!(a.ids().collect::<Vec<_>>(), vec![shared, only_a]);
    assert_eq!(b.ids().collect::<Vec<_>>(), vec![shared, only_b]);
    assert_eq!(b.find("only_b"), Some(only_b));
    let mut b = b;
    let trainable: Vec<_> = b.trainable_mut().map(|(id, _)| id).collect();
    assert_eq!(trainable, vec![shared, only_b]);
}
