//! User-supplied item vectors for semantic ids.
//!
//! CSV (any extension but `.npy`): one row per item, `item_id,f1,...,fd`, an
//! optional header (recognised when its second field is not a number). Every
//! row must have the same width d and finite values; a bad row is an error
//! naming file and line. Rows for items that are not in the log are counted and
//! ignored; items with no row get id-only sub-tokens.
//!
//! NPY: a 2-D little-endian `<f4` or `<f8` C-order array (n, d); row r is the
//! vector of the item whose id string is `r` (integer ids as in the SASRec
//! format; ids that never appear as row numbers are id-only).

use super::error::TokenizeError;
use crate::data::Interner;
use std::collections::HashSet;
use std::path::Path;

/// Vectors read from a file, for the items of the log that have one.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemVectors {
    pub dim: usize,
    /// Item ids ascending.
    pub items: Vec<u32>,
    /// (items.len(), dim) row-major.
    pub x: Vec<f32>,
    /// Rows naming items not in the log (ignored).
    pub unknown_rows: usize,
}

fn err(path: &Path, line: u64, reason: impl Into<String>) -> TokenizeError {
    TokenizeError::VectorFile {
        path: path.display().to_string(),
        line,
        reason: reason.into(),
    }
}

/// Reads an item-vector file (CSV or NPY, by extension) for the items in `items`.
pub fn read_vector_file(path: &Path, items: &Interner) -> Result<ItemVectors, TokenizeError> {
    let is_npy = path
        .extension()
        .map(|e| e.eq_ignore_ascii_case("npy"))
        .unwrap_or(false);
    let rows = if is_npy {
        read_npy(path, items)?
    } else {
        read_csv(path, items)?
    };
    // Sort by item id so the vectors line up with the dataset order.
    let (dim, mut found, unknown_rows) = rows;
    found.sort_by_key(|(i, _)| *i);
    let mut out = ItemVectors {
        dim,
        items: Vec::with_capacity(found.len()),
        x: Vec::new(),
        unknown_rows,
    };
    for (i, v) in found {
        out.items.push(i);
        out.x.extend(v);
    }
    Ok(out)
}

type Rows = (usize, Vec<(u32, Vec<f32>)>, usize);

fn read_csv(path: &Path, items: &Interner) -> Result<Rows, TokenizeError> {
    let file = std::fs::File::open(path).map_err(|source| TokenizeError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(file);
    let mut dim: Option<usize> = None;
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    let mut unknown = 0usize;
    let mut record = csv::StringRecord::new();
    let mut first = true;
    loop {
        let more = rdr.read_record(&mut record).map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            err(path, line, format!("unreadable CSV: {e}"))
        })?;
        if !more {
            break;
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.len() == 1 && record.get(0).map(str::is_empty).unwrap_or(true) {
            continue; // blank line
        }
        let is_header = first
            && record
                .get(1)
                .map(|f| f.parse::<f32>().is_err())
                .unwrap_or(true);
        first = false;
        if is_header && record.len() > 1 {
            continue;
        }
        let width = record.len().saturating_sub(1);
        if width == 0 {
            return Err(err(
                path,
                line,
                "expected item_id followed by at least one value",
            ));
        }
        let d = *dim.get_or_insert(width);
        if width != d {
            return Err(err(
                path,
                line,
                format!(
                    "expected {d} values after the item id (the width of the first row), found {width}"
                ),
            ));
        }
        let mut v = Vec::with_capacity(d);
        for (j, field) in record.iter().skip(1).enumerate() {
            let x: f32 = field.parse().map_err(|_| {
                err(
                    path,
                    line,
                    format!("value {} ({field:?}) is not a number", j + 1),
                )
            })?;
            if !x.is_finite() {
                return Err(err(
                    path,
                    line,
                    format!("value {} is {field:?}, not a finite number", j + 1),
                ));
            }
            v.push(x);
        }
        let id = record.get(0).unwrap_or("");
        match items.get(id) {
            Some(i) => {
                if !seen.insert(i) {
                    return Err(err(
                        path,
                        line,
                        format!("item {id:?} has a second vector row"),
                    ));
                }
                found.push((i, v));
            }
            None => unknown += 1,
        }
    }
    match dim {
        Some(d) => Ok((d, found, unknown)),
        None => Err(TokenizeError::VectorFileFormat {
            path: path.display().to_string(),
            reason: "no vector rows".into(),
        }),
    }
}

fn read_npy(path: &Path, items: &Interner) -> Result<Rows, TokenizeError> {
    let bytes = std::fs::read(path).map_err(|source| TokenizeError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let bad = |reason: &str| TokenizeError::VectorFileFormat {
        path: path.display().to_string(),
        reason: reason.into(),
    };
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not an .npy file (bad magic)"));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Err(bad("unsupported .npy version")),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or_else(|| bad("truncated header"))?;
    let header = String::from_utf8_lossy(header);
    let width = if header.contains("'<f4'") {
        4
    } else if header.contains("'<f8'") {
        8
    } else {
        return Err(bad(
            "dtype must be little-endian float32 ('<f4') or float64 ('<f8')",
        ));
    };
    if header.contains("'fortran_order': True") {
        return Err(bad(
            "Fortran-order arrays are not supported; save with C order",
        ));
    }
    let shape = header
        .split("'shape':")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .map(|s| {
            s.trim()
                .trim_start_matches('(')
                .split(',')
                .filter_map(|v| v.trim().parse::<usize>().ok())
                .collect::<Vec<_>>()
        })
        .ok_or_else(|| bad("no shape in header"))?;
    let [n, d] = shape[..] else {
        return Err(bad("expected a 2-D array (items, dims)"));
    };
    if d == 0 || n == 0 {
        return Err(bad("empty array"));
    }
    let data = &bytes[start + header_len..];
    if data.len() < n * d * width {
        return Err(bad("data shorter than the shape says"));
    }
    let mut found = Vec::new();
    let mut unknown = 0;
    for r in 0..n {
        let mut v = Vec::with_capacity(d);
        for j in 0..d {
            let o = (r * d + j) * width;
            let x = if width == 4 {
                f32::from_le_bytes([data[o], data[o + 1], data[o + 2], data[o + 3]])
            } else {
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[o..o + 8]);
                f64::from_le_bytes(b) as f32
            };
            if !x.is_finite() {
                return Err(err(
                    path,
                    r as u64 + 1,
                    format!("row {r}, value {} is not a finite number", j + 1),
                ));
            }
            v.push(x);
        }
        match items.get(&r.to_string()) {
            Some(i) => found.push((i, v)),
            None => unknown += 1,
        }
    }
    Ok((d, found, unknown))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interner(names: &[&str]) -> Interner {
        let mut i = Interner::new();
        for n in names {
            i.intern(n);
        }
        i
    }

    #[test]
    fn csv_with_header_unknown_and_missing_items() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.csv");
        std::fs::write(&p, "item_id,a,b\nb,1,2\nzz,0,0\na,3,4\n").unwrap();
        let v = read_vector_file(&p, &interner(&["a", "b", "c"])).unwrap();
        assert_eq!(v.dim, 2);
        assert_eq!(v.items, vec![0, 1]);
        assert_eq!(v.x, vec![3.0, 4.0, 1.0, 2.0]);
        assert_eq!(v.unknown_rows, 1);
    }

    #[test]
    fn wrong_width_and_nan_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.csv");
        std::fs::write(&p, "a,1,2\nb,1,2,3\n").unwrap();
        let e = read_vector_file(&p, &interner(&["a", "b"]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bad.csv:2:") && e.contains("expected 2 values"),
            "{e}"
        );
        std::fs::write(&p, "a,1,2\nb,0.5,2\nc,NaN,1\n").unwrap();
        let e = read_vector_file(&p, &interner(&["a", "b", "c"]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bad.csv:3:") && e.contains("not a finite number"),
            "{e}"
        );
        std::fs::write(&p, "a,1,x\n").unwrap();
        let e = read_vector_file(&p, &interner(&["a"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.csv:1:"), "{e}");
    }

    #[test]
    fn npy_rows_map_to_integer_item_ids() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.npy");
        let mut header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }".to_string();
        while !(10 + header.len() + 1).is_multiple_of(64) {
            header.push(' ');
        }
        header.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend((header.len() as u16).to_le_bytes());
        bytes.extend(header.as_bytes());
        for v in [0f32, 1.0, 2.0, 3.0, 4.0, 5.0] {
            bytes.extend(v.to_le_bytes());
        }
        std::fs::write(&p, &bytes).unwrap();
        let v = read_vector_file(&p, &interner(&["2", "0", "7"])).unwrap();
        assert_eq!(v.items, vec![0, 1]);
        assert_eq!(v.x, vec![4.0, 5.0, 0.0, 1.0]);
        assert_eq!(v.unknown_rows, 1);
        // A NaN names the row.
        let o = bytes.len() - 4;
        bytes[o..].copy_from_slice(&f32::NAN.to_le_bytes());
        std::fs::write(&p, &bytes).unwrap();
        let e = read_vector_file(&p, &interner(&["0"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("v.npy:3:"), "{e}");
    }
}
