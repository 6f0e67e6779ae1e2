//! A vector kept in fixed-size chunks behind `Arc`s, so that a copy of it
//! (a published snapshot) costs one pointer per chunk, and changing one
//! element afterwards copies only that element's chunk. Publishing after
//! one check-in so copies a few dozen KRs, not all of them.

use std::ops::{Index, IndexMut};
use std::sync::Arc;

/// Elements per chunk: small enough that copying one is cheap, large
/// enough that the pointers are a small fraction of the elements.
pub const CHUNK: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub struct Chunked<T> {
    chunks: Vec<Arc<Vec<T>>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T: Clone> Chunked<T> {
    pub fn from_vec(items: Vec<T>) -> Chunked<T> {
        let len = items.len();
        let mut chunks = Vec::with_capacity(len.div_ceil(CHUNK));
        let mut items = items.into_iter();
        loop {
            let chunk: Vec<T> = items.by_ref().take(CHUNK).collect();
            if chunk.is_empty() {
                break;
            }
            chunks.push(Arc::new(chunk));
        }
        Chunked { chunks, len }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, i: usize) -> Option<&T> {
        self.chunks.get(i / CHUNK)?.get(i % CHUNK)
    }

    /// The element to change: its chunk is copied first when a clone of
    /// this vector still shares it.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        Arc::make_mut(self.chunks.get_mut(i / CHUNK)?).get_mut(i % CHUNK)
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + Clone {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    pub fn to_vec(&self) -> Vec<T> {
        self.iter().cloned().collect()
    }

    /// How many of this vector's chunks are not shared with `other` (the
    /// copies a change made since `other` was cloned from it).
    pub fn chunks_apart_from(&self, other: &Chunked<T>) -> usize {
        self.chunks
            .iter()
            .enumerate()
            .filter(|(i, c)| other.chunks.get(*i).is_none_or(|o| !Arc::ptr_eq(c, o)))
            .count()
    }
}

impl<T: Clone> Index<usize> for Chunked<T> {
    type Output = T;

    fn index(&self, i: usize) -> &T {
        &self.chunks[i / CHUNK][i % CHUNK]
    }
}

/// Copy on write: see [`Chunked::get_mut`].
impl<T: Clone> IndexMut<usize> for Chunked<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut Arc::make_mut(&mut self.chunks[i / CHUNK])[i % CHUNK]
    }
}

impl<T: Clone> FromIterator<T> for Chunked<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        Chunked::from_vec(items.into_iter().collect())
    }
}

impl<'a, T: Clone> IntoIterator for &'a Chunked<T> {
    type Item = &'a T;
    type IntoIter = std::iter::FlatMap<
        std::slice::Iter<'a, Arc<Vec<T>>>,
        std::slice::Iter<'a, T>,
        fn(&'a Arc<Vec<T>>) -> std::slice::Iter<'a, T>,
    >;

    fn into_iter(self) -> Self::IntoIter {
        fn chunk<T>(c: &Arc<Vec<T>>) -> std::slice::Iter<'_, T> {
            c.iter()
        }
        self.chunks
            .iter()
            .flat_map(chunk as fn(&'a Arc<Vec<T>>) -> _)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_iterates_and_counts_like_the_vector_it_was_built_from() {
        let items: Vec<u32> = (0..(3 * CHUNK as u32 + 5)).collect();
        let chunked = Chunked::from_vec(items.clone());
        assert_eq!(chunked.len(), items.len());
        assert_eq!(chunked.to_vec(), items);
        assert_eq!((&chunked).into_iter().count(), items.len());
        for (i, v) in items.iter().enumerate() {
            assert_eq!(chunked[i], *v);
            assert_eq!(chunked.get(i), Some(v));
        }
        assert_eq!(chunked.get(items.len()), None);
        assert!(Chunked::<u32>::from_vec(Vec::new()).is_empty());
    }

    #[test]
    fn a_change_after_a_copy_copies_one_chunk_and_leaves_the_copy_alone() {
        let mut live = Chunked::from_vec((0..(10 * CHUNK as u32)).collect::<Vec<_>>());
        let published = live.clone();
        assert_eq!(live.chunks_apart_from(&published), 0);
        live[5 * CHUNK + 3] = 1_000;
        *live.get_mut(5 * CHUNK + 4).unwrap() = 2_000;
        assert_eq!(live.chunks_apart_from(&published), 1);
        assert_eq!(published[5 * CHUNK + 3], 5 * CHUNK as u32 + 3);
        assert_eq!(live[5 * CHUNK + 3], 1_000);
        assert_eq!(live[5 * CHUNK + 4], 2_000);
    }
}
