//! Seeded mutation of files for the loader fuzz tests (weights, optimizer state, CSV): a
//! small deterministic generator and the edits a careless disk or a hostile user makes to a
//! safetensors file. Shared by the fuzz tests of `borel-nn`, `borel-optim` and `borel`.
#![allow(dead_code)]

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

/// The number of cases per fuzz test: `BOREL_FUZZ_CASES`, or `default` (kept small for CI).
pub fn cases(default: usize) -> usize {
    std::env::var("BOREL_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

thread_local!(static QUIET: Cell<bool> = const { Cell::new(false) });

/// Runs `f`, turning a panic into `Err(message)` without printing it (the test reports
/// panics itself, with the case that caused them); panics on other threads still print.
pub fn no_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                default(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let out = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(false));
    out.map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

/// Replaces the contents of `file` in place: truncating to zero and writing anew costs
/// milliseconds per case on some file systems, this microseconds (and a truncation only
/// where the file shrinks: even one to the same size costs more than the write).
pub fn rewrite(file: &std::fs::File, bytes: &[u8]) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = file;
    let old_len = f.metadata().unwrap().len();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.write_all(bytes).unwrap();
    if (bytes.len() as u64) < old_len {
        f.set_len(bytes.len() as u64).unwrap();
    }
}

/// SplitMix64: deterministic, seedable, no dependency.
pub struct Rng(u64);

impl Rng {
    /// A generator for case `case` of a test seeded with `seed`.
    pub fn new(seed: u64, case: u64) -> Self {
        Rng(seed ^ case.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// One element of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Bytes that change the meaning of a JSON header or a number written in it.
const HEADER_BYTES: &[u8] = b"0123456789{}[]\":,-.eE \x00\xff";
/// Numbers that probe the limits of shapes, offsets and step counts.
const TOKENS: &[&str] = &[
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775808",
    "4294967296",
    "2147483648",
    "-1",
    "1e9",
    "0",
    "65536",
    "[1,2,3,4,5,6,7,8]",
    "[]",
    "\"F64\"",
    "\"F32\"",
    "\"BF16\"",
    "null",
];

/// The header's extent: bytes `8..8 + n` when the length field fits the file.
fn header_end(b: &[u8]) -> usize {
    let n = b.get(..8).map_or(0, |l| u64::from_le_bytes(l.try_into().unwrap()));
    (8u64.saturating_add(n)).min(b.len() as u64) as usize
}

/// Values that make a tensor non-finite, huge, negative or subnormal, in `elem` bytes.
fn special_value(rng: &mut Rng, elem: usize) -> Vec<u8> {
    let v = *rng.pick(&[
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        3.0e38,
        -3.0e38,
        1e300,
        -1.0,
        -1e-3,
        0.0,
        1e-40,
    ]);
    if elem == 4 {
        (v as f32).to_le_bytes().to_vec()
    } else {
        v.to_le_bytes().to_vec()
    }
}

/// One to three random edits of a safetensors file whose tensors have `elem`-byte elements;
/// returns the edited bytes and the names of the edits.
pub fn mutate(rng: &mut Rng, original: &[u8], elem: usize) -> (Vec<u8>, Vec<&'static str>) {
    let mut b = original.to_vec();
    let mut kinds = Vec::new();
    for _ in 0..1 + rng.below(3) {
        kinds.push(edit(rng, &mut b, elem));
    }
    (b, kinds)
}

fn edit(rng: &mut Rng, b: &mut Vec<u8>, elem: usize) -> &'static str {
    let h = header_end(b);
    let in_header = |rng: &mut Rng| 8 + rng.below(h.saturating_sub(8).max(1));
    match rng.below(10) {
        _ if b.is_empty() => {
            b.push(rng.next() as u8);
            "extend"
        }
        0 => {
            let i = if rng.below(2) == 0 && h > 8 {
                in_header(rng)
            } else {
                rng.below(b.len())
            };
            let i = i.min(b.len() - 1);
            b[i] ^= 1 << rng.below(8);
            "bit flip"
        }
        1 if h > 8 => {
            let i = in_header(rng).min(b.len() - 1);
            b[i] = *rng.pick(HEADER_BYTES);
            "header byte"
        }
        2 if b.len() > h + elem => {
            let i = h + rng.below((b.len() - h) / elem) * elem;
            let v = special_value(rng, elem);
            let end = (i + elem).min(b.len());
            b[i..end].copy_from_slice(&v[..end - i]);
            "data value"
        }
        3 => {
            b.truncate(rng.below(b.len()));
            "truncate"
        }
        4 => {
            let n = 1 + rng.below(64);
            b.extend((0..n).map(|_| rng.next() as u8));
            "extend"
        }
        5 if b.len() >= 8 => {
            let n = u64::from_le_bytes(b[..8].try_into().unwrap());
            let new = match rng.below(4) {
                0 => rng.next(),
                1 => n.wrapping_add(rng.below(17) as u64).wrapping_sub(8),
                2 => *rng.pick(&[0, 1, u64::MAX, 1 << 63, 100 << 20, (100 << 20) + 1]),
                _ => n ^ (1 << rng.below(64)),
            };
            b[..8].copy_from_slice(&new.to_le_bytes());
            "header length"
        }
        6 | 7 if h > 8 => digit_or_token(rng, b, h),
        8 if h > 8 && rng.below(2) == 0 => reverse_a_shape(rng, b, h),
        8 if h > 8 => {
            let i = in_header(rng).min(b.len());
            if rng.below(2) == 0 {
                b.insert(i, *rng.pick(HEADER_BYTES));
            } else if i < b.len() {
                b.remove(i);
            }
            "header insert/delete"
        }
        _ => {
            let i = rng.below(b.len());
            b[i] = rng.next() as u8;
            "random byte"
        }
    }
}

/// Replaces a random digit of the header by another digit, or by a whole token, and keeps
/// the length field consistent half the time (so the JSON parser, not the length check,
/// sees the edit).
fn digit_or_token(rng: &mut Rng, b: &mut Vec<u8>, h: usize) -> &'static str {
    let digits: Vec<usize> = (8..h).filter(|&i| b[i].is_ascii_digit()).collect();
    if digits.is_empty() {
        return "no digit";
    }
    let i = *rng.pick(&digits);
    if rng.below(2) == 0 {
        b[i] = b'0' + rng.below(10) as u8;
        return "header digit";
    }
    let tok = rng.pick(TOKENS).as_bytes();
    b.splice(i..i + 1, tok.iter().copied());
    if rng.below(2) == 0 {
        let n = (h - 8 + tok.len() - 1) as u64;
        b[..8].copy_from_slice(&n.to_le_bytes());
    }
    "header token"
}

/// Reverses the dimensions of one tensor's shape in the header: a file that is well formed
/// but holds a transposed tensor.
fn reverse_a_shape(rng: &mut Rng, b: &mut [u8], h: usize) -> &'static str {
    let key = b"\"shape\":[";
    let starts: Vec<usize> = (8..h.saturating_sub(key.len()))
        .filter(|&i| b[i..].starts_with(key))
        .map(|i| i + key.len())
        .collect();
    if starts.is_empty() {
        return "no shape";
    }
    let start = *rng.pick(&starts);
    let Some(len) = b[start..h].iter().position(|&c| c == b']') else {
        return "no shape";
    };
    let dims: Vec<Vec<u8>> = b[start..start + len]
        .split(|&c| c == b',')
        .map(<[u8]>::to_vec)
        .rev()
        .collect();
    b[start..start + len].copy_from_slice(&dims.join(&b',')); // same bytes, same length
    "reverse shape"
}
