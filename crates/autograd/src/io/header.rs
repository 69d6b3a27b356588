//! A safetensors header, parsed once and checked: valid UTF-8 JSON, no name twice (a JSON
//! map would silently keep the last), offsets that tile the data and sizes that match each
//! tensor's shape and dtype (safetensors' own validation).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use safetensors::tensor::{Metadata, TensorInfo};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

use super::{FileError, format_error};

/// The checked header in `bytes` (the JSON after the 8-byte length).
pub(super) fn parse(bytes: &[u8], path: &Path) -> Result<Metadata, FileError> {
    let bad = |message: String| format_error(path, message);
    let text = std::str::from_utf8(bytes).map_err(|e| bad(format!("the header is not UTF-8: {e}")))?;
    let mut json = serde_json::Deserializer::from_str(text);
    let entries = (&mut json)
        .deserialize_map(EntriesVisitor)
        .and_then(|entries| json.end().map(|()| entries))
        .map_err(|e| bad(format!("the header is not a safetensors header: {e}")))?;
    if let Some(name) = entries.twice {
        return Err(bad(format!("the header names '{name}' twice")));
    }
    let mut tensors = entries.tensors;
    // safetensors' validation walks the tensors in data order
    tensors.sort_by_key(|(_, info)| info.data_offsets);
    Metadata::new(entries.meta, tensors).map_err(|e| bad(e.to_string()))
}

/// The header's entries in file order: the metadata, the tensors, and the first name that
/// appears twice.
struct Entries {
    meta: Option<HashMap<String, String>>,
    tensors: Vec<(String, TensorInfo)>,
    twice: Option<String>,
}

struct EntriesVisitor;

impl<'de> Visitor<'de> for EntriesVisitor {
    type Value = Entries;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object of tensors")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
        let mut entries = Entries {
            meta: None,
            tensors: Vec::new(),
            twice: None,
        };
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                entries.twice.get_or_insert(key);
                map.next_value::<IgnoredAny>()?;
            } else if key == "__metadata__" {
                entries.meta = Some(map.next_value()?);
            } else {
                let info: TensorInfo = map.next_value()?;
                entries.tensors.push((key, info));
            }
        }
        Ok(entries)
    }
}
