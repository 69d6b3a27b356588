//! Shapes whose element count does not fit in `usize`, or whose buffer does not fit in the
//! address space, panic with the op's name; none reaches a kernel (the GEMM has no bounds
//! checks, so a wrapped count used to end in SIGSEGV).

use borel_autograd::{Tape, Tensor};

#[test]
#[should_panic(expected = "Tensor::zeros: shape [4294967296, 4294967296] has more elements than usize can count")]
fn zeros_of_an_uncountable_shape_panic() {
    let _ = Tensor::<f32>::zeros(&[1 << 32, 1 << 32]);
}

#[test]
#[should_panic(expected = "Tensor::from_vec: shape [4294967296, 4294967296]")]
fn from_vec_of_an_uncountable_shape_panics() {
    let _ = Tensor::<f32>::from_vec(vec![], &[1 << 32, 1 << 32]);
}

#[test]
#[should_panic(expected = "matmul: shape [8589934592, 8589934592] has more elements than usize can count")]
fn matmul_of_empty_operands_with_an_uncountable_product_panics() {
    let tape = Tape::<f32>::new();
    let a = tape.constant(Tensor::zeros(&[1 << 33, 0]));
    let b = tape.constant(Tensor::zeros(&[0, 1 << 33]));
    let _ = a.matmul(b);
}

#[test]
#[should_panic(expected = "do not fit in the address space")]
fn matmul_whose_product_cannot_be_addressed_panics() {
    let tape = Tape::<f32>::new();
    let a = tape.constant(Tensor::zeros(&[1 << 31, 0]));
    let b = tape.constant(Tensor::zeros(&[0, 1 << 31]));
    let _ = a.matmul(b);
}

#[test]
#[should_panic(expected = "reshape: shape [4294967296, 4294967296] has more elements")]
fn reshape_to_an_uncountable_shape_panics() {
    let _ = Tensor::<f32>::zeros(&[0]).reshape(&[1 << 32, 1 << 32]);
}

#[test]
#[should_panic(expected = "pad: 18446744073709551615 + 1 zeros overflow dim 0")]
fn pad_beyond_usize_panics() {
    let tape = Tape::<f32>::new();
    let _ = tape.var(Tensor::zeros(&[2])).pad(0, usize::MAX, 1);
}

#[test]
fn empty_tensors_with_large_dims_still_work() {
    let t = Tensor::<f32>::zeros(&[0, 1 << 40, 1 << 40]);
    assert_eq!(t.numel(), 0);
    let tape = Tape::<f32>::new();
    let a = tape.var(Tensor::zeros(&[3, 0]));
    let b = tape.var(Tensor::zeros(&[0, 4]));
    assert_eq!(a.matmul(b).value(), Tensor::zeros(&[3, 4]));
}
