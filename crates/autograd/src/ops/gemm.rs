//! Matrix products: the one safe door to the GEMM ([`gemm_into`]) and the choice of kernels
//! for the CPU at hand ([`gemm_kernel`]).
//!
//! Every product runs on the `gemm` crate's kernels; which of its kernel sets depends on the
//! CPU, decided once, at the first product:
//!
//! - `avx512`: every x86-64 CPU with AVX-512F (Intel's and AMD's): 16-lane f32 kernels for
//!   products of at least [`AVX512_MIN_WORK`] multiply-adds, the AVX2 ones below. Measured on a
//!   2-core Intel Xeon virtual machine (AVX-512 F/BW/VL/VNNI/BF16/FP16, L1d 48 KiB, L2 2 MiB),
//!   f32 GFLOP/s at 64 / 256 / 1024, one thread (`taskset -c 1`, thread CPU time, medians of 31
//!   interleaved samples): AVX-512 182 / 201 / 193-208, AVX2 106 / 111 / 105, NumPy 2.4.6
//!   (OpenBLAS 0.3.31, SkylakeX kernels) 146-164 / 167-185 / 176-180; two threads (wall time):
//!   AVX-512 197 / 270-293 / 397-404, NumPy 146-150 / 272-279 / 358-375. On a 2-core AMD EPYC
//!   virtual machine (Zen with AVX-512 F/BW/VL/VNNI/BF16), two interleaved rounds of
//!   `benches/compare`'s products, AVX-512 / AVX2: one thread 88-89 / 69-88, 108 / 91-94,
//!   91-103 / 81-83; two threads 93 / 84-88, 140-170 / 109-140, 165-180 / 141-161. `gemm` sizes
//!   its blocks from the caches Linux reports (on the Xeon the socket's whole 480 MiB L3, which
//!   only lets a column block span a whole matrix); the half rate seen on the Xeon before was
//!   the AVX2 kernels' ceiling, the same at every size, not the blocking.
//! - `avx2`: every other x86-64 CPU with AVX2 and FMA.
//! - `portable`: the `gemm` crate's own choice elsewhere (NEON, WebAssembly SIMD128, scalar).
//!
//! f64 products (gradient checks) run on the AVX2 kernels on x86-64 (the AVX-512 ones are
//! compiled for f32 only). `BOREL_GEMM=avx2`, `avx512` or `portable` in the environment
//! overrides the choice, for measuring one against another (a name the CPU cannot run is
//! ignored).

use std::sync::OnceLock;

use crate::float::Float;
use crate::ops::kernels::Buf;

/// A matrix operand of [`gemm_into`]: elements in a slice, read through row and column
/// strides (reading it transposed swaps them).
pub(crate) struct Strided<'a, F> {
    pub(crate) data: &'a [F],
    pub(crate) rs: usize,
    pub(crate) cs: usize,
}

impl<F> Strided<'_, F> {
    /// Whether every element of a `rows x cols` matrix read through the strides lies in the
    /// slice (`rows`, `cols` at least 1).
    fn covers(&self, rows: usize, cols: usize) -> bool {
        let last = (rows - 1)
            .checked_mul(self.rs)
            .zip((cols - 1).checked_mul(self.cs))
            .and_then(|(r, c)| r.checked_add(c));
        last.is_some_and(|l| l < self.data.len())
    }
}

/// `C = a b + beta C` for `a` (`m x k`) and `b` (`k x n`), where `C` is the row-major `m x n`
/// block of `out` starting at element `at`. Nothing is done when a dimension is 0. The one
/// safe door to the GEMM: panics, naming `op`, unless every element the strides reach lies in
/// its operand and `C` lies in `out`, written already unless `beta` is 0 (then `C` may be
/// unwritten, and is written whole).
#[track_caller]
pub(crate) fn gemm_into<F: Float>(
    op: &str,
    mkn: (usize, usize, usize),
    a: Strided<'_, F>,
    b: Strided<'_, F>,
    beta: F,
    out: &mut Buf<F>,
    at: usize,
) {
    gemm_with(chosen().for_product::<F>(mkn), op, mkn, a, b, beta, out, at);
}

/// [`gemm_into`] on the given kernels, which the CPU must support.
#[track_caller]
#[allow(clippy::too_many_arguments)]
fn gemm_with<F: Float>(
    kernel: Kernel,
    op: &str,
    (m, k, n): (usize, usize, usize),
    a: Strided<'_, F>,
    b: Strided<'_, F>,
    beta: F,
    out: &mut Buf<F>,
    at: usize,
) {
    if m == 0 || k == 0 || n == 0 {
        return;
    }
    let end = m.checked_mul(n).and_then(|mn| mn.checked_add(at));
    let readable = if beta == F::ZERO { out.cap() } else { out.len() };
    assert!(
        a.covers(m, k) && b.covers(k, n) && end.is_some_and(|e| e <= readable),
        "{op}: operand storage does not cover a {m}x{k} by {k}x{n} product"
    );
    // `gemm` writes `dst = alpha dst + beta lhs rhs` and prefers a column-major `dst`: as
    // `gemm::gemm` itself does first, a row-major `C = A B` more than one column wide is handed
    // over as `C^T = B^T A^T`, with `C`'s rows as the columns of `dst`.
    let (a, b) = (a.as_raw(), b.as_raw());
    let p = if n > 1 {
        Product {
            m: n,
            n: m,
            k,
            dst_cs: n as isize,
            dst_rs: 1,
            lhs: b.transposed(),
            rhs: a.transposed(),
            read_dst: beta != F::ZERO,
            alpha: beta,
        }
    } else {
        Product {
            m,
            n,
            k,
            dst_cs: 1,
            dst_rs: n as isize,
            lhs: a,
            rhs: b,
            read_dst: beta != F::ZERO,
            alpha: beta,
        }
    };
    // SAFETY: the assert above puts every element the strides reach inside `a`, `b` and the
    // buffer `out` owns alone (its unique allocation, or its inline element), and `C` is
    // row-major, so no two of its elements share an address; `kernel` runs on this CPU
    // (the caller's contract).
    unsafe { p.run(kernel, out.base().add(at)) }
}

/// A matrix operand as the `gemm` crate takes it: a pointer, then the column stride and the
/// row stride, in elements.
#[derive(Clone, Copy)]
struct Raw<F> {
    ptr: *const F,
    cs: isize,
    rs: isize,
}

impl<F> Strided<'_, F> {
    fn as_raw(&self) -> Raw<F> {
        Raw {
            ptr: self.data.as_ptr(),
            cs: self.cs as isize,
            rs: self.rs as isize,
        }
    }
}

impl<F> Raw<F> {
    fn transposed(self) -> Raw<F> {
        Raw {
            ptr: self.ptr,
            cs: self.rs,
            rs: self.cs,
        }
    }

    #[cfg(target_arch = "x86_64")]
    fn cast<T>(self) -> Raw<T> {
        Raw {
            ptr: self.ptr.cast(),
            cs: self.cs,
            rs: self.rs,
        }
    }
}

/// A product in the `gemm` crate's terms: `dst (m x n) = alpha dst + lhs (m x k) rhs (k x n)`,
/// `dst` read only when `read_dst`; `dst`'s strides in elements, column stride first.
struct Product<F> {
    m: usize,
    n: usize,
    k: usize,
    dst_cs: isize,
    dst_rs: isize,
    lhs: Raw<F>,
    rhs: Raw<F>,
    read_dst: bool,
    alpha: F,
}

impl<F: Float> Product<F> {
    /// rayon's whole pool for a product large enough to gain from it on `kernel`, else the
    /// calling thread alone.
    fn parallelism(&self, kernel: Kernel) -> gemm::Parallelism {
        #[cfg(feature = "parallel")]
        {
            let work = self.m.saturating_mul(self.k).saturating_mul(self.n);
            if work >= kernel.par_min_work() && self.m.min(self.n) >= PAR_MIN_SIDE {
                return gemm::Parallelism::Rayon(0);
            }
        }
        let _ = kernel;
        gemm::Parallelism::None
    }

    /// Runs the product on `kernel`.
    ///
    /// # Safety
    /// The pointers and strides must describe valid matrices, `dst` (from `dst`) must not
    /// overlap `lhs` or `rhs` nor map two elements to one address, and the CPU must support
    /// `kernel`.
    unsafe fn run(&self, kernel: Kernel, dst: *mut F) {
        let par = self.parallelism(kernel);
        #[cfg(target_arch = "x86_64")]
        if kernel == Kernel::Avx2 && std::any::TypeId::of::<F>() == std::any::TypeId::of::<f32>() {
            // SAFETY: `F` is `f32` (checked above), so the casts change nothing; the rest is
            // forwarded from the caller's contract.
            return unsafe { avx2::sgemm(self.cast(), dst.cast(), par) };
        }
        let _ = kernel;
        let (one, p) = (F::ONE, self);
        // SAFETY: forwarded from the caller's contract; `gemm` accepts f32 and f64.
        unsafe {
            gemm::gemm(
                p.m, p.n, p.k, dst, p.dst_cs, p.dst_rs, p.read_dst, p.lhs.ptr, p.lhs.cs, p.lhs.rs, p.rhs.ptr, p.rhs.cs,
                p.rhs.rs, p.alpha, one, false, false, false, par,
            )
        }
    }

    /// The same product for `T`, which must be `F`.
    #[cfg(target_arch = "x86_64")]
    fn cast<T: Copy + 'static>(&self) -> Product<T> {
        assert_eq!(std::any::TypeId::of::<T>(), std::any::TypeId::of::<F>());
        Product {
            m: self.m,
            n: self.n,
            k: self.k,
            dst_cs: self.dst_cs,
            dst_rs: self.dst_rs,
            lhs: self.lhs.cast(),
            rhs: self.rhs.cast(),
            read_dst: self.read_dst,
            // SAFETY: `T` is `F` (asserted above).
            alpha: unsafe { std::mem::transmute_copy(&self.alpha) },
        }
    }
}

/// Products of at least this many multiply-adds, with `C` at least [`PAR_MIN_SIDE`] wide and
/// tall, split over rayon's threads on the AVX2 and portable kernels; smaller ones stay on the
/// calling thread, where waking the pool costs more than it saves (measured on the 2-core AMD
/// EPYC with these kernels).
#[cfg(feature = "parallel")]
const PAR_MIN_WORK: usize = 1 << 21;

/// [`PAR_MIN_WORK`] for the AVX-512 kernels, which finish a product in half the time, so that
/// waking the pool pays later. On the 2-core Xeon (2 threads, `taskset -c 0,1`, medians of 31
/// interleaved samples, microseconds, one thread / rayon's two): 128^3 23 / 47, 192^3 72 / 102,
/// 224^3 104 / 135, 256x256x128 75 / 102, 256^3 167 / 101-124 (2^24 multiply-adds, where
/// NumPy's OpenBLAS takes 120-123 on two threads).
#[cfg(all(feature = "parallel", target_arch = "x86_64"))]
const PAR_MIN_WORK_AVX512: usize = 1 << 24;

/// See [`PAR_MIN_WORK`]: a product narrower than this gains nothing from a second thread.
#[cfg(feature = "parallel")]
const PAR_MIN_SIDE: usize = 32;

/// The `gemm` crate's AVX2/FMA kernels for f32, called past its dispatcher (which takes the
/// AVX-512 ones wherever the CPU has them): exactly what `gemm::gemm` runs on a CPU without
/// AVX-512, through the items `gemm-common` and `gemm-f32` export for it.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use gemm_common::simd::{MixedSimd, V3};
    use gemm_f32::microkernel::fma::f32 as ukr;

    /// f32 lanes in an AVX2 register.
    const N: usize = 8;

    /// # Safety
    /// As [`Product::run`](super::Product::run), on a CPU with AVX2 and FMA.
    #[inline(never)]
    pub(super) unsafe fn sgemm(p: super::Product<f32>, dst: *mut f32, par: gemm::Parallelism) {
        let simd = <V3 as MixedSimd<f32, f32, f32, f32>>::try_new()
            .expect("the AVX2 kernels run only where the CPU has AVX2 and FMA");
        // SAFETY: forwarded from the caller's contract.
        unsafe {
            gemm_common::gemm::gemm_basic_generic::<
                _,
                f32,
                N,
                { ukr::MR_DIV_N * N },
                { ukr::NR },
                { ukr::MR_DIV_N },
                { ukr::H_M },
                { ukr::H_N },
            >(
                simd,
                p.m,
                p.n,
                p.k,
                dst,
                p.dst_cs,
                p.dst_rs,
                p.read_dst,
                p.lhs.ptr,
                p.lhs.cs,
                p.lhs.rs,
                p.rhs.ptr,
                p.rhs.cs,
                p.rhs.rs,
                p.alpha,
                1.0,
                false,
                false,
                false,
                |a, b, c| a * b + c,
                &ukr::UKR,
                &ukr::H_UKR,
                false,
                par,
            )
        }
    }
}

/// Products of fewer multiply-adds run on the AVX2 kernels even where the AVX-512 ones are
/// chosen. Alone, the AVX-512 kernels win down to the smallest products, but in the seed
/// models' steps they slow the rest of the work (presumably the lower clock that follows
/// 512-bit instructions on Intel cores). CPU time of 16,000 steps on the 2-core Xeon (medians
/// of 7 interleaved runs), AVX2 everywhere / AVX-512 everywhere / this limit: sigmoid model
/// (2-20-20-1, products of up to 25,600) 205 / 220 / 204 ms, linear (2-100-50-50-10-1)
/// 937 / 712 / 725 ms, relu 991 / 775 / 790 ms.
#[cfg(target_arch = "x86_64")]
const AVX512_MIN_WORK: usize = 1 << 15;

/// The kernel sets a product can run on (see the module's documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// The `gemm` crate's own choice on an x86-64 CPU with AVX-512: its AVX-512 kernels.
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// The `gemm` crate's AVX2/FMA kernels.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// The `gemm` crate's own choice anywhere else.
    Portable,
}

impl Kernel {
    /// The kernels that run an `F` product of `m k n` multiply-adds: the AVX-512 choice runs
    /// f32 products below [`AVX512_MIN_WORK`], and f64 ones (the `gemm` crate has AVX-512
    /// kernels for them compiled out), on the AVX2 kernels.
    fn for_product<F: Float>(self, (m, k, n): (usize, usize, usize)) -> Kernel {
        #[cfg(target_arch = "x86_64")]
        if self == Kernel::Avx512 {
            let f32 = std::any::TypeId::of::<F>() == std::any::TypeId::of::<f32>();
            if !f32 || m.saturating_mul(k).saturating_mul(n) < AVX512_MIN_WORK {
                return Kernel::Avx2;
            }
        }
        let _ = (m, k, n);
        self
    }

    /// The fewest multiply-adds for which a product on these kernels uses rayon's threads.
    #[cfg(feature = "parallel")]
    fn par_min_work(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => PAR_MIN_WORK_AVX512,
            _ => PAR_MIN_WORK,
        }
    }

    /// The name [`gemm_kernel`] reports, and `BOREL_GEMM` takes.
    pub(crate) fn name(self) -> &'static str {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => "avx512",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => "avx2",
            Kernel::Portable => "portable",
        }
    }

    /// Every kernel set this CPU can run, the chosen one among them.
    pub(crate) fn runnable() -> Vec<Kernel> {
        #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
        let mut all = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
            if avx2 {
                all.push(Kernel::Avx2);
            }
            if avx2 && is_x86_feature_detected!("avx512f") {
                all.push(Kernel::Avx512);
            }
        }
        all
    }

    /// The kernel set for this CPU: the widest it runs, unless `BOREL_GEMM` names
    /// another one it can run.
    fn detect() -> Kernel {
        let runnable = Kernel::runnable();
        let wanted = std::env::var("BOREL_GEMM").ok();
        if let Some(k) = runnable.iter().find(|k| wanted.as_deref() == Some(k.name())) {
            return *k;
        }
        #[cfg(target_arch = "x86_64")]
        for k in [Kernel::Avx512, Kernel::Avx2] {
            if runnable.contains(&k) {
                return k;
            }
        }
        Kernel::Portable
    }
}

/// The kernel set every product runs on, decided at the first product.
fn chosen() -> Kernel {
    static CHOSEN: OnceLock<Kernel> = OnceLock::new();
    *CHOSEN.get_or_init(Kernel::detect)
}

/// Which of the `gemm` crate's kernel sets f32 matrix products run on, on this CPU: `"avx512"`
/// (x86-64 CPUs with AVX-512F, Intel's and AMD's), `"avx2"` (other x86-64 CPUs with AVX2 and FMA),
/// or `"portable"` (the crate's own choice: NEON, WebAssembly SIMD128, or scalar code).
/// `BOREL_GEMM=avx2` or `BOREL_GEMM=avx512` in the environment picks one the CPU can run.
///
/// ```
/// let kernel = borel_autograd::gemm_kernel();
/// assert!(["avx512", "avx2", "portable"].contains(&kernel));
/// ```
pub fn gemm_kernel() -> &'static str {
    chosen().name()
}

#[cfg(test)]
mod tests;
