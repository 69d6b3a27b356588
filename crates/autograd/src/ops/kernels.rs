//! Loops shared by the op families: elementwise maps, broadcasting zips and reductions.
//! Written as plain slice loops so the compiler vectorizes them; rayon splits the work only
//! above [`PAR_THRESHOLD`] elements, where a thread hop costs less than the work
//! (`cargo bench --bench autograd -- elementwise` measured the crossover).

use std::mem::MaybeUninit;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[cfg(feature = "parallel")]
use rayon::prelude::*;
/// Without the `parallel` feature (WebAssembly) the `par_` calls below run as plain chunks.
#[cfg(not(feature = "parallel"))]
trait SerialChunks<T> {
    fn par_chunks(&self, n: usize) -> std::slice::Chunks<'_, T>;
    fn par_chunks_mut(&mut self, n: usize) -> std::slice::ChunksMut<'_, T>;
}
#[cfg(not(feature = "parallel"))]
impl<T> SerialChunks<T> for [T] {
    fn par_chunks(&self, n: usize) -> std::slice::Chunks<'_, T> {
        self.chunks(n)
    }
    fn par_chunks_mut(&mut self, n: usize) -> std::slice::ChunksMut<'_, T> {
        self.chunks_mut(n)
    }
}
use smallvec::SmallVec;

use crate::float::Float;
pub(crate) use crate::ops::gemm::{Strided, gemm_into};
use crate::shape::{Shape, broadcast_or_panic, broadcast_strides, for_each_row, numel, strides};
use crate::tensor::{Storage, Tensor};

/// Elementwise work below this many elements stays on the calling thread (the default of
/// [`set_parallel_threshold`]).
pub const PAR_THRESHOLD: usize = 1 << 16;

static THRESHOLD: AtomicUsize = AtomicUsize::new(PAR_THRESHOLD);

/// Sets the element count from which elementwise kernels split work over rayon's threads;
/// `usize::MAX` keeps everything on the calling thread. For benchmarks and tuning.
pub fn set_parallel_threshold(n: usize) {
    THRESHOLD.store(n, Ordering::Relaxed);
}

#[inline]
fn serial(n: usize) -> bool {
    n < THRESHOLD.load(Ordering::Relaxed)
}
const CHUNK: usize = 1 << 13;

/// A buffer that kernels write once and then freeze into a tensor's storage, with no copy from
/// a `Vec` into the `Arc`, no zero-fill of memory that is about to be written, and no
/// allocation at all for a single element (kept inline, as scalar tensors are).
pub(crate) struct Buf<F> {
    /// The shared allocation; `None` for a one-element buffer, whose element is `one`.
    arc: Option<Arc<[MaybeUninit<F>]>>,
    one: MaybeUninit<F>,
    /// Start of `arc`'s elements (null when inline: `one` moves with the buffer).
    ptr: *mut F,
    len: usize,
}

impl<F: Float> Buf<F> {
    /// Room for `n` elements, none written yet; panics naming the size (never wraps, never
    /// aborts) when `n` elements cannot be addressed or allocated.
    #[inline]
    #[track_caller]
    pub(crate) fn with_capacity(n: usize) -> Self {
        if n == 1 {
            return Buf {
                arc: None,
                one: MaybeUninit::uninit(),
                ptr: std::ptr::null_mut(),
                len: 0,
            };
        }
        crate::tensor::check_room::<F>("tensor", n);
        let mut arc = Arc::<[F]>::new_uninit_slice(n);
        let ptr = Arc::get_mut(&mut arc)
            .expect("a new Arc is unique")
            .as_mut_ptr()
            .cast::<F>();
        Buf {
            arc: Some(arc),
            one: MaybeUninit::uninit(),
            ptr,
            len: 0,
        }
    }

    /// `n` copies of `v`.
    #[inline]
    #[track_caller]
    pub(crate) fn full(n: usize, v: F) -> Self {
        let mut b = Self::with_capacity(n);
        b.extend((0..n).map(|_| v));
        b
    }

    /// How many elements the buffer holds once written.
    #[inline(always)]
    pub(crate) fn cap(&self) -> usize {
        self.arc.as_ref().map_or(1, |a| a.len())
    }

    /// Where the elements start: in the allocation, or inline.
    #[inline(always)]
    pub(crate) fn base(&mut self) -> *mut F {
        if self.ptr.is_null() {
            self.one.as_mut_ptr()
        } else {
            self.ptr
        }
    }

    #[inline(always)]
    pub(crate) fn push(&mut self, v: F) {
        assert!(self.len < self.cap(), "Buf overflow");
        // SAFETY: in bounds (checked), and `base` points at `cap` elements owned by this
        // buffer alone (the unique, unfrozen allocation, or `one`).
        unsafe { self.base().add(self.len).write(v) };
        self.len += 1;
    }

    #[inline]
    pub(crate) fn extend(&mut self, it: impl Iterator<Item = F>) {
        for v in it {
            self.push(v);
        }
    }

    #[inline]
    pub(crate) fn extend_from_slice(&mut self, s: &[F]) {
        assert!(self.len + s.len() <= self.cap(), "Buf overflow");
        // SAFETY: in bounds (checked); `s` cannot alias memory owned by this buffer alone.
        unsafe { std::ptr::copy_nonoverlapping(s.as_ptr(), self.base().add(self.len), s.len()) };
        self.len += s.len();
    }

    /// # Safety
    /// The first `len` elements must have been written.
    pub(crate) unsafe fn set_len(&mut self, len: usize) {
        debug_assert!(len <= self.cap());
        self.len = len;
    }

    /// The written elements, as tensor storage.
    #[inline]
    pub(crate) fn freeze(self) -> Storage<F> {
        assert!(
            self.len == self.cap(),
            "Buf frozen with {} of {} elements written",
            self.len,
            self.cap()
        );
        match self.arc {
            // SAFETY: every element was written (checked above).
            Some(arc) => Storage::Shared(unsafe { arc.assume_init() }),
            // SAFETY: as above: the one element was written.
            None => Storage::One(unsafe { self.one.assume_init() }),
        }
    }
}

impl<F> std::ops::Deref for Buf<F> {
    type Target = [F];
    fn deref(&self) -> &[F] {
        let base = if self.ptr.is_null() {
            self.one.as_ptr()
        } else {
            self.ptr.cast_const()
        };
        // SAFETY: the first `len` elements are written.
        unsafe { std::slice::from_raw_parts(base, self.len) }
    }
}

impl<F> std::ops::DerefMut for Buf<F> {
    fn deref_mut(&mut self) -> &mut [F] {
        let base = if self.ptr.is_null() {
            self.one.as_mut_ptr()
        } else {
            self.ptr
        };
        // SAFETY: the first `len` elements are written, and owned by this buffer alone.
        unsafe { std::slice::from_raw_parts_mut(base, self.len) }
    }
}

/// `f` applied to every element.
#[inline]
pub(crate) fn map<F: Float>(x: &[F], f: impl Fn(F) -> F + Sync + Send) -> Storage<F> {
    if serial(x.len()) {
        x.iter().map(|&v| f(v)).collect()
    } else {
        let mut out = Buf::full(x.len(), F::ZERO);
        out.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(|(o, i)| {
            for (o, &v) in o.iter_mut().zip(i) {
                *o = f(v);
            }
        });
        out.freeze()
    }
}

#[inline]
fn zip_same<F: Float>(a: &[F], b: &[F], f: impl Fn(F, F) -> F + Sync + Send) -> Storage<F> {
    if serial(a.len()) {
        a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect()
    } else {
        let mut out = Buf::full(a.len(), F::ZERO);
        out.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
            .for_each(|(o, (a, b))| {
                for ((o, &x), &y) in o.iter_mut().zip(a).zip(b) {
                    *o = f(x, y);
                }
            });
        out.freeze()
    }
}

/// `f(a, b)` elementwise with NumPy broadcasting; panics naming `op` and both shapes when the
/// shapes do not broadcast.
#[track_caller]
#[inline]
pub(crate) fn zip<F: Float>(op: &str, a: &Tensor<F>, b: &Tensor<F>, f: impl Fn(F, F) -> F + Sync + Send) -> Tensor<F> {
    let (sa, sb) = (a.shape(), b.shape());
    if sa == sb {
        // One element: built in place (see `Tensor::map`).
        if let ([x], [y]) = (a.data(), b.data()) {
            return Tensor::from_parts(Storage::One(f(*x, *y)), a.dims());
        }
        return Tensor::from_parts(zip_same(a.data(), b.data(), f), a.dims());
    }
    let out_shape = broadcast_or_panic(op, sa, sb);
    if b.numel() == 1 && out_shape.as_slice() == sa {
        let y = b.data()[0];
        return Tensor::from_parts(map(a.data(), |x| f(x, y)), out_shape);
    }
    if a.numel() == 1 && out_shape.as_slice() == sb {
        let x = a.data()[0];
        return Tensor::from_parts(map(b.data(), |y| f(x, y)), out_shape);
    }
    let n = numel(&out_shape);
    let mut out = Buf::with_capacity(n);
    let st_a = broadcast_strides(sa, &out_shape);
    let st_b = broadcast_strides(sb, &out_shape);
    let inner = out_shape.last().copied().unwrap_or(1);
    let (ia, ib) = (st_a.last().copied().unwrap_or(0), st_b.last().copied().unwrap_or(0));
    let (da, db) = (a.data(), b.data());
    for_each_row(&out_shape, [&st_a, &st_b], |[oa, ob]| match (ia, ib) {
        (1, 1) => out.extend(
            da[oa..oa + inner]
                .iter()
                .zip(&db[ob..ob + inner])
                .map(|(&x, &y)| f(x, y)),
        ),
        (1, 0) => {
            let y = db[ob];
            out.extend(da[oa..oa + inner].iter().map(|&x| f(x, y)));
        }
        (0, 1) => {
            let x = da[oa];
            out.extend(db[ob..ob + inner].iter().map(|&y| f(x, y)));
        }
        _ => out.extend((0..inner).map(|j| f(da[oa + j * ia], db[ob + j * ib]))),
    });
    Tensor::from_parts(out.freeze(), out_shape)
}

/// `acc += g` in place (same shapes), copying `acc`'s storage first only if it is shared.
pub(crate) fn add_assign<F: Float>(acc: &mut Tensor<F>, g: &Tensor<F>) {
    debug_assert_eq!(acc.shape(), g.shape());
    for (a, &b) in acc.data_mut().iter_mut().zip(g.data()) {
        *a += b;
    }
}

/// Materializes `x` broadcast to `shape`.
#[track_caller]
pub(crate) fn broadcast_to<F: Float>(x: &Tensor<F>, shape: &[usize]) -> Tensor<F> {
    match crate::shape::broadcast_shapes(x.shape(), shape) {
        Some(s) if s.as_slice() == shape => {}
        _ => panic!("broadcast_to: shape {:?} cannot be broadcast to {shape:?}", x.shape()),
    }
    if x.shape() == shape {
        return x.clone();
    }
    let st = broadcast_strides(x.shape(), shape);
    let inner = shape.last().copied().unwrap_or(1);
    let is = st.last().copied().unwrap_or(0);
    let d = x.data();
    let mut out = Buf::with_capacity(numel(shape));
    for_each_row(shape, [&st], |[o]| {
        if is == 1 {
            out.extend_from_slice(&d[o..o + inner]);
        } else {
            out.extend(std::iter::repeat_n(d[o], inner));
        }
    });
    Tensor::from_parts(out.freeze(), shape.into())
}

/// Sums `x` over the axes flagged in `reduce` (same rank as `x`) into a tensor of the kept
/// shape (reduced axes have size 1).
///
/// The sum is pairwise, so its rounding error grows with the log of the count, not the count:
/// a running sum in f32 stops growing at 2^24 (the sum of 2^25 ones would be 2^24) and drifts
/// by percents over millions of terms. Contiguous runs are summed in blocks of
/// [`SUM_BLOCK`] on eight accumulators (which also vectorizes), reductions down rows add
/// blocks of [`ROW_BLOCK`] rows, and the blocks are combined as a balanced tree.
pub(crate) fn sum<F: Float>(x: &Tensor<F>, reduce: &[bool]) -> Tensor<F> {
    let shape = x.shape();
    let kept: Shape = shape.iter().zip(reduce).map(|(&n, &r)| if r { 1 } else { n }).collect();
    let mut out = Buf::full(numel(&kept), F::ZERO);
    if x.numel() > 0 {
        // Runs of adjacent dims reduced alike merge into one; size-1 dims drop out.
        let mut groups: SmallVec<[(usize, bool); 6]> = SmallVec::new();
        for (&n, &r) in shape.iter().zip(reduce) {
            match groups.last_mut() {
                _ if n == 1 => {}
                Some((m, last)) if *last == r => *m *= n,
                _ => groups.push((n, r)),
            }
        }
        sum_groups(x.data(), &groups, &mut out);
    }
    Tensor::from_parts(out.freeze(), kept)
}

/// Elements summed sequentially (on eight accumulators) before the pairwise tree takes over.
pub(crate) const SUM_BLOCK: usize = 128;

/// Rows added sequentially before the pairwise tree takes over, when reducing down rows.
pub(crate) const ROW_BLOCK: usize = 16;

/// `out` = the sum of `x`, laid out as `groups` (outermost first), over the reduced groups.
fn sum_groups<F: Float>(x: &[F], groups: &[(usize, bool)], out: &mut [F]) {
    match groups {
        [] => out[0] = x[0],
        [(_, true)] => out[0] = pairwise(x),
        [(n, false), rest @ ..] => {
            let (xs, os) = (x.len() / n, out.len() / n);
            for (xi, oi) in x.chunks_exact(xs).zip(out.chunks_exact_mut(os)) {
                sum_groups(xi, rest, oi);
            }
        }
        [(n, true), (m, false)] => {
            // One row of scratch per level of the tree above the sequential blocks.
            let (mut k, mut levels) = (*n, 0);
            while k > ROW_BLOCK {
                k = k.div_ceil(2);
                levels += 1;
            }
            let mut scratch = vec![F::ZERO; m * levels];
            sum_rows(x, *n, out, &mut scratch);
        }
        [(n, true), rest @ ..] => sum_slabs(x, *n, rest, out),
    }
}

/// Pairwise sum of a contiguous run.
fn pairwise<F: Float>(x: &[F]) -> F {
    if x.len() <= SUM_BLOCK {
        let mut acc = [F::ZERO; 8];
        let chunks = x.chunks_exact(8);
        let rest = chunks.remainder();
        for c in chunks {
            for k in 0..8 {
                acc[k] += c[k];
            }
        }
        let mut s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        for &v in rest {
            s += v;
        }
        return s;
    }
    // Split on a multiple of 8 so that every block but the last fills the accumulators.
    let half = (x.len() / 2).next_multiple_of(8);
    pairwise(&x[..half]) + pairwise(&x[half..])
}

/// `out[j]` = the sum over `n` rows of `x[i * m + j]`, pairwise over the rows; `scratch` holds
/// one row per level of the tree.
fn sum_rows<F: Float>(x: &[F], n: usize, out: &mut [F], scratch: &mut [F]) {
    let m = out.len();
    if n <= ROW_BLOCK {
        out.copy_from_slice(&x[..m]);
        // Two rows per pass over `out`: half the loads and stores of the running sums.
        let pairs = x[m..n * m].chunks_exact(2 * m);
        if let Some(last) = pairs.remainder().get(..m) {
            for (o, &v) in out.iter_mut().zip(last) {
                *o += v;
            }
        }
        for pair in pairs {
            let (a, b) = pair.split_at(m);
            for (o, (&u, &v)) in out.iter_mut().zip(a.iter().zip(b)) {
                *o += u + v;
            }
        }
        return;
    }
    let half = n / 2;
    let (tmp, deeper) = scratch.split_at_mut(m);
    sum_rows(&x[..half * m], half, out, deeper);
    sum_rows(&x[half * m..], n - half, tmp, deeper);
    for (o, &v) in out.iter_mut().zip(tmp.iter()) {
        *o += v;
    }
}

/// `out` = the sum of `n` equal slabs of `x`, each reduced by `rest`, pairwise over the slabs.
fn sum_slabs<F: Float>(x: &[F], n: usize, rest: &[(usize, bool)], out: &mut [F]) {
    let slab = x.len() / n;
    if n == 1 {
        return sum_groups(x, rest, out);
    }
    let half = n / 2;
    sum_slabs(&x[..half * slab], half, rest, out);
    let mut tmp = vec![F::ZERO; out.len()];
    sum_slabs(&x[half * slab..], n - half, rest, &mut tmp);
    for (o, v) in out.iter_mut().zip(tmp) {
        *o += v;
    }
}

/// Folds `x` over the axes flagged in `reduce` (same rank as `x`) into a tensor of the kept
/// shape (reduced axes have size 1), starting every output element at `init`, the identity of
/// `f`; `f` must be associative and commutative (the order of the fold is not fixed).
pub(crate) fn reduce<F: Float>(x: &Tensor<F>, reduce: &[bool], init: F, f: impl Fn(F, F) -> F) -> Tensor<F> {
    let shape = x.shape();
    let kept: Shape = shape.iter().zip(reduce).map(|(&n, &r)| if r { 1 } else { n }).collect();
    let mut out = Buf::full(numel(&kept), init);
    let mut out_st = strides(&kept);
    for (s, &r) in out_st.iter_mut().zip(reduce) {
        if r {
            *s = 0;
        }
    }
    let in_st = strides(shape);
    let inner = shape.last().copied().unwrap_or(1);
    let last_reduced = reduce.last().copied().unwrap_or(false);
    let d = x.data();
    for_each_row(shape, [&in_st, &out_st], |[i, o]| {
        let row = &d[i..i + inner];
        if last_reduced {
            out[o] = f(out[o], fold_row(row, init, &f));
        } else {
            for (acc, &v) in out[o..o + inner].iter_mut().zip(row) {
                *acc = f(*acc, v);
            }
        }
    });
    Tensor::from_parts(out.freeze(), kept)
}

/// `f` folded over a contiguous row on eight independent accumulators, combined at the end:
/// the compiler vectorizes it, where one running value would make every step wait for the
/// last. `f` must be associative and commutative (max, min, +), with `init` its identity.
#[inline]
fn fold_row<F: Float>(row: &[F], init: F, f: &impl Fn(F, F) -> F) -> F {
    let mut acc = [init; 8];
    let chunks = row.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..8 {
            acc[k] = f(acc[k], c[k]);
        }
    }
    let mut r = f(
        f(f(acc[0], acc[1]), f(acc[2], acc[3])),
        f(f(acc[4], acc[5]), f(acc[6], acc[7])),
    );
    for &v in rest {
        r = f(r, v);
    }
    r
}
