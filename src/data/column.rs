//! A per-behaviour column: owned, or read in place from a mapped cache file.
//!
//! Reopening a cached log used to copy every column out of the mapped file into
//! fresh vectors: 110 MB of writes (and, in a fresh process, 110 MB of page faults)
//! for 10M behaviours, most of the reopen's time. A [`Column`] can instead view its
//! elements inside the mapping, which it keeps alive; the mapping is read-only and
//! private, so the view is as immutable as a `Vec` behind `&`. Writing to a mapped
//! column ([`Column::to_mut`], or through `&mut`) copies it out first.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use crate::util::mapped::Mapped;

/// A read-only file mapping shared by the columns that view it; unmapped (in the
/// background when large) after the last of them is dropped.
pub struct SharedMap(Option<Arc<Mapped>>);

impl SharedMap {
    pub fn new(map: Mapped) -> Self {
        SharedMap(Some(Arc::new(map)))
    }
    pub fn bytes(&self) -> &[u8] {
        self.0.as_deref().map_or(&[], |m| m)
    }
}

impl Clone for SharedMap {
    fn clone(&self) -> Self {
        SharedMap(self.0.clone())
    }
}

impl Drop for SharedMap {
    fn drop(&mut self) {
        if let Some(map) = self.0.take().and_then(Arc::into_inner) {
            map.release_in_background();
        }
    }
}

/// Elements of type `T`, owned or viewed inside a [`SharedMap`].
pub struct Column<T: bytemuck::Pod>(Repr<T>);

enum Repr<T> {
    Owned(Vec<T>),
    Mapped { map: SharedMap, start: usize, len: usize },
}

impl<T: bytemuck::Pod> Column<T> {
    /// A view of `len` elements at byte offset `start` of `map`; `None` unless the
    /// range lies inside the mapping and is aligned for `T`.
    pub fn mapped(map: &SharedMap, start: usize, len: usize) -> Option<Self> {
        let bytes = map.bytes().get(start..start.checked_add(len.checked_mul(std::mem::size_of::<T>())?)?)?;
        bytemuck::try_cast_slice::<u8, T>(bytes).ok()?;
        Some(Column(Repr::Mapped { map: map.clone(), start, len }))
    }

    /// Whether the elements live in a mapped file (not in memory of our own).
    pub fn is_mapped(&self) -> bool {
        matches!(self.0, Repr::Mapped { .. })
    }

    /// The elements as an owned vector, copied out of the mapping first if need be.
    pub fn to_mut(&mut self) -> &mut Vec<T> {
        if let Repr::Mapped { .. } = self.0 {
            self.0 = Repr::Owned(self.to_vec());
        }
        match &mut self.0 {
            Repr::Owned(v) => v,
            Repr::Mapped { .. } => unreachable!("just replaced by an owned copy"),
        }
    }
}

impl<T: bytemuck::Pod> Deref for Column<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match &self.0 {
            Repr::Owned(v) => v,
            Repr::Mapped { map, start, len } => {
                let bytes = &map.bytes()[*start..*start + *len * std::mem::size_of::<T>()];
                // Checked in `mapped`: in range and aligned.
                bytemuck::cast_slice(bytes)
            }
        }
    }
}

/// Writing through `&mut` copies a mapped column out first (as [`Column::to_mut`]).
impl<T: bytemuck::Pod> std::ops::DerefMut for Column<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.to_mut()
    }
}

impl<T: bytemuck::Pod> From<Vec<T>> for Column<T> {
    fn from(v: Vec<T>) -> Self {
        Column(Repr::Owned(v))
    }
}

impl<T: bytemuck::Pod> Default for Column<T> {
    fn default() -> Self {
        Column(Repr::Owned(Vec::new()))
    }
}

impl<T: bytemuck::Pod> Clone for Column<T> {
    fn clone(&self) -> Self {
        match &self.0 {
            Repr::Owned(v) => Column(Repr::Owned(v.clone())),
            Repr::Mapped { map, start, len } => Column(Repr::Mapped { map: map.clone(), start: *start, len: *len }),
        }
    }
}

impl<T: bytemuck::Pod + fmt::Debug> fmt::Debug for Column<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: bytemuck::Pod + PartialEq> PartialEq for Column<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: bytemuck::Pod + PartialEq> PartialEq<Vec<T>> for Column<T> {
    fn eq(&self, other: &Vec<T>) -> bool {
        **self == other[..]
    }
}

impl<'a, T: bytemuck::Pod> IntoIterator for &'a Column<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapped_column_views_the_file_and_copies_on_write() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cols.bin");
        let values: Vec<u32> = (0..1000).map(|i| i * 7).collect();
        let mut bytes = vec![0u8; 8];
        bytes.extend_from_slice(bytemuck::cast_slice(&values));
        std::fs::write(&p, &bytes).unwrap();
        let Some(map) = Mapped::new(&std::fs::File::open(&p).unwrap()) else {
            assert!(cfg!(not(unix)), "mapping a plain file works on Unix");
            return;
        };
        let map = SharedMap::new(map);
        // Out of range or misaligned views are refused.
        assert!(Column::<u32>::mapped(&map, 8, 1001).is_none());
        assert!(Column::<u32>::mapped(&map, 6, 10).is_none());
        let mut c = Column::<u32>::mapped(&map, 8, 1000).unwrap();
        drop(map);
        assert!(c.is_mapped());
        assert_eq!(c, values);
        let copy = c.clone();
        c[3] = 5;
        assert!(!c.is_mapped());
        assert_eq!(c[3], 5);
        assert_eq!(copy[3], 21, "the mapping itself is never written");
        assert_eq!(copy, values);
    }
}
