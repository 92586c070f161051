//! Reading tables, the same way in read and write transactions.

use std::ops::Bound;

use peer_store::StoreError;
use redb::ReadableTable;
use serde::de::DeserializeOwned;

use crate::codec::decode;
use crate::error::storage;

/// Entries read from a table: (key, value) pairs.
pub(crate) type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Any table of this crate, read-only or open for writing.
pub(crate) trait Tbl: ReadableTable<&'static [u8], &'static [u8]> {}

impl<T: ReadableTable<&'static [u8], &'static [u8]>> Tbl for T {}

/// The value at `key`, decoded.
pub(crate) fn get<V: DeserializeOwned>(
    t: &impl Tbl,
    key: &[u8],
    what: &str,
) -> Result<Option<V>, StoreError> {
    match t.get(key).map_err(storage)? {
        Some(v) => decode(v.value(), what).map(Some),
        None => Ok(None),
    }
}

/// The raw value at `key`.
pub(crate) fn get_raw(t: &impl Tbl, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(t.get(key).map_err(storage)?.map(|v| v.value().to_vec()))
}

/// True when `key` is stored.
pub(crate) fn exists(t: &impl Tbl, key: &[u8]) -> Result<bool, StoreError> {
    Ok(t.get(key).map_err(storage)?.is_some())
}

/// Up to `limit` (key, value) pairs whose key starts with `prefix`, from
/// `start` (a key with that prefix, or the prefix itself), ascending.
pub(crate) fn scan(
    t: &impl Tbl,
    prefix: &[u8],
    start: Bound<&[u8]>,
    limit: usize,
) -> Result<Entries, StoreError> {
    let mut out = Vec::new();
    if limit == 0 {
        return Ok(out);
    }
    let range = t
        .range::<&[u8]>((start, Bound::Unbounded))
        .map_err(storage)?;
    for item in range {
        let (k, v) = item.map_err(storage)?;
        let key = k.value();
        if !key.starts_with(prefix) {
            break;
        }
        out.push((key.to_vec(), v.value().to_vec()));
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

/// Up to `limit` (key, value) pairs whose key starts with `prefix` and is
/// below `end`, descending.
pub(crate) fn scan_back(
    t: &impl Tbl,
    prefix: &[u8],
    end: &[u8],
    limit: usize,
) -> Result<Entries, StoreError> {
    let mut out = Vec::new();
    if limit == 0 {
        return Ok(out);
    }
    let range = t
        .range::<&[u8]>((Bound::Included(prefix), Bound::Excluded(end)))
        .map_err(storage)?;
    for item in range.rev() {
        let (k, v) = item.map_err(storage)?;
        out.push((k.value().to_vec(), v.value().to_vec()));
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

/// The first key after every key starting with `prefix` (`None`: no such
/// key, the prefix is all `0xff`).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}
