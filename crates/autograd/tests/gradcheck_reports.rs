//! gradcheck catches deliberately wrong backwards and names the input and element.

use std::sync::Arc;

use borel_autograd::{CustomFn, CustomOp, GradcheckOptions, GradcheckReport, Tensor, gradcheck, gradgradcheck};

/// `y = x^2` with a backward that applies `wrong` to the correct gradient `2 x g`.
fn square_with(wrong: fn(usize, f64) -> f64) -> Arc<dyn CustomOp<f64>> {
    CustomFn::new(
        "square",
        |x| x[0].map(|v| v * v),
        move |x, _y, g| {
            vec![Tensor::from_fn(x[0].shape(), |i| {
                wrong(i, 2.0 * x[0].data()[i] * g.data()[i])
            })]
        },
    )
}

fn check_square(wrong: fn(usize, f64) -> f64, opts: &GradcheckOptions) -> GradcheckReport {
    let op = square_with(wrong);
    let x = Tensor::from_vec(vec![0.5, -1.0, 3.0, 0.25], &[2, 2]);
    // Weighted sum so every element's gradient differs.
    let w = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]);
    gradcheck(
        move |v| (v[0].tape().custom(op.clone(), &[v[0]]) * v[0].tape().constant(w.clone())).sum(),
        &[x],
        opts,
    )
}

#[test]
fn correct_backward_passes() {
    let r = check_square(|_, g| g, &GradcheckOptions::default());
    assert!(r.passed, "{r}");
    assert!(check_square(|_, g| g, &GradcheckOptions::fast()).passed);
}

#[test]
fn wrong_sign_is_caught_at_the_largest_element() {
    let r = check_square(|_, g| -g, &GradcheckOptions::default());
    assert!(!r.passed);
    let i = &r.inputs[0];
    assert_eq!(i.element.as_deref(), Some(&[1, 0][..]), "{r}");
    assert_eq!(i.analytic, -18.0);
    assert!((i.numeric - 18.0).abs() < 1e-6);
    let text = r.to_string();
    assert!(
        text.contains("gradcheck: FAILED") && text.contains("WRONG") && text.contains("input element [1, 0]"),
        "{text}"
    );
}

#[test]
fn wrong_scale_is_caught() {
    let r = check_square(|_, g| g * 1.01, &GradcheckOptions::default());
    assert!(!r.passed, "{r}");
    assert!((r.inputs[0].max_rel_err - 0.01 / 1.01).abs() < 1e-6, "{r}");
}

#[test]
fn wrong_single_element_is_named() {
    let r = check_square(|i, g| if i == 3 { g + 0.5 } else { g }, &GradcheckOptions::default());
    assert!(!r.passed);
    assert_eq!(r.inputs[0].element.as_deref(), Some(&[1, 1][..]), "{r}");
    assert!((r.inputs[0].max_abs_err - 0.5).abs() < 1e-6);
}

#[test]
fn missing_broadcast_reduction_is_caught_on_the_broadcast_input() {
    // a [2, 3] + b [3]; the bad backward hands b the first row of g instead of summing rows.
    let add = CustomFn::<f64>::new(
        "bias_add",
        |x| Tensor::from_fn(x[0].shape(), |i| x[0].data()[i] + x[1].data()[i % 3]),
        |_x, _y, g| vec![g.clone(), Tensor::from_fn(&[3], |j| g.data()[j])],
    );
    let a = Tensor::from_vec(vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6], &[2, 3]);
    let b = Tensor::from_vec(vec![1.0, -1.0, 0.5], &[3]);
    for opts in [GradcheckOptions::default(), GradcheckOptions::fast()] {
        let r = gradcheck(
            |v| v[0].tape().custom(add.clone(), &[v[0], v[1]]).sin().sum(),
            &[a.clone(), b.clone()],
            &opts,
        );
        assert!(!r.passed, "{r}");
        assert!(r.inputs[0].passed && !r.inputs[1].passed, "{r}");
        if !opts.fast {
            assert_eq!(r.inputs[1].output_element.as_deref(), Some(&[][..]));
        }
    }
}

#[test]
fn fast_mode_catches_every_wrong_backward() {
    let fast = GradcheckOptions::fast();
    for wrong in [
        |_, g: f64| -g,
        |_, g: f64| g * 1.01,
        |i, g: f64| if i == 3 { g + 0.5 } else { g },
    ] {
        let r = check_square(wrong, &fast);
        assert!(!r.passed, "{r}");
        assert!(r.inputs[0].projection.is_some() && r.inputs[0].element.is_none());
    }
}

#[test]
fn gradgradcheck_refuses_custom_backwards_loudly() {
    let op = square_with(|_, g| g);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        gradgradcheck(
            |v| v[0].tape().custom(op.clone(), &[v[0]]).sum(),
            &[Tensor::<f64>::ones(&[2])],
            &GradcheckOptions::default(),
        )
    }));
    let err = r.expect_err("second order through a tensor backward must not pass silently");
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(msg.contains("custom op 'square'"), "{msg}");
}

#[test]
fn f32_inputs_are_promoted_to_f64() {
    let x = Tensor::from_vec(vec![0.5f32, 1.5], &[2]);
    let r = gradcheck(|v| v[0].exp().sum(), &[x], &GradcheckOptions::default());
    assert!(r.passed && r.inputs[0].max_abs_err < 1e-8, "{r}");
}

#[test]
fn a_non_finite_value_is_reported_with_its_cause_not_a_zero_error() {
    // sqrt at 0: the derivative is infinite, and the finite difference steps below 0 (NaN).
    let x = Tensor::from_vec(vec![1.0, 0.0], &[2]);
    for opts in [GradcheckOptions::default(), GradcheckOptions::fast()] {
        let r = gradcheck(|v| v[0].sqrt().sum(), std::slice::from_ref(&x), &opts);
        assert!(!r.passed, "{r}");
        let i = &r.inputs[0];
        assert!(i.analytic.is_infinite() && i.numeric.is_nan(), "{r}");
        assert_eq!((i.max_abs_err, i.max_rel_err), (f64::INFINITY, f64::INFINITY), "{r}");
        let text = r.to_string();
        assert!(
            text.contains("max abs err inf") && text.contains("numeric NaN"),
            "{text}"
        );
        assert!(text.contains("(neither value is finite: "), "{text}");
        if !opts.fast {
            assert_eq!(i.element.as_deref(), Some(&[1][..]), "{r}");
            assert!(
                text.contains("non-finite at input element [1], output element []"),
                "{text}"
            );
        }
    }
}

#[test]
fn a_non_finite_numeric_value_names_the_finite_differences() {
    // The backward claims 1 where the function jumps to infinity beyond 0.
    let step = CustomFn::<f64>::new(
        "step",
        |x| x[0].map(|v| if v > 0.0 { f64::INFINITY } else { v }),
        |_x, _y, g| vec![g.clone()],
    );
    let x = Tensor::from_vec(vec![-1.0, 0.0], &[2]);
    let r = gradcheck(
        move |v| v[0].tape().custom(step.clone(), &[v[0]]).sum(),
        &[x],
        &GradcheckOptions::default(),
    );
    let text = r.to_string();
    assert!(!r.passed && r.inputs[0].element.as_deref() == Some(&[1][..]), "{text}");
    assert!(
        text.contains("(finite differences are not finite where the tape's derivative is"),
        "{text}"
    );
}
