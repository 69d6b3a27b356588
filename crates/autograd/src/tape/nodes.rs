//! How a tape stores its nodes: small records (op, input ids, whether a gradient flows) in one
//! vector and the values in another, so that recording an op moves few bytes. Input lists
//! longer than two and the call sites NaN tracing reports live out of line, paid for only by
//! the nodes that have them.

use std::panic::Location;

use crate::float::Float;
use crate::ops::Op;
use crate::tape::pool::{give_spare, take_spare};
use crate::tensor::Tensor;

/// A node's input ids: up to [`INLINE`] held here, more in the tape's spill list (then `ids[0]`
/// is where they start there).
#[derive(Clone, Copy)]
pub(crate) struct InputIds {
    ids: [u32; INLINE],
    len: u32,
}

/// Input ids held in the node itself.
const INLINE: usize = 2;

/// One recorded node, without its value: what the reverse sweep reads for every node.
pub(crate) struct Node<F> {
    pub(crate) op: Op<F>,
    pub(crate) inputs: InputIds,
    pub(crate) requires_grad: bool,
}

/// The nodes of a tape: records, values, long input lists and call sites, indexed by node id.
pub(crate) struct Nodes<F> {
    nodes: Vec<Node<F>>,
    values: Vec<Tensor<F>>,
    spill: Vec<u32>,
    /// `(node id, call site)` of the nodes recorded while NaN tracing was on, ascending.
    sites: Vec<(u32, &'static Location<'static>)>,
}

impl<F: Float> Nodes<F> {
    /// Empty, on the spare vectors of an earlier tape of this thread when there are some.
    pub(crate) fn new() -> Self {
        let mut nodes: Vec<Node<F>> = take_spare();
        let mut values: Vec<Tensor<F>> = take_spare();
        nodes.reserve(64);
        values.reserve(64);
        Nodes {
            nodes,
            values,
            spill: Vec::new(),
            sites: Vec::new(),
        }
    }

    /// Number of nodes.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Forgets every node, keeping the allocations.
    pub(crate) fn clear(&mut self) {
        self.nodes.clear();
        self.values.clear();
        self.spill.clear();
        self.sites.clear();
    }

    /// Hands the vectors to this thread's spare pool.
    pub(crate) fn give_back(&mut self) {
        give_spare(std::mem::take(&mut self.nodes));
        give_spare(std::mem::take(&mut self.values));
    }

    /// Appends a node; returns its id.
    #[inline]
    pub(crate) fn push(
        &mut self,
        op: Op<F>,
        inputs: &[u32],
        value: Tensor<F>,
        requires_grad: bool,
        site: Option<&'static Location<'static>>,
    ) -> u32 {
        let id = u32::try_from(self.nodes.len()).expect("a tape holds at most 2^32 nodes");
        // By pattern, not `copy_from_slice`: a call to memcpy for two ids, and the read of
        // what it wrote, cost a third of recording a scalar op.
        let ids = match *inputs {
            [] => [0; INLINE],
            [a] => [a, 0],
            [a, b] => [a, b],
            _ => {
                let at = u32::try_from(self.spill.len()).expect("a tape holds at most 2^32 input ids");
                self.spill.extend_from_slice(inputs);
                [at, 0]
            }
        };
        let inputs = InputIds {
            ids,
            len: inputs.len() as u32,
        };
        self.nodes.push(Node {
            op,
            inputs,
            requires_grad,
        });
        self.values.push(value);
        if let Some(site) = site {
            self.sites.push((id, site));
        }
        id
    }

    /// Replaces node `i`'s value (a leaf's, when a plan is replayed on new data).
    #[inline]
    pub(crate) fn set_value(&mut self, i: usize, value: Tensor<F>) {
        self.values[i] = value;
    }

    /// Recomputes non-leaf node `i` from its inputs' current values with its op's forward
    /// kernel: what recording it computed, without the record.
    #[track_caller]
    #[inline]
    pub(crate) fn recompute(&mut self, i: usize) {
        let node = &self.nodes[i];
        let ids = self.inputs(node);
        let value = if ids.len() <= 3 {
            let mut values: [&Tensor<F>; 3] = [&self.values[0]; 3];
            for (k, &j) in ids.iter().enumerate() {
                values[k] = &self.values[j as usize];
            }
            node.op.forward(&values[..ids.len()])
        } else {
            let values: Vec<&Tensor<F>> = ids.iter().map(|&j| &self.values[j as usize]).collect();
            node.op.forward(&values)
        };
        self.values[i] = value;
    }

    /// Node `i`'s record.
    #[inline]
    pub(crate) fn node(&self, i: usize) -> &Node<F> {
        &self.nodes[i]
    }

    /// Node `i`'s value.
    #[inline]
    pub(crate) fn value(&self, i: usize) -> &Tensor<F> {
        &self.values[i]
    }

    /// Whether gradients flow back through node `i`.
    #[inline]
    pub(crate) fn requires_grad(&self, i: usize) -> bool {
        self.nodes[i].requires_grad
    }

    /// Whether node `i` has no inputs (a leaf, or a value nothing flows back through).
    #[inline]
    pub(crate) fn is_leaf(&self, i: usize) -> bool {
        self.nodes[i].inputs.len == 0
    }

    /// The input ids of a node.
    #[inline]
    pub(crate) fn inputs<'a>(&'a self, node: &'a Node<F>) -> &'a [u32] {
        let InputIds { ids, len } = &node.inputs;
        let len = *len as usize;
        if len <= INLINE {
            &ids[..len]
        } else {
            let at = ids[0] as usize;
            &self.spill[at..at + len]
        }
    }

    /// Where the program recorded node `i`, if NaN tracing was on then.
    pub(crate) fn site(&self, i: usize) -> Option<&'static Location<'static>> {
        let i = i as u32;
        self.sites
            .binary_search_by_key(&i, |&(j, _)| j)
            .ok()
            .map(|k| self.sites[k].1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_record_is_small() {
        // The record every op appends (the value goes to a vector of its own): half a cache
        // line or less in f32, so recording and sweeping move few bytes.
        assert!(
            std::mem::size_of::<Node<f32>>() <= 32,
            "{}",
            std::mem::size_of::<Node<f32>>()
        );
        assert!(
            std::mem::size_of::<Node<f64>>() <= 40,
            "{}",
            std::mem::size_of::<Node<f64>>()
        );
    }
}
