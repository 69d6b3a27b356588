//! Ops composed from the primitives: they need no backward rule of their own, and their
//! derivatives of every order come from the primitives'.

use crate::float::Float;
use crate::tape::Var;

impl<'t, F: Float> Var<'t, F> {
    fn count(self, axes: &[isize]) -> usize {
        let s = self.shape();
        let r = s.len() as isize;
        axes.iter()
            .map(|&a| s[if a < 0 { (a + r) as usize } else { a as usize }])
            .product()
    }

    /// Mean of all elements, as a scalar.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::from_vec(vec![1.0, 2.0, 3.0, 6.0], &[2, 2]));
    /// assert_eq!(x.mean().item(), 3.0);
    /// ```
    #[track_caller]
    pub fn mean(self) -> Var<'t, F> {
        let n = self.value().numel();
        self.sum() * F::from_f64(1.0 / n as f64)
    }

    /// Mean over `axes`.
    #[track_caller]
    pub fn mean_axes(self, axes: &[isize], keepdim: bool) -> Var<'t, F> {
        let s = self.sum_axes(axes, keepdim);
        s * F::from_f64(1.0 / self.count(axes) as f64)
    }

    /// `log(sum(exp(x)))` over `axes`, stable for large values: the max is subtracted first
    /// (as a constant, which leaves the derivative, softmax, unchanged).
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::from_vec(vec![1000.0, 1000.0], &[2]));
    /// assert!((x.logsumexp(&[0], false).item() - (1000.0 + 2f64.ln())).abs() < 1e-9);
    /// ```
    #[track_caller]
    pub fn logsumexp(self, axes: &[isize], keepdim: bool) -> Var<'t, F> {
        let m = self.max_axes(axes, true).detach();
        let m_finite = self
            .tape
            .constant(m.value().map(|v| if v.is_finite_() { v } else { F::ZERO }));
        let s = (self - m_finite).exp().sum_axes(axes, true).log() + m_finite;
        if keepdim {
            s
        } else {
            let mut shape = self.shape();
            let r = shape.len() as isize;
            let mut ax: Vec<usize> = axes
                .iter()
                .map(|&a| if a < 0 { (a + r) as usize } else { a as usize })
                .collect();
            ax.sort_unstable();
            for a in ax.into_iter().rev() {
                shape.remove(a);
            }
            s.reshape(&shape)
        }
    }

    /// `softmax` along `axis`: `exp(x - logsumexp(x))`, stable for large values.
    ///
    /// ```
    /// use borel_autograd::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::from_vec(vec![1.0, 2.0, 3.0], &[1, 3]));
    /// let p = x.softmax(-1).value();
    /// assert!((p.data().iter().sum::<f32>() - 1.0).abs() < 1e-6);
    /// ```
    #[track_caller]
    pub fn softmax(self, axis: isize) -> Var<'t, F> {
        self.log_softmax(axis).exp()
    }

    /// `x - logsumexp(x)` along `axis`.
    #[track_caller]
    pub fn log_softmax(self, axis: isize) -> Var<'t, F> {
        self - self.logsumexp(&[axis], true)
    }

    /// `x` for `x > 0`, `alpha x` otherwise (Keras' default `alpha` is 0.3, PyTorch's 0.01).
    #[track_caller]
    pub fn leaky_relu(self, alpha: F) -> Var<'t, F> {
        let zero = self.tape.scalar(F::ZERO);
        Var::where_(self.gt(zero), self, self * alpha)
    }

    /// `x` for `x > 0`, `alpha (e^x - 1)` otherwise.
    #[track_caller]
    pub fn elu(self, alpha: F) -> Var<'t, F> {
        let zero = self.tape.scalar(F::ZERO);
        // exp of min(x, 0): the branch not taken must not overflow, or its zero gradient
        // times an infinite derivative would give NaN.
        let neg = (self.minimum(zero).exp() - F::ONE) * alpha;
        Var::where_(self.gt(zero), self, neg)
    }

    /// Exact GELU, `x Phi(x) = x/2 (1 + erf(x / sqrt 2))` (PyTorch's default, Keras'
    /// `approximate=False`).
    #[track_caller]
    pub fn gelu(self) -> Var<'t, F> {
        let phi = (self * F::from_f64(std::f64::consts::FRAC_1_SQRT_2))
            .erf()
            .affine(F::from_f64(0.5), F::from_f64(0.5));
        self * phi
    }

    /// GELU's tanh approximation, `x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
    #[track_caller]
    pub fn gelu_tanh(self) -> Var<'t, F> {
        let c = F::from_f64((2.0 / std::f64::consts::PI).sqrt());
        let inner = (self + self * self * self * F::from_f64(0.044715)) * c;
        self * inner.tanh().affine(F::from_f64(0.5), F::from_f64(0.5))
    }

    /// SiLU / swish: `x sigmoid(x)`.
    #[track_caller]
    pub fn silu(self) -> Var<'t, F> {
        self * self.sigmoid()
    }
}
