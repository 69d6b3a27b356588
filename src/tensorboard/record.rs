//! The bytes of an event file: TensorFlow's `Event` protobuf, its few fields encoded by hand,
//! framed as TFRecords.
//!
//! The fields, from TensorFlow's `event.proto`, `summary.proto` and `histogram.proto`:
//! `Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }`,
//! `Summary { repeated Value value = 1; }`,
//! `Summary.Value { string tag = 1; float simple_value = 2; HistogramProto histo = 5; }`,
//! `HistogramProto { double min = 1; double max = 2; double num = 3; double sum = 4;
//! double sum_squares = 5; repeated double bucket_limit = 6 [packed]; repeated double bucket = 7 [packed]; }`.

use std::io::{self, Write};

/// Protobuf wire types used here.
const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LENGTH_DELIMITED: u64 = 2;
const FIXED32: u64 = 5;

/// A protobuf message being encoded: fields are appended in the order they are written.
#[derive(Clone, Debug, Default)]
pub(crate) struct Message(Vec<u8>);

impl Message {
    pub(crate) fn new() -> Self {
        Message::default()
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire_type: u64) {
        self.varint((u64::from(field) << 3) | wire_type);
    }

    /// A `double` field.
    pub(crate) fn double(mut self, field: u32, v: f64) -> Self {
        self.key(field, FIXED64);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A `float` field.
    pub(crate) fn float(mut self, field: u32, v: f32) -> Self {
        self.key(field, FIXED32);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// An `int64` field (negative values take ten bytes, as protobuf says).
    pub(crate) fn int64(mut self, field: u32, v: i64) -> Self {
        self.key(field, VARINT);
        self.varint(v as u64);
        self
    }

    /// A `string` or `bytes` field.
    pub(crate) fn bytes(mut self, field: u32, data: &[u8]) -> Self {
        self.key(field, LENGTH_DELIMITED);
        self.varint(data.len() as u64);
        self.0.extend_from_slice(data);
        self
    }

    /// A nested message.
    pub(crate) fn message(self, field: u32, m: &Message) -> Self {
        self.bytes(field, &m.0)
    }

    /// A packed `repeated double` field.
    pub(crate) fn packed_doubles(mut self, field: u32, values: &[f64]) -> Self {
        self.key(field, LENGTH_DELIMITED);
        self.varint(8 * values.len() as u64);
        for v in values {
            self.0.extend_from_slice(&v.to_le_bytes());
        }
        self
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Field numbers of `Event`.
mod event {
    pub const WALL_TIME: u32 = 1;
    pub const STEP: u32 = 2;
    pub const FILE_VERSION: u32 = 3;
    pub const SUMMARY: u32 = 5;
}

/// Field numbers of `Summary` and `Summary.Value`.
mod summary {
    pub const VALUE: u32 = 1;
    pub const TAG: u32 = 1;
    pub const SIMPLE_VALUE: u32 = 2;
    pub const HISTO: u32 = 5;
}

/// The version every event file declares in its first record; readers check it.
pub(crate) const FILE_VERSION: &str = "brain.Event:2";

/// The first event of a file: its wall time and the file version.
pub(crate) fn file_version_event(wall_time: f64) -> Message {
    Message::new()
        .double(event::WALL_TIME, wall_time)
        .bytes(event::FILE_VERSION, FILE_VERSION.as_bytes())
}

/// An event holding one summary value (`value` is a `Summary.Value` from [`scalar_value`] or
/// [`histogram_value`]).
pub(crate) fn summary_event(wall_time: f64, step: i64, value: &Message) -> Message {
    let summary = Message::new().message(summary::VALUE, value);
    Message::new()
        .double(event::WALL_TIME, wall_time)
        .int64(event::STEP, step)
        .message(event::SUMMARY, &summary)
}

/// A scalar as `simple_value`, the form TensorBoard's readers map to scalars (see the module
/// doc of `crate::tensorboard`).
pub(crate) fn scalar_value(tag: &str, value: f32) -> Message {
    Message::new()
        .bytes(summary::TAG, tag.as_bytes())
        .float(summary::SIMPLE_VALUE, value)
}

/// A histogram as a `HistogramProto` under `histo`.
pub(crate) fn histogram_value(tag: &str, histogram: &Message) -> Message {
    Message::new()
        .bytes(summary::TAG, tag.as_bytes())
        .message(summary::HISTO, histogram)
}

/// CRC-32C of `data`, masked as TFRecord does, so that a CRC stored inside checksummed data
/// does not checksum to a fixed value.
pub(crate) fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Writes `data` as one TFRecord: its length (u64, little-endian), the masked CRC of those
/// eight bytes, the data, the masked CRC of the data.
pub(crate) fn write_record(out: &mut impl Write, data: &[u8]) -> io::Result<()> {
    let len = (data.len() as u64).to_le_bytes();
    out.write_all(&len)?;
    out.write_all(&masked_crc(&len).to_le_bytes())?;
    out.write_all(data)?;
    out.write_all(&masked_crc(data).to_le_bytes())
}

#[cfg(test)]
pub(crate) mod decode {
    //! A minimal reader of what this module writes, for tests that run without TensorBoard.

    use super::masked_crc;

    /// One decoded field: its number and its value.
    #[derive(Clone, Debug, PartialEq)]
    pub enum Field {
        Varint(u32, u64),
        Fixed64(u32, [u8; 8]),
        Bytes(u32, Vec<u8>),
        Fixed32(u32, [u8; 4]),
    }

    fn varint(data: &[u8], at: &mut usize) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = data[*at];
            *at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                break;
            }
        }
        v
    }

    /// The fields of one message, in order.
    pub fn fields(data: &[u8]) -> Vec<Field> {
        let (mut at, mut out) = (0, vec![]);
        while at < data.len() {
            let key = varint(data, &mut at);
            let field = (key >> 3) as u32;
            let take = |at: &mut usize, n: usize| {
                *at += n;
                data[*at - n..*at].to_vec()
            };
            out.push(match key & 7 {
                0 => Field::Varint(field, varint(data, &mut at)),
                1 => Field::Fixed64(field, take(&mut at, 8).try_into().unwrap()),
                2 => {
                    let n = varint(data, &mut at) as usize;
                    Field::Bytes(field, take(&mut at, n))
                }
                5 => Field::Fixed32(field, take(&mut at, 4).try_into().unwrap()),
                w => panic!("wire type {w} is never written"),
            });
        }
        out
    }

    /// The records of a file, each checked against its two CRCs.
    pub fn records(file: &[u8]) -> Vec<Vec<u8>> {
        let (mut at, mut out) = (0, vec![]);
        while at < file.len() {
            let len_bytes = &file[at..at + 8];
            let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
            let len_crc = u32::from_le_bytes(file[at + 8..at + 12].try_into().unwrap());
            assert_eq!(len_crc, masked_crc(len_bytes), "length CRC of the record at byte {at}");
            let data = &file[at + 12..at + 12 + len];
            let data_crc = u32::from_le_bytes(file[at + 12 + len..at + 16 + len].try_into().unwrap());
            assert_eq!(data_crc, masked_crc(data), "data CRC of the record at byte {at}");
            out.push(data.to_vec());
            at += 16 + len;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::decode::{Field, fields, records};
    use super::*;

    #[test]
    fn crc32c_and_its_mask_match_the_references() {
        // The check value of CRC-32C (Castagnoli), from the CRC catalogue.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        // Masked values from TensorBoard's own pure-Python implementation
        // (tensorboard.compat.tensorflow_stub.pywrap_tensorflow.masked_crc32c).
        assert_eq!(masked_crc(b"123456789"), 0xc78a_b0e5);
        assert_eq!(masked_crc(&0u64.to_le_bytes()), 0x0798_0329);
        assert_eq!(masked_crc(&24u64.to_le_bytes()), 0x224b_7fa3);
    }

    #[test]
    fn varints_and_negative_steps_encode_as_protobuf_says() {
        // Protobuf's documented example: 150 is 0x96 0x01 after the key 0x08.
        assert_eq!(Message::new().int64(1, 150).as_bytes(), &[0x08, 0x96, 0x01]);
        let minus_one = Message::new().int64(2, -1);
        assert_eq!(minus_one.as_bytes().len(), 11);
        assert_eq!(fields(minus_one.as_bytes()), vec![Field::Varint(2, u64::MAX)]);
    }

    #[test]
    fn a_scalar_event_decodes_field_by_field() {
        let event = summary_event(12.5, 7, &scalar_value("loss", 0.25));
        let top = fields(event.as_bytes());
        assert_eq!(top[0], Field::Fixed64(1, 12.5f64.to_le_bytes()));
        assert_eq!(top[1], Field::Varint(2, 7));
        let Field::Bytes(5, summary) = &top[2] else {
            panic!("no summary in {top:?}")
        };
        let Field::Bytes(1, value) = &fields(summary)[0] else {
            panic!("no value")
        };
        assert_eq!(
            fields(value),
            vec![
                Field::Bytes(1, b"loss".to_vec()),
                Field::Fixed32(2, 0.25f32.to_le_bytes())
            ]
        );
    }

    #[test]
    fn records_carry_their_length_and_both_crcs() {
        let mut file = vec![];
        write_record(&mut file, file_version_event(1.0).as_bytes()).unwrap();
        write_record(&mut file, b"").unwrap();
        let recs = records(&file);
        assert_eq!(recs.len(), 2);
        assert_eq!(fields(&recs[0])[1], Field::Bytes(3, b"brain.Event:2".to_vec()));
        assert!(recs[1].is_empty());
        // A flipped bit in the data is caught by its CRC.
        let mut bad = file.clone();
        bad[14] ^= 1;
        assert!(std::panic::catch_unwind(|| records(&bad)).is_err());
    }
}
