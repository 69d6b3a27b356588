//! Tensors from nested rows: the [`tensor!`](crate::tensor!) macro and `Tensor::from` on
//! numbers, arrays, slices and `Vec`s of them.

use crate::float::Float;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// A tensor from nested rows, like PyTorch's `torch.tensor([[1.0, 2.0], [3.0, 4.0]])`: the
/// macro's brackets are the outer list, so `tensor![1.0, 2.0]` has shape `[2]` and
/// `tensor![[1.0, 2.0], [3.0, 4.0]]` shape `[2, 2]`; rows of different lengths do not compile.
/// The elements are `f32` or `f64` (float literals take the type the context asks for, `f64`
/// by default). A one-element list has shape `[1]`, as `torch.tensor([5.0])`; a rank-0
/// tensor is [`Tensor::scalar`] (or `Tensor::from(5.0)`).
///
/// ```
/// use borel_autograd::{Tensor, tensor};
/// let x: Tensor<f32> = tensor![[1.0, 2.0], [3.0, 4.0]];
/// assert_eq!(x.shape(), &[2, 2]);
/// assert_eq!(x.data(), &[1.0, 2.0, 3.0, 4.0]);
/// assert_eq!(tensor![0.5, 1.5].shape(), &[2]);
/// assert_eq!(tensor![[[1.0], [2.0]]].shape(), &[1, 2, 1]);
/// // Expressions are fine too.
/// let scale = 2.0;
/// assert_eq!(tensor![scale, -scale].data(), &[2.0, -2.0]);
/// ```
#[macro_export]
macro_rules! tensor {
    ($($row:expr),+ $(,)?) => {
        $crate::Tensor::from([$($row),+])
    };
}

/// Values that make a tensor: an `f32` or `f64` (rank 0), or an array, slice or `Vec` of
/// such values, all of one shape (one more leading dim). What [`tensor!`](crate::tensor!)
/// and `Tensor::from` take.
pub trait Nested<F> {
    /// The shape of the value; panics when rows differ in shape.
    #[doc(hidden)]
    fn nested_shape(&self) -> Shape;
    /// Appends the elements in row-major order.
    #[doc(hidden)]
    fn append_to(&self, out: &mut Vec<F>);
}

macro_rules! scalar_nested {
    ($($f:ty),*) => {$(
        impl Nested<$f> for $f {
            fn nested_shape(&self) -> Shape {
                Shape::new()
            }
            fn append_to(&self, out: &mut Vec<$f>) {
                out.push(*self);
            }
        }
    )*};
}

scalar_nested!(f32, f64);

/// The shape of a list of rows: its length, then the rows' common shape.
#[track_caller]
fn rows_shape<F, T: Nested<F>>(rows: &[T]) -> Shape {
    let inner = rows.first().map_or_else(Shape::new, T::nested_shape);
    for (i, row) in rows.iter().enumerate().skip(1) {
        let s = row.nested_shape();
        if s != inner {
            panic!(
                "Tensor::from: row {i} has shape {:?} but row 0 has shape {:?}",
                s.as_slice(),
                inner.as_slice()
            );
        }
    }
    let mut shape: Shape = [rows.len()].into();
    shape.extend_from_slice(&inner);
    shape
}

impl<F, T: Nested<F>> Nested<F> for [T] {
    #[track_caller]
    fn nested_shape(&self) -> Shape {
        rows_shape(self)
    }
    fn append_to(&self, out: &mut Vec<F>) {
        for row in self {
            row.append_to(out);
        }
    }
}

impl<F, T: Nested<F>, const N: usize> Nested<F> for [T; N] {
    #[track_caller]
    fn nested_shape(&self) -> Shape {
        rows_shape(self.as_slice())
    }
    fn append_to(&self, out: &mut Vec<F>) {
        self.as_slice().append_to(out)
    }
}

impl<F, T: Nested<F>> Nested<F> for Vec<T> {
    #[track_caller]
    fn nested_shape(&self) -> Shape {
        rows_shape(self.as_slice())
    }
    fn append_to(&self, out: &mut Vec<F>) {
        self.as_slice().append_to(out)
    }
}

impl<F, T: Nested<F> + ?Sized> Nested<F> for &T {
    #[track_caller]
    fn nested_shape(&self) -> Shape {
        (**self).nested_shape()
    }
    fn append_to(&self, out: &mut Vec<F>) {
        (**self).append_to(out)
    }
}

impl<F: Float> Tensor<F> {
    /// The tensor of nested rows (what every `From` of nested values calls).
    #[track_caller]
    fn from_nested<T: Nested<F> + ?Sized>(rows: &T) -> Self {
        let shape = rows.nested_shape();
        let mut data = Vec::with_capacity(crate::shape::numel(&shape));
        rows.append_to(&mut data);
        Tensor::from_vec(data, &shape)
    }
}

/// A tensor from nested arrays, slices or `Vec`s of numbers; panics naming the row when rows
/// differ in shape. (One impl per container: a blanket `From<T: Nested>` would overlap
/// `From<Tensor>`.)
///
/// ```
/// use borel_autograd::Tensor;
/// let centers: &[[f32; 2]] = &[[-1.0, 0.0], [1.0, 2.0], [0.0, 3.0]];
/// assert_eq!(Tensor::from(centers).shape(), &[3, 2]);
/// assert_eq!(Tensor::from(vec![vec![1.0f64], vec![2.0]]).shape(), &[2, 1]);
/// assert_eq!(Tensor::from([[1.0f32, 2.0]]).shape(), &[1, 2]);
/// ```
impl<F: Float, T: Nested<F>, const N: usize> From<[T; N]> for Tensor<F> {
    #[track_caller]
    fn from(rows: [T; N]) -> Self {
        Self::from_nested(&rows)
    }
}

impl<F: Float, T: Nested<F>> From<&[T]> for Tensor<F> {
    #[track_caller]
    fn from(rows: &[T]) -> Self {
        Self::from_nested(rows)
    }
}

impl<F: Float, T: Nested<F>> From<Vec<T>> for Tensor<F> {
    #[track_caller]
    fn from(rows: Vec<T>) -> Self {
        Self::from_nested(&rows)
    }
}

macro_rules! scalar_from {
    ($($f:ty),*) => {$(
        /// A rank-0 tensor holding one number, as [`Tensor::scalar`].
        impl From<$f> for Tensor<$f> {
            fn from(v: $f) -> Self {
                Tensor::scalar(v)
            }
        }
    )*};
}

scalar_from!(f32, f64);

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn nested_rows_keep_row_major_order() {
        let t: Tensor<f64> = tensor![[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]];
        assert_eq!(t.shape(), &[2, 2, 2]);
        assert_eq!(t.at(&[1, 0, 1]), 6.0);
        assert_eq!(tensor![4.0f32].shape(), &[1]);
        let empty: Vec<f32> = vec![];
        assert_eq!(Tensor::from(empty).shape(), &[0]);
    }

    #[test]
    #[should_panic(expected = "Tensor::from: row 1 has shape [1] but row 0 has shape [2]")]
    fn ragged_rows_panic() {
        let _ = Tensor::<f64>::from(vec![vec![1.0, 2.0], vec![3.0]]);
    }
}
