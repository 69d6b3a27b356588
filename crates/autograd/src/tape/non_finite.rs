//! NaN tracing on the tape: the checks of a node's value (forward) and of the gradients its
//! rule produces (backward), and where their first report goes.

use std::panic::Location;

use crate::anomaly::{NonFiniteOp, Pass, non_finite_kind};
use crate::float::Float;
use crate::ops::Op;
use crate::tape::Tape;
use crate::tensor::Tensor;

impl<F: Float> Tape<F> {
    /// With NaN tracing on ([`crate::set_debug_nans`] or `BOREL_DEBUG_NANS=1`), keep the
    /// first non-finite report for [`Tape::take_non_finite`] instead of panicking.
    pub fn keep_first_non_finite(&self) {
        self.keep_non_finite.set(true);
    }

    /// The first op that made a NaN or an infinity since the last call (or reset), when
    /// tracing is on and [`Tape::keep_first_non_finite`] was asked for.
    pub fn take_non_finite(&self) -> Option<NonFiniteOp> {
        self.non_finite.borrow_mut().take()
    }

    /// Panics with `report`, or keeps it when asked to (the first one only).
    #[track_caller]
    pub(crate) fn report_non_finite(&self, report: NonFiniteOp) {
        if !self.keep_non_finite.get() {
            panic!("BOREL_DEBUG_NANS: {report}");
        }
        let mut kept = self.non_finite.borrow_mut();
        if kept.is_none() {
            *kept = Some(report);
        }
    }
    /// NaN tracing, forward: a non-finite value computed from finite inputs is reported.
    #[cold]
    #[track_caller]
    pub(super) fn check_forward(
        &self,
        op: &Op<F>,
        inputs: &[u32],
        value: &Tensor<F>,
        site: Option<&'static Location<'static>>,
    ) {
        let Some(kind) = non_finite_kind(value) else { return };
        let report = {
            let nodes = self.nodes.borrow();
            if inputs.iter().any(|&i| !nodes.value(i as usize).all_finite()) {
                return;
            }
            NonFiniteOp {
                op: op.name().into_owned(),
                pass: Pass::Forward,
                input_shapes: inputs
                    .iter()
                    .map(|&i| nodes.value(i as usize).shape().to_vec())
                    .collect(),
                value: kind,
                site,
            }
        };
        self.report_non_finite(report);
    }

    /// NaN tracing, backward: node `i`'s rule turned the finite gradient `g` into the
    /// non-finite gradient `gk` of one of its inputs.
    #[cold]
    pub(crate) fn check_backward(&self, i: usize, g: &Tensor<F>, gk: &Tensor<F>) {
        let Some(kind) = non_finite_kind(gk) else { return };
        if !g.all_finite() {
            return;
        }
        let report = {
            let nodes = self.nodes.borrow();
            let node = nodes.node(i);
            NonFiniteOp {
                op: node.op.name().into_owned(),
                pass: Pass::Backward,
                input_shapes: nodes
                    .inputs(node)
                    .iter()
                    .map(|&j| nodes.value(j as usize).shape().to_vec())
                    .collect(),
                value: kind,
                site: nodes.site(i),
            }
        };
        self.report_non_finite(report);
    }
}
