//! Weight files in the safetensors format, readable by PyTorch and other tools.
//!
//! Saving writes a temporary file beside the target and renames it into place, so a crash
//! never leaves a half-written file under the real name. Loading checks every name, dtype and
//! shape before touching the model: on any error the parameters stay bit-identical.

use std::collections::HashMap;
use std::path::Path;

use borel_autograd::io::{self, FileError};
use borel_autograd::{Float, Tensor};

use borel_autograd::ParamStore;

use crate::layers::{Dense, ParamNames};
use crate::norm::NORM_PARAM_NAMES;

/// How parameter names and kernel layouts map to the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Layout {
    /// Names as in the store (`0.kernel` of shape `[in, out]`, as Keras keeps kernels).
    #[default]
    Borel,
    /// PyTorch's names, as each layer gives them: a [`crate::Dense`]'s `X.kernel` is stored
    /// as `X.weight` with shape `[out, in]` (transposed), as in `nn.Linear`; a
    /// [`crate::BatchNorm`]'s `gamma`, `beta`, `moving_mean`, `moving_variance` as `weight`,
    /// `bias`, `running_mean`, `running_var` (as in `nn.BatchNorm1d`); other names are unchanged.
    /// PyTorch's int64 `num_batches_tracked` loads (exactly); Borel writes it as a float,
    /// which `load_state_dict` casts back.
    PyTorch,
}

/// Every layer's parameter names in each layout.
const LAYERS: [&[ParamNames]; 2] = [&Dense::PARAM_NAMES, &NORM_PARAM_NAMES];

/// The names of the layer parameter `name` ends with (`X.kernel`), with its stem (`X`).
fn layer_param(name: &str) -> Option<(&str, ParamNames)> {
    let (stem, last) = name.rsplit_once('.')?;
    let names = LAYERS.iter().flat_map(|l| l.iter()).find(|n| n.store == last)?;
    Some((stem, *names))
}

fn file_name(name: &str, layout: Layout) -> String {
    match (layout, layer_param(name)) {
        (Layout::PyTorch, Some((stem, names))) => format!("{stem}.{}", names.pytorch),
        _ => name.to_string(),
    }
}

fn transposes(name: &str, t_rank: usize, layout: Layout) -> bool {
    let transposed = layer_param(name).is_some_and(|(_, n)| n.transposed_in_pytorch);
    layout == Layout::PyTorch && transposed && t_rank == 2
}

fn transpose<F: Float>(t: &Tensor<F>) -> Tensor<F> {
    let (r, c) = (t.shape()[0], t.shape()[1]);
    Tensor::from_fn(&[c, r], |i| t.data()[(i % r) * c + i / r])
}

/// Weight files for a [`ParamStore`]: `use borel_nn::WeightFile` to call these on a store.
///
/// ```
/// use borel_nn::{Dense, Layout, ParamStore, Sequential, WeightFile};
/// let mut store = ParamStore::<f32>::new();
/// let _model = Sequential::new().add(Dense::new(3).input_dim(2)).build(&mut store, 0);
/// let path = std::env::temp_dir().join("borel_doc_weights.safetensors");
/// store.save(&path, Layout::Borel).unwrap();
/// let mut other = ParamStore::<f32>::new();
/// let _twin = Sequential::new().add(Dense::new(3).input_dim(2)).build(&mut other, 1);
/// other.load(&path, Layout::Borel).unwrap();
/// assert_eq!(other.snapshot(), store.snapshot());
/// ```
pub trait WeightFile {
    /// Writes every parameter to `path` in the safetensors format, atomically.
    fn save(&self, path: impl AsRef<Path>, layout: Layout) -> Result<(), FileError>;
    /// The safetensors bytes of every parameter.
    fn to_safetensors(&self, layout: Layout) -> Vec<u8>;
    /// Loads every parameter from `path`. Names, dtypes and shapes must all match (extra
    /// tensors in the file are an error too), and every value must be finite; on any error
    /// nothing is changed.
    fn load(&mut self, path: impl AsRef<Path>, layout: Layout) -> Result<(), FileError>;
    /// [`WeightFile::load`] that accepts NaN and infinite values.
    fn load_allowing_non_finite(&mut self, path: impl AsRef<Path>, layout: Layout) -> Result<(), FileError>;
    /// [`WeightFile::load`] from bytes in memory; `path` only labels errors.
    fn load_bytes(&mut self, bytes: &[u8], path: &Path, layout: Layout) -> Result<(), FileError>;
}

impl<F: Float> WeightFile for ParamStore<F> {
    fn save(&self, path: impl AsRef<Path>, layout: Layout) -> Result<(), FileError> {
        io::write_tensors(path.as_ref(), &file_tensors(self, layout), &[])
    }

    fn to_safetensors(&self, layout: Layout) -> Vec<u8> {
        io::encode(&file_tensors(self, layout), &[])
    }

    fn load(&mut self, path: impl AsRef<Path>, layout: Layout) -> Result<(), FileError> {
        let path = path.as_ref();
        let values = values_from(self, io::read_tensors(path)?, path, layout, false)?;
        self.restore(&values);
        Ok(())
    }

    fn load_allowing_non_finite(&mut self, path: impl AsRef<Path>, layout: Layout) -> Result<(), FileError> {
        let path = path.as_ref();
        let values = values_from(self, io::read_tensors(path)?, path, layout, true)?;
        self.restore(&values);
        Ok(())
    }

    fn load_bytes(&mut self, bytes: &[u8], path: &Path, layout: Layout) -> Result<(), FileError> {
        let values = values_from(self, io::decode(bytes, path)?, path, layout, false)?;
        self.restore(&values);
        Ok(())
    }
}

/// The store's parameters as the file holds them.
fn file_tensors<F: Float>(store: &ParamStore<F>, layout: Layout) -> Vec<(String, Tensor<F>)> {
    store
        .iter()
        .map(|(_, name, t)| {
            let t = if transposes(name, t.rank(), layout) {
                transpose(t)
            } else {
                t.clone()
            };
            (file_name(name, layout), t)
        })
        .collect()
}

/// One value per parameter of `store`, in its order, from `file`: every parameter present
/// with its shape (and finite unless allowed), no tensor left over.
fn values_from<F: Float>(
    store: &ParamStore<F>,
    file: io::TensorFile<F>,
    path: &Path,
    layout: Layout,
    allow_non_finite: bool,
) -> Result<Vec<Tensor<F>>, FileError> {
    let mut by_name: HashMap<String, Tensor<F>> = file.tensors.into_iter().collect();
    let mut values = Vec::with_capacity(store.len());
    for (_, name, current) in store.iter() {
        let fname = file_name(name, layout);
        let value = by_name.remove(&fname).ok_or_else(|| FileError::Missing {
            path: path.into(),
            name: fname.clone(),
            param: name.to_string(),
        })?;
        let t = transposes(name, current.rank(), layout);
        let mut expected = current.shape().to_vec();
        if t {
            expected.reverse();
        }
        if value.shape() != expected.as_slice() {
            return Err(FileError::Shape {
                path: path.into(),
                name: fname,
                expected,
                found: value.shape().to_vec(),
            });
        }
        if !allow_non_finite {
            io::check_finite(&value, &fname, path)?;
        }
        values.push(if t { transpose(&value) } else { value });
    }
    match by_name.into_keys().min() {
        Some(name) => Err(FileError::Unexpected {
            path: path.into(),
            name,
        }),
        None => Ok(values),
    }
}
