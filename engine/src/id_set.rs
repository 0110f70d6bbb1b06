//! The ids of the stored objects, in order, kept in memory once they are first listed.
//!
//! Listing from the index walks every slot of every shard (256 MiB for 2^21 slots) and takes
//! a quarter of a second with a million objects; a node polled for its id list while it
//! ingests would pay that on every poll. The first listing builds this set from the index;
//! from then on every id that joins or leaves the index joins or leaves the set too, and a
//! listing is a copy of 8 bytes per id. It is built lazily so that opening a store still
//! reads nothing but the index header and the records since the last checkpoint.
//!
//! A sorted vector: new objects usually take ids above every stored one (an append); an id
//! below, or a deletion, moves the ids after it (a memmove of at most 8 MB per million).

use parking_lot::Mutex;

use crate::index::Index;

/// The stored ids, or nothing until the first listing.
#[derive(Default)]
pub struct IdSet {
    ids: Mutex<Option<Vec<u64>>>,
}

impl IdSet {
    /// Records that `id` joined the index (after the index holds it).
    pub fn added(&self, id: u64) {
        if let Some(ids) = self.ids.lock().as_mut() {
            match ids.last() {
                Some(&last) if last >= id => {
                    if let Err(at) = ids.binary_search(&id) {
                        ids.insert(at, id);
                    }
                }
                _ => ids.push(id),
            }
        }
    }

    /// Records that `id` left the index (after the index dropped it).
    pub fn removed(&self, id: u64) {
        if let Some(ids) = self.ids.lock().as_mut() {
            if let Ok(at) = ids.binary_search(&id) {
                ids.remove(at);
            }
        }
    }

    /// Every id, ascending; the first call walks `index`. The lock is held during that walk:
    /// an id that joins the index meanwhile waits to join the set until the set exists, so
    /// it is never missed (commits wait for that one walk, once per process).
    pub fn list(&self, index: &Index) -> Vec<u64> {
        let mut guard = self.ids.lock();
        let ids = guard.get_or_insert_with(|| {
            let mut ids = Vec::new();
            index.for_each(|e| ids.push(e.object_id));
            ids.sort_unstable();
            ids.dedup();
            ids
        });
        ids.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_of(ids: &[u64]) -> IdSet {
        let set = IdSet::default();
        *set.ids.lock() = Some(ids.to_vec());
        set
    }

    #[test]
    fn changes_before_the_first_listing_are_left_to_the_index() {
        let set = IdSet::default();
        set.added(5);
        set.removed(5);
        assert!(set.ids.lock().is_none());
    }

    #[test]
    fn ids_stay_sorted_and_unique_through_adds_and_removes() {
        let set = set_of(&[2, 4, 9]);
        set.added(10); // append
        set.added(3); // insert inside
        set.added(0); // insert first
        set.added(4); // already there
        set.removed(9);
        set.removed(7); // not there
        assert_eq!(set.ids.lock().as_deref(), Some(&[0, 2, 3, 4, 10][..]));
        set.removed(0);
        set.removed(10);
        set.added(u64::MAX);
        assert_eq!(set.ids.lock().as_deref(), Some(&[2, 3, 4, u64::MAX][..]));
    }
}
