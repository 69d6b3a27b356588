//! Structural edits of safetensors files for the loader fuzz tests (weights, optimizer
//! state): a file is taken apart into its metadata and its tensors, one field changes (a rank
//! from 0 to 9, a dim of 0 or huge, offsets past the end or overlapping, a name twice, a
//! dtype the reader does not use, a tensor removed, added or renamed, metadata), and the file
//! is put together again. Offsets are recomputed unless the edit is about them, so most edits
//! pass safetensors' own validation and reach the loader's checks.
#![allow(dead_code)]

use crate::mutate::{Rng, mutate};

/// A safetensors file taken apart.
#[derive(Clone)]
pub struct Parts {
    /// The header's metadata, sorted by key.
    meta: Vec<(String, String)>,
    /// The tensors in data order.
    entries: Vec<Entry>,
}

/// One tensor: header fields as JSON tokens, so that they can hold what no valid file does.
#[derive(Clone)]
struct Entry {
    name: String,
    dtype: String,
    dims: Vec<String>,
    /// Explicit offsets; `None` places the tensor right after the previous one.
    offsets: Option<(u128, u128)>,
    bytes: Vec<u8>,
}

/// Dtypes and their sizes in bits: every one safetensors knows, and one it does not.
const DTYPES: &[(&str, usize)] = &[
    ("F32", 32),
    ("F64", 64),
    ("F16", 16),
    ("BF16", 16),
    ("I64", 64),
    ("I32", 32),
    ("U8", 8),
    ("BOOL", 8),
    ("F8_E4M3", 8),
    ("C64", 64),
    ("F4", 4),
    ("F6_E2M3", 6),
    ("F128", 128),
];

/// Dims at and beyond every limit: zero, 2^32, 2^53, 2^63, 2^64 - 1, 2^64, negative, fractional.
const HUGE_DIMS: &[&str] = &[
    "0",
    "4294967296",
    "9007199254740992",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "-1",
    "1.5",
];

/// Metadata values that probe a reader's ranges (step counts, dtypes).
const META_VALUES: &[&str] = &[
    "0",
    "1",
    "9007199254740991",
    "9007199254740992",
    "18446744073709551615",
    "18446744073709551616",
    "-1",
    "1e3",
    "",
    "f64",
    "f32",
    "bf16",
];

impl Parts {
    /// Takes apart a valid safetensors file.
    pub fn parse(bytes: &[u8]) -> Parts {
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes).expect("a valid file");
        let file = safetensors::SafeTensors::deserialize(bytes).expect("a valid file");
        let entries = header
            .offset_keys()
            .into_iter()
            .map(|name| {
                let view = file.tensor(&name).unwrap();
                Entry {
                    dtype: format!("{:?}", view.dtype()),
                    dims: view.shape().iter().map(usize::to_string).collect(),
                    offsets: None,
                    bytes: view.data().to_vec(),
                    name,
                }
            })
            .collect();
        let mut meta: Vec<_> = header.metadata().clone().unwrap_or_default().into_iter().collect();
        meta.sort();
        Parts { meta, entries }
    }

    /// The file, with the header in a fixed order (sorted metadata, tensors in data order).
    pub fn to_bytes(&self) -> Vec<u8> {
        use std::fmt::Write;
        let mut header = String::with_capacity(64 + 96 * self.entries.len());
        header.push('{');
        if !self.meta.is_empty() {
            header.push_str("\"__metadata__\":{");
            for (i, (k, v)) in self.meta.iter().enumerate() {
                let comma = if i > 0 { "," } else { "" };
                let _ = write!(header, "{comma}\"{k}\":\"{v}\"");
            }
            header.push('}');
        }
        let mut at = 0u128;
        for (i, e) in self.entries.iter().enumerate() {
            let (start, end) = e.offsets.unwrap_or((at, at + e.bytes.len() as u128));
            at += e.bytes.len() as u128;
            let comma = if i > 0 || !self.meta.is_empty() { "," } else { "" };
            let _ = write!(header, "{comma}\"{}\":{{\"dtype\":\"{}\",\"shape\":[", e.name, e.dtype);
            for (d, dim) in e.dims.iter().enumerate() {
                header.push_str(if d > 0 { "," } else { "" });
                header.push_str(dim);
            }
            let _ = write!(header, "],\"data_offsets\":[{start},{end}]}}");
        }
        header.push('}');
        while header.len() % 8 != 0 {
            header.push(' ');
        }
        let data_len: usize = self.entries.iter().map(|e| e.bytes.len()).sum();
        let mut out = Vec::with_capacity(8 + header.len() + data_len);
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        self.entries.iter().for_each(|e| out.extend_from_slice(&e.bytes));
        out
    }

    /// One structural edit (two, one time in four); returns its names.
    pub fn edit(&mut self, rng: &mut Rng) -> Vec<&'static str> {
        let n = if rng.below(4) == 0 { 2 } else { 1 };
        (0..n).map(|_| self.edit_once(rng)).collect()
    }

    fn edit_once(&mut self, rng: &mut Rng) -> &'static str {
        if self.entries.is_empty() || rng.below(10) == 0 {
            return self.edit_meta(rng);
        }
        let i = rng.below(self.entries.len());
        match rng.below(9) {
            0 => self.entries[i].set_rank(rng),
            1 => self.entries[i].set_huge_dim(rng),
            2 => self.entries[i].set_dtype(rng),
            3 => self.move_offsets(rng, i),
            4 => {
                let twin = self.entries[i].clone();
                self.entries.insert(rng.below(self.entries.len() + 1), twin);
                "name twice"
            }
            5 => {
                self.entries[i].name = self.entries[rng.below(self.entries.len())].name.clone();
                "renamed to another's name"
            }
            6 => self.entries[i].rename(rng),
            7 => {
                self.entries.remove(i);
                "tensor removed"
            }
            _ => {
                let mut extra = self.entries[i].clone();
                extra.name = format!("{}.extra", extra.name);
                self.entries.push(extra);
                "tensor added"
            }
        }
    }

    /// Offsets past the end, overlapping another tensor's, reversed or off by a few bytes.
    fn move_offsets(&mut self, rng: &mut Rng, i: usize) -> &'static str {
        let total: u128 = self.entries.iter().map(|e| e.bytes.len() as u128).sum();
        let start: u128 = self.entries[..i].iter().map(|e| e.bytes.len() as u128).sum();
        let len = self.entries[i].bytes.len() as u128;
        let other = rng.below(self.entries.len());
        let other_start: u128 = self.entries[..other].iter().map(|e| e.bytes.len() as u128).sum();
        let wiggle = rng.below(9) as u128;
        self.entries[i].offsets = Some(match rng.below(5) {
            0 => (start, total + 1 + wiggle),
            1 => (total + wiggle, total + wiggle + len),
            2 => (other_start, other_start + len),
            3 => (start + len, start),
            _ => (start + wiggle, start + wiggle + len),
        });
        "offsets moved"
    }

    fn edit_meta(&mut self, rng: &mut Rng) -> &'static str {
        let key = rng.pick(&["step", "dtype", "other"]).to_string();
        self.meta.retain(|(k, _)| *k != key);
        if rng.below(4) != 0 {
            self.meta.push((key, rng.pick(META_VALUES).to_string()));
            self.meta.sort();
            "metadata value"
        } else {
            "metadata removed"
        }
    }
}

impl Entry {
    fn numel(&self) -> Option<u128> {
        self.dims
            .iter()
            .try_fold(1u128, |n, d| n.checked_mul(d.parse::<u128>().unwrap_or(1)))
    }

    /// Rank 0 to 9 with as many elements as before where possible (so the byte count still
    /// fits and only the rank is wrong), or with a dim of 0 and no bytes.
    fn set_rank(&mut self, rng: &mut Rng) -> &'static str {
        let rank = rng.below(10);
        let n = self.numel().unwrap_or(1).to_string();
        self.dims = vec!["1".to_string(); rank];
        if rank > 0 {
            let zero = rng.below(4) == 0;
            self.dims[rng.below(rank)] = if zero { "0".to_string() } else { n };
            if zero {
                self.bytes.clear();
            }
        }
        "rank"
    }

    /// One dim replaced by a huge, zero, negative or fractional one; with another dim of 0
    /// half the time, so that the count of elements is 0 and the byte count fits.
    fn set_huge_dim(&mut self, rng: &mut Rng) -> &'static str {
        if self.dims.is_empty() {
            self.dims.push("1".into());
        }
        let d = rng.below(self.dims.len());
        self.dims[d] = rng.pick(HUGE_DIMS).to_string();
        if rng.below(2) == 0 {
            self.dims.push("0".into());
            self.bytes.clear();
        }
        "huge or zero dim"
    }

    /// Another dtype, with the byte count made to fit it (safetensors checks that).
    fn set_dtype(&mut self, rng: &mut Rng) -> &'static str {
        let (dtype, bits) = *rng.pick(DTYPES);
        self.dtype = dtype.to_string();
        let bytes = (self.numel().unwrap_or(0) * bits as u128).div_ceil(8) as usize;
        self.bytes.resize(bytes.min(1 << 20), 0x3f);
        "dtype"
    }

    fn rename(&mut self, rng: &mut Rng) -> &'static str {
        let name = std::mem::take(&mut self.name);
        self.name = match rng.below(5) {
            0 => format!("{name}/9"),
            1 => name.replace('0', "1"),
            2 => name.trim_end_matches(|c: char| c.is_ascii_digit()).to_string(),
            3 => String::new(),
            _ => format!("{name}é"),
        };
        "renamed"
    }
}

/// A fuzz case's file: a structural edit of `parts` (half the cases, followed by byte edits
/// one time in five) or byte edits of `bytes`, the same file whole, whose tensors have
/// `elem`-byte elements. Returns the bytes and the edits' names.
pub fn mutated(rng: &mut Rng, parts: &Parts, bytes: &[u8], elem: usize) -> (Vec<u8>, Vec<&'static str>) {
    if rng.below(2) == 0 {
        return mutate(rng, bytes, elem);
    }
    let mut parts = parts.clone();
    let mut edits = parts.edit(rng);
    let mut bytes = parts.to_bytes();
    if rng.below(5) == 0 {
        let (more_bytes, more) = mutate(rng, &bytes, elem);
        bytes = more_bytes;
        edits.extend(more);
    }
    (bytes, edits)
}

/// A name for the kind of a loader's error, for the fuzz tests' tallies.
pub fn file_error_kind(e: &borel_autograd::io::FileError) -> &'static str {
    use borel_autograd::io::FileError;
    match e {
        FileError::Io { .. } => "io",
        FileError::Format { .. } => "format",
        FileError::Missing { .. } => "missing",
        FileError::Unexpected { .. } => "unexpected",
        FileError::Shape { .. } => "shape",
        FileError::Dtype { .. } => "dtype",
        FileError::NonFinite { .. } => "non-finite",
        FileError::Mismatch { message, .. } if message.contains(" has rank ") => "rank",
        FileError::Mismatch { .. } => "mismatch",
    }
}

/// Prints a fuzz test's counts where the test log shows them, passed or failed: `eprintln!`
/// output of a passing test is captured, a direct write to stderr is not.
pub fn report(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
}
