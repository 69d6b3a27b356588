//! Shapes, strides and broadcasting.

use std::fmt;
use std::ops::{Deref, DerefMut};

use smallvec::SmallVec;

/// The largest rank a tensor can have.
pub const MAX_RANK: usize = 6;

/// A tensor's shape: the size of each dimension, outermost first, up to [`MAX_RANK`] dims.
///
/// Stored inline and `Copy`, so the many shape copies that ops and backward rules make cost
/// no allocation. Dereferences to `[usize]`.
///
/// ```
/// use borel_autograd::Shape;
/// let mut s = Shape::from(&[2, 3][..]);
/// s.push(4);
/// assert_eq!(s.as_slice(), &[2, 3, 4]);
/// assert_eq!(s.iter().product::<usize>(), 24);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Shape {
    dims: [usize; MAX_RANK],
    rank: usize,
}

impl Shape {
    /// The shape of a scalar (rank 0).
    pub const fn new() -> Self {
        Shape {
            dims: [0; MAX_RANK],
            rank: 0,
        }
    }

    /// `rank` dims, all zero.
    #[track_caller]
    pub fn zeros(rank: usize) -> Self {
        check_rank(rank);
        Shape {
            dims: [0; MAX_RANK],
            rank,
        }
    }

    /// The dims as a slice.
    pub fn as_slice(&self) -> &[usize] {
        &self.dims[..self.rank]
    }

    /// Appends a dim.
    #[track_caller]
    pub fn push(&mut self, d: usize) {
        check_rank(self.rank + 1);
        self.dims[self.rank] = d;
        self.rank += 1;
    }

    /// Inserts a dim at `i`.
    #[track_caller]
    pub fn insert(&mut self, i: usize, d: usize) {
        check_rank(self.rank + 1);
        self.dims.copy_within(i..self.rank, i + 1);
        self.dims[i] = d;
        self.rank += 1;
    }

    /// Removes and returns dim `i`.
    pub fn remove(&mut self, i: usize) -> usize {
        let d = self.as_slice()[i];
        self.dims.copy_within(i + 1..self.rank, i);
        self.rank -= 1;
        d
    }

    /// Appends dims.
    #[track_caller]
    pub fn extend_from_slice(&mut self, s: &[usize]) {
        check_rank(self.rank + s.len());
        self.dims[self.rank..self.rank + s.len()].copy_from_slice(s);
        self.rank += s.len();
    }
}

#[track_caller]
fn check_rank(rank: usize) {
    if rank > MAX_RANK {
        panic!("shape: rank {rank} is above the maximum of {MAX_RANK}");
    }
}

impl Deref for Shape {
    type Target = [usize];
    fn deref(&self) -> &[usize] {
        &self.dims[..self.rank]
    }
}

impl DerefMut for Shape {
    fn deref_mut(&mut self) -> &mut [usize] {
        &mut self.dims[..self.rank]
    }
}

impl From<&[usize]> for Shape {
    #[track_caller]
    fn from(s: &[usize]) -> Self {
        let mut out = Shape::new();
        out.extend_from_slice(s);
        out
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    #[track_caller]
    fn from(s: [usize; N]) -> Self {
        Shape::from(&s[..])
    }
}

impl FromIterator<usize> for Shape {
    #[track_caller]
    fn from_iter<I: IntoIterator<Item = usize>>(iter: I) -> Self {
        let mut out = Shape::new();
        for d in iter {
            out.push(d);
        }
        out
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_slice().fmt(f)
    }
}

/// Number of elements of a shape (1 for a scalar); panics when the count overflows `usize`.
#[inline]
#[track_caller]
pub(crate) fn numel(shape: &[usize]) -> usize {
    numel_for("numel", shape)
}

/// Number of elements of a shape, or `None` when it overflows `usize`.
#[inline]
pub(crate) fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Number of elements of a shape made by `op`; panics naming the op and the shape when the
/// count overflows `usize`. Every buffer size in the crate comes from here or from
/// [`numel`], so no element count can wrap around and reach a kernel.
#[inline]
#[track_caller]
pub(crate) fn numel_for(op: &str, shape: &[usize]) -> usize {
    match checked_numel(shape) {
        Some(n) => n,
        None => panic!("{op}: shape {shape:?} has more elements than usize can count"),
    }
}

/// Row-major (C order) strides of a contiguous tensor of this shape. A stride that would
/// overflow saturates: that only happens when a later dim is 0, and then no element is read.
pub(crate) fn strides(shape: &[usize]) -> Shape {
    let mut s = Shape::zeros(shape.len());
    let mut acc: usize = 1;
    for i in (0..shape.len()).rev() {
        s[i] = acc;
        acc = acc.saturating_mul(shape[i]);
    }
    s
}

/// The NumPy broadcast of two shapes, or `None` when they do not broadcast.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Shape> {
    let n = a.len().max(b.len());
    let mut out = Shape::zeros(n);
    for i in 0..n {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// Broadcast of two shapes, panicking with the op name and both shapes when impossible.
#[track_caller]
pub(crate) fn broadcast_or_panic(op: &str, a: &[usize], b: &[usize]) -> Shape {
    match broadcast_shapes(a, b) {
        Some(s) => s,
        None => panic!("{op}: shapes {a:?} and {b:?} cannot be broadcast together"),
    }
}

/// Strides for reading a tensor of shape `from` as if it had the (broadcast) shape `to`:
/// zero along dimensions that are broadcast.
pub(crate) fn broadcast_strides(from: &[usize], to: &[usize]) -> Shape {
    let s = strides(from);
    let off = to.len() - from.len();
    (0..to.len())
        .map(|i| if i < off || from[i - off] == 1 { 0 } else { s[i - off] })
        .collect()
}

/// A list of axes, each below the rank.
pub(crate) type Axes = SmallVec<[usize; 4]>;

/// Normalizes a possibly negative axis (`-1` is the last) for a tensor of rank `rank`: the one
/// place where axes are checked, so every op reports a bad axis the same way, at the caller's
/// line.
#[track_caller]
pub(crate) fn norm_axis(op: &str, axis: isize, rank: usize) -> usize {
    let r = rank as isize;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r.max(1) || (rank == 0) {
        panic!("{op}: axis {axis} is out of range for a tensor of rank {rank}");
    }
    a as usize
}

/// Normalizes a list of axes with [`norm_axis`], sorted; an axis listed twice panics.
#[track_caller]
pub(crate) fn norm_axes(op: &str, axes: &[isize], rank: usize) -> Axes {
    // A loop, not a closure: `#[track_caller]` does not reach through closures.
    let mut out = Axes::new();
    for &a in axes {
        out.push(norm_axis(op, a, rank));
    }
    out.sort_unstable();
    let n = out.len();
    out.dedup();
    if n != out.len() {
        panic!("{op}: axis listed twice in {axes:?}");
    }
    out
}

/// Walks the positions of a row-major iteration over `shape` (all dimensions but the last),
/// keeping one running offset per operand. The callback gets the operands' offsets of the
/// first element of each innermost row.
#[inline]
pub(crate) fn for_each_row<const N: usize>(shape: &[usize], strides: [&[usize]; N], mut f: impl FnMut([usize; N])) {
    let rank = shape.len();
    if rank <= 1 {
        f([0; N]);
        return;
    }
    if shape.contains(&0) {
        return;
    }
    let outer = rank - 1;
    let mut idx: SmallVec<[usize; 4]> = smallvec::smallvec![0; outer];
    let mut off = [0usize; N];
    loop {
        f(off);
        let mut d = outer;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            for (o, s) in off.iter_mut().zip(strides.iter()) {
                *o += s[d];
            }
            if idx[d] < shape[d] {
                break;
            }
            for (o, s) in off.iter_mut().zip(strides.iter()) {
                *o -= s[d] * shape[d];
            }
            idx[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shapes(&[2, 3], &[3]).unwrap().as_slice(), &[2, 3]);
        assert_eq!(broadcast_shapes(&[2, 1], &[1, 4]).unwrap().as_slice(), &[2, 4]);
        assert_eq!(broadcast_shapes(&[], &[5]).unwrap().as_slice(), &[5]);
        assert!(broadcast_shapes(&[2, 3], &[4]).is_none());
    }

    #[test]
    fn rows_visit_every_offset() {
        let shape = [2, 3, 4];
        let st = strides(&shape);
        let mut seen = vec![];
        for_each_row(&shape, [&st], |[o]| seen.push(o));
        assert_eq!(seen, vec![0, 4, 8, 12, 16, 20]);
    }
}
