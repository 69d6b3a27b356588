//! Shapes, strides and broadcasting.

use smallvec::SmallVec;

/// A tensor's shape: the size of each dimension, outermost first.
pub type Shape = SmallVec<[usize; 4]>;

/// Number of elements of a shape (1 for a scalar).
#[inline]
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major (C order) strides of a contiguous tensor of this shape.
pub(crate) fn strides(shape: &[usize]) -> Shape {
    let mut s: Shape = smallvec::smallvec![0; shape.len()];
    let mut acc = 1;
    for i in (0..shape.len()).rev() {
        s[i] = acc;
        acc *= shape[i];
    }
    s
}

/// The NumPy broadcast of two shapes, or `None` when they do not broadcast.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Shape> {
    let n = a.len().max(b.len());
    let mut out: Shape = smallvec::smallvec![0; n];
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

/// Normalizes a possibly negative axis (`-1` is the last) for a tensor of rank `rank`.
#[track_caller]
pub(crate) fn norm_axis(op: &str, axis: isize, rank: usize) -> usize {
    let r = rank as isize;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r.max(1) || (rank == 0) {
        panic!("{op}: axis {axis} is out of range for a tensor of rank {rank}");
    }
    a as usize
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
