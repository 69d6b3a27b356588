//! [`Tensor`]: an immutable, reference-counted, contiguous row-major array.

use std::fmt;
use std::sync::Arc;

use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};

use crate::float::Float;
use crate::shape::{Shape, numel_for};

/// A contiguous row-major array of `F` with a shape.
///
/// Cloning is cheap: the storage sits behind an [`Arc`] and is shared, so the tape keeps the
/// values that backward needs without copying them. Tensors are `Send + Sync`.
///
/// Arithmetic works off the tape too (a metric, a Newton step, an update written by hand):
/// `+ - * /` (by reference or value, scalars on either side) and the methods of
/// [`Var`](crate::Var) (`exp`, `maximum`, `sum_axes`, `matmul`, `gt`, ...) run the tape op's
/// kernel, so they give its value bit for bit, with the same broadcasting and panics; only
/// [`Tensor::eq_elem`] is named otherwise (`eq` compares whole tensors via `PartialEq`).
///
/// ```
/// use borel_autograd::Tensor;
/// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
/// assert_eq!(t.shape(), &[2, 3]);
/// assert_eq!(t.at(&[1, 2]), 6.0);
/// println!("{t}"); // [[1, 2, 3],\n [4, 5, 6]]
///
/// // Sum of squared errors in one line.
/// let y = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3]);
/// let y_hat = Tensor::from_vec(vec![1.5, 2.0, 2.0], &[3]);
/// assert_eq!((&y - &y_hat).square().sum().item(), 1.25);
/// ```
#[derive(Clone)]
pub struct Tensor<F = f32> {
    data: Storage<F>,
    shape: Shape,
}

/// A tensor's elements: one element inline, so that scalars (losses, chains of scalar ops)
/// cost no allocation, or any number shared behind an [`Arc`]. Both read as one slice.
#[derive(Clone)]
pub(crate) enum Storage<F> {
    One(F),
    Shared(Arc<[F]>),
}

impl<F> std::ops::Deref for Storage<F> {
    type Target = [F];
    #[inline(always)]
    fn deref(&self) -> &[F] {
        match self {
            Storage::One(v) => std::slice::from_ref(v),
            Storage::Shared(a) => a,
        }
    }
}

impl<F: Copy> Storage<F> {
    /// The elements, copied out of shared storage first when another tensor holds it.
    fn make_mut(&mut self) -> &mut [F] {
        match self {
            Storage::One(v) => std::slice::from_mut(v),
            Storage::Shared(a) => {
                if Arc::get_mut(a).is_none() {
                    *a = a.iter().copied().collect();
                }
                Arc::get_mut(a).expect("storage was just made unique")
            }
        }
    }
}

impl<F> FromIterator<F> for Storage<F> {
    /// Inline when the iterator says it yields exactly one element.
    #[inline]
    fn from_iter<I: IntoIterator<Item = F>>(it: I) -> Self {
        let mut it = it.into_iter();
        if it.size_hint() == (1, Some(1))
            && let Some(v) = it.next()
        {
            return Storage::One(v);
        }
        Storage::Shared(it.collect())
    }
}

impl<F: Copy> From<Vec<F>> for Storage<F> {
    fn from(v: Vec<F>) -> Self {
        match v[..] {
            [one] => Storage::One(one),
            _ => Storage::Shared(v.into()),
        }
    }
}

/// Allocations from this many bytes are asked of the allocator first (see [`check_room`]):
/// the extra request costs nothing next to filling them.
const PROBED_FROM: usize = 64 << 20;

/// Panics naming `op` and the size, where the process would otherwise abort, when `n`
/// elements of `F` cannot be allocated: beyond the address space, or refused by the
/// allocator for [`PROBED_FROM`] bytes or more (asked first; smaller allocations abort on
/// failure like any Rust allocation).
#[inline]
#[track_caller]
pub(crate) fn check_room<F: Float>(op: &str, n: usize) {
    let bytes = n
        .checked_mul(std::mem::size_of::<F>())
        .filter(|&b| b <= isize::MAX as usize);
    let Some(bytes) = bytes else {
        panic!("{op}: {n} elements of {} do not fit in the address space", F::NAME);
    };
    if bytes >= PROBED_FROM {
        let mut probe = Vec::<F>::new();
        let refused = probe.try_reserve_exact(n).is_err();
        // kept observable, so that the allocation is not optimized away
        std::hint::black_box(&probe);
        if refused {
            let gib = bytes as f64 / (1u64 << 30) as f64;
            panic!(
                "{op}: cannot allocate {n} elements of {} ({gib:.1} GiB): out of memory",
                F::NAME
            );
        }
    }
}

impl<F: Float> Tensor<F> {
    /// A tensor from row-major data and a shape; panics when the lengths disagree.
    #[track_caller]
    pub fn from_vec(data: Vec<F>, shape: &[usize]) -> Self {
        assert!(
            data.len() == numel_for("Tensor::from_vec", shape),
            "Tensor::from_vec: {} values do not fill shape {shape:?}",
            data.len()
        );
        check_room::<F>("Tensor::from_vec", data.len());
        Self::from_parts(data.into(), shape.into())
    }

    /// A tensor from row-major data and a shape that the caller has computed. Checked in
    /// release builds too: kernels index storage by the shape (the GEMM without bounds
    /// checks), so a tensor whose storage is shorter than its shape must never exist.
    #[track_caller]
    #[inline]
    pub(crate) fn from_parts(data: Storage<F>, shape: Shape) -> Self {
        assert!(
            crate::shape::checked_numel(&shape) == Some(data.len()),
            "tensor: {} values for shape {:?}",
            data.len(),
            shape
        );
        Tensor { data, shape }
    }

    /// Builds a tensor by evaluating `f` at each flat (row-major) index.
    #[track_caller]
    pub fn from_fn(shape: &[usize], f: impl FnMut(usize) -> F) -> Self {
        let n = numel_for("Tensor::from_fn", shape);
        check_room::<F>("Tensor::from_fn", n);
        Self::from_parts((0..n).map(f).collect(), shape.into())
    }

    /// A rank-0 tensor holding one value.
    pub fn scalar(v: F) -> Self {
        Self::from_parts(Storage::One(v), Shape::new())
    }

    /// A tensor with every element equal to `v`.
    #[track_caller]
    pub fn full(shape: &[usize], v: F) -> Self {
        Self::filled("Tensor::full", shape, v)
    }

    /// A tensor of zeros.
    #[track_caller]
    pub fn zeros(shape: &[usize]) -> Self {
        Self::filled("Tensor::zeros", shape, F::ZERO)
    }

    /// A tensor of ones.
    #[track_caller]
    pub fn ones(shape: &[usize]) -> Self {
        Self::filled("Tensor::ones", shape, F::ONE)
    }

    /// `shape` filled with `v`; a failed allocation panics naming `op` and the size.
    #[track_caller]
    fn filled(op: &str, shape: &[usize], v: F) -> Self {
        let n = numel_for(op, shape);
        check_room::<F>(op, n);
        Self::from_parts(std::iter::repeat_n(v, n).collect(), shape.into())
    }

    /// `[0, 1, ..., n-1]` as a rank-1 tensor.
    pub fn arange(n: usize) -> Self {
        Self::from_fn(&[n], |i| F::from_f64(i as f64))
    }

    /// `n` evenly spaced values from `start` to `end`, both included.
    pub fn linspace(start: f64, end: f64, n: usize) -> Self {
        let step = if n > 1 { (end - start) / (n - 1) as f64 } else { 0.0 };
        Self::from_fn(&[n], |i| F::from_f64(start + step * i as f64))
    }

    /// Independent draws from the uniform distribution on `[low, high)`.
    ///
    /// ```
    /// use borel_autograd::Tensor;
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let t = Tensor::<f32>::rand_uniform(&[3, 2], -1.0, 1.0, &mut rng);
    /// assert!(t.data().iter().all(|v| (-1.0..1.0).contains(v)));
    /// ```
    #[track_caller]
    pub fn rand_uniform<R: Rng + ?Sized>(shape: &[usize], low: f64, high: f64, rng: &mut R) -> Self {
        Self::from_fn(shape, |_| F::from_f64(low + (high - low) * rng.random::<f64>()))
    }

    /// Independent draws from the normal distribution `N(mean, std^2)`.
    #[track_caller]
    pub fn rand_normal<R: Rng + ?Sized>(shape: &[usize], mean: f64, std: f64, rng: &mut R) -> Self {
        Self::from_fn(shape, |_| {
            let z: f64 = StandardNormal.sample(rng);
            F::from_f64(mean + std * z)
        })
    }

    /// The size of each dimension.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The shape as a [`Shape`] (a copy).
    pub fn dims(&self) -> Shape {
        self.shape
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The elements in row-major order.
    pub fn data(&self) -> &[F] {
        &self.data
    }

    /// Mutable access to the elements; copies the storage first if it is shared.
    pub fn data_mut(&mut self) -> &mut [F] {
        self.data.make_mut()
    }

    /// The elements as a `Vec`.
    pub fn to_vec(&self) -> Vec<F> {
        self.data.to_vec()
    }

    /// The element at a multi-index; panics when the index is out of range.
    #[track_caller]
    pub fn at(&self, index: &[usize]) -> F {
        assert!(
            index.len() == self.rank(),
            "Tensor::at: index {index:?} for shape {:?}",
            self.shape
        );
        let mut off = 0;
        for (d, (&i, &n)) in index.iter().zip(self.shape.iter()).enumerate() {
            assert!(
                i < n,
                "Tensor::at: index {index:?} out of range for shape {:?} (dim {d})",
                self.shape
            );
            off = off * n + i;
        }
        self.data[off]
    }

    /// The single value of a one-element tensor.
    #[track_caller]
    pub fn item(&self) -> F {
        assert!(
            self.numel() == 1,
            "Tensor::item: tensor of shape {:?} has {} elements",
            self.shape,
            self.numel()
        );
        self.data[0]
    }

    /// The same elements with another shape of the same size.
    #[track_caller]
    pub fn reshape(&self, shape: &[usize]) -> Self {
        assert!(
            numel_for("reshape", shape) == self.numel(),
            "reshape: cannot view shape {:?} as {shape:?}",
            self.shape
        );
        Self::from_parts(self.data.clone(), shape.into())
    }

    /// Elementwise conversion to another float type (`f32` to `f64` and back).
    ///
    /// ```
    /// use borel_autograd::Tensor;
    /// let t = Tensor::from_vec(vec![0.5f32, 1.5], &[2]).cast::<f64>();
    /// assert_eq!(t.data(), &[0.5, 1.5]);
    /// ```
    pub fn cast<G: Float>(&self) -> Tensor<G> {
        Tensor::from_parts(self.data.iter().map(|v| G::from_f64(v.to_f64())).collect(), self.shape)
    }

    /// Applies `f` to each element.
    pub fn map(&self, f: impl Fn(F) -> F + Sync + Send) -> Self {
        Self::from_parts(crate::ops::kernels::map(&self.data, f), self.shape)
    }

    /// Largest absolute elementwise difference to `other` (same shape), in `f64`.
    #[track_caller]
    pub fn max_abs_diff(&self, other: &Tensor<F>) -> f64 {
        assert!(
            self.shape == other.shape,
            "max_abs_diff: shapes {:?} and {:?}",
            self.shape,
            other.shape
        );
        self.data
            .iter()
            .zip(other.data.iter())
            .map(|(a, b)| (a.to_f64() - b.to_f64()).abs())
            .fold(0.0, f64::max)
    }

    /// The elements as little-endian bytes of `F` (the layout safetensors files use).
    pub fn to_le_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.numel() * std::mem::size_of::<F>());
        for &v in self.data() {
            if std::mem::size_of::<F>() == 4 {
                out.extend_from_slice(&(v.to_f64() as f32).to_le_bytes());
            } else {
                out.extend_from_slice(&v.to_f64().to_le_bytes());
            }
        }
        out
    }

    /// A tensor of `shape` from little-endian bytes of `F`; `None` when the byte count does not
    /// match the shape or the shape has more than [`MAX_RANK`](crate::shape::MAX_RANK) dims
    /// (both come from outside: a file, a peer).
    pub(crate) fn from_le_bytes(bytes: &[u8], shape: &[usize]) -> Option<Self> {
        let w = std::mem::size_of::<F>();
        let want = crate::shape::checked_numel(shape).and_then(|n| n.checked_mul(w));
        if want != Some(bytes.len()) || shape.len() > crate::shape::MAX_RANK {
            return None;
        }
        Some(Self::from_fn(shape, |i| {
            let s = &bytes[i * w..(i + 1) * w];
            if w == 4 {
                F::from_f64(f32::from_le_bytes(s.try_into().expect("4 bytes")) as f64)
            } else {
                F::from_f64(f64::from_le_bytes(s.try_into().expect("8 bytes")))
            }
        }))
    }

    /// Whether every element is finite.
    pub fn all_finite(&self) -> bool {
        self.data.iter().all(|v| v.is_finite())
    }
}

impl<F: Float> PartialEq for Tensor<F> {
    fn eq(&self, other: &Self) -> bool {
        self.shape == other.shape && *self.data == *other.data
    }
}

const EDGE: usize = 3;
const SUMMARIZE_ABOVE: usize = 1000;

fn fmt_value<F: Float>(v: F) -> String {
    let x = v.to_f64();
    if x.fract() == 0.0 && x.abs() < 1e16 {
        format!("{x:.0}")
    } else if x != 0.0 && (x.abs() < 1e-4 || x.abs() >= 1e16) {
        format!("{x:.4e}")
    } else {
        let s = format!("{x:.4}");
        let s = s.trim_end_matches('0');
        s.to_string()
    }
}

impl<F: Float> Tensor<F> {
    fn fmt_dim(
        &self,
        f: &mut fmt::Formatter<'_>,
        dim: usize,
        off: usize,
        stride: &[usize],
        summarize: bool,
        indent: usize,
    ) -> fmt::Result {
        if dim == self.rank() {
            return write!(f, "{}", fmt_value(self.data[off]));
        }
        let n = self.shape[dim];
        write!(f, "[")?;
        let skip = summarize && n > 2 * EDGE;
        for i in 0..n {
            if skip && i == EDGE {
                write!(f, "...")?;
                if dim + 1 < self.rank() {
                    write!(f, ",\n{:indent$}", "", indent = indent + 1)?;
                } else {
                    write!(f, ", ")?;
                }
                continue;
            }
            if skip && i > EDGE && i < n - EDGE {
                continue;
            }
            self.fmt_dim(f, dim + 1, off + i * stride[dim], stride, summarize, indent + 1)?;
            if i + 1 < n {
                if dim + 1 < self.rank() {
                    let blank = self.rank() - dim - 1;
                    write!(f, ",{}{:indent$}", "\n".repeat(blank), "", indent = indent + 1)?;
                } else {
                    write!(f, ", ")?;
                }
            }
        }
        write!(f, "]")
    }
}

/// Prints like NumPy: nested brackets, at most 3 items at each edge when large.
impl<F: Float> fmt::Display for Tensor<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = crate::shape::strides(&self.shape);
        self.fmt_dim(f, 0, 0, &st, self.numel() > SUMMARIZE_ABOVE, 0)
    }
}

/// Prints the shape, the type and the values: `Tensor<f32>[2, 3] [[1, 2, 3], [4, 5, 6]]`.
impl<F: Float> fmt::Debug for Tensor<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor<{}>{:?} {}", F::NAME, self.shape.as_slice(), self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn le_bytes_round_trip_and_refuse_what_does_not_fit() {
        let t = Tensor::from_vec(vec![1.5f32, -2.0], &[2]);
        assert_eq!(Tensor::<f32>::from_le_bytes(&t.to_le_bytes(), &[2]), Some(t));
        assert_eq!(Tensor::<f32>::from_le_bytes(&[0; 4], &[1; 8]), None);
        assert!(Tensor::<f32>::from_le_bytes(&[], &[1 << 62, 4]).is_none());
    }

    #[test]
    fn numel_counts_and_checked_numel_refuses_overflow() {
        assert_eq!(crate::shape::numel(&[2, 3]), 6);
        assert_eq!(crate::shape::checked_numel(&[1 << 32, 1 << 32]), None);
    }

    #[test]
    fn display_matches_numpy_layout() {
        let t = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.5, 5.0, 6.0], &[2, 3]);
        assert_eq!(t.to_string(), "[[1, 2, 3],\n [4.5, 5, 6]]");
        assert_eq!(format!("{:?}", Tensor::<f32>::scalar(2.0)), "Tensor<f32>[] 2");
        let big = Tensor::<f32>::arange(2000);
        assert_eq!(big.to_string(), "[0, 1, 2, ..., 1997, 1998, 1999]");
    }

    #[test]
    fn data_mut_copies_shared_storage() {
        let a = Tensor::<f64>::ones(&[2]);
        let mut b = a.clone();
        b.data_mut()[0] = 5.0;
        assert_eq!(a.data(), &[1.0, 1.0]);
        assert_eq!(b.data(), &[5.0, 1.0]);
    }

    #[test]
    #[should_panic(expected = "Tensor::from_vec: 3 values do not fill shape [2, 2]")]
    fn from_vec_checks_length() {
        let _ = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[2, 2]);
    }
}
