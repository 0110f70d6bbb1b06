//! The ids of the stored objects, in order, all of them and bag by bag, kept in memory once
//! they are first listed.
//!
//! Listing from the index walks every slot of every shard (256 MiB for 2^21 slots) and takes
//! a quarter of a second with a million objects; a node polled for its id list while it
//! ingests would pay that on every poll, and a bag's listing (what distributors poll) paid it
//! every time. The first listing builds these lists from the index; from then on every id
//! that joins or leaves the index joins or leaves them too, and a listing is a copy of 8
//! bytes per id (16 are kept per object: once in all, once in its bag). They are built
//! lazily so that opening a store still reads nothing but the index header and the records
//! since the last checkpoint.
//!
//! A sorted vector: new objects usually take ids above every stored one (an append); an id
//! below, or a deletion, moves the ids after it (a memmove of at most 8 MB per million).

use std::collections::HashMap;

use parking_lot::Mutex;

use crate::index::Index;

/// The stored ids, or nothing until the first listing.
#[derive(Default)]
pub struct IdSet {
    ids: Mutex<Option<Lists>>,
}

/// Sorted, unique ids: every stored one, and those of each bag (a bag with none has no
/// entry).
#[derive(Default)]
struct Lists {
    all: Vec<u64>,
    by_bag: HashMap<Box<str>, Vec<u64>>,
}

impl Lists {
    fn from_index(index: &Index) -> Lists {
        let mut lists = Lists::default();
        index.for_each(|e| {
            lists.all.push(e.object_id);
            match lists.by_bag.get_mut(e.bag.as_str()) {
                Some(ids) => ids.push(e.object_id),
                None => {
                    lists
                        .by_bag
                        .insert(e.bag.as_str().into(), vec![e.object_id]);
                }
            }
        });
        for ids in std::iter::once(&mut lists.all).chain(lists.by_bag.values_mut()) {
            ids.sort_unstable();
            ids.dedup();
        }
        lists
    }
}

fn insert_sorted(ids: &mut Vec<u64>, id: u64) {
    match ids.last() {
        Some(&last) if last >= id => {
            if let Err(at) = ids.binary_search(&id) {
                ids.insert(at, id);
            }
        }
        _ => ids.push(id),
    }
}

fn remove_sorted(ids: &mut Vec<u64>, id: u64) {
    if let Ok(at) = ids.binary_search(&id) {
        ids.remove(at);
    }
}

impl IdSet {
    /// Records that `id`, of `bag`, joined the index (after the index holds it).
    pub fn added(&self, id: u64, bag: &str) {
        if let Some(lists) = self.ids.lock().as_mut() {
            insert_sorted(&mut lists.all, id);
            match lists.by_bag.get_mut(bag) {
                Some(ids) => insert_sorted(ids, id),
                None => {
                    lists.by_bag.insert(bag.into(), vec![id]);
                }
            }
        }
    }

    /// Records that `id`, of `bag`, left the index (after the index dropped it).
    pub fn removed(&self, id: u64, bag: &str) {
        if let Some(lists) = self.ids.lock().as_mut() {
            remove_sorted(&mut lists.all, id);
            if let Some(ids) = lists.by_bag.get_mut(bag) {
                remove_sorted(ids, id);
                if ids.is_empty() {
                    lists.by_bag.remove(bag);
                }
            }
        }
    }

    /// Every id, ascending.
    pub fn list(&self, index: &Index) -> Vec<u64> {
        self.with_lists(index, |lists| lists.all.clone())
    }

    /// The ids of `bag`, ascending.
    pub fn list_in_bag(&self, index: &Index, bag: &str) -> Vec<u64> {
        self.with_lists(index, |lists| {
            lists.by_bag.get(bag).cloned().unwrap_or_default()
        })
    }

    /// Runs `read` on the lists; the first call walks `index`. The lock is held during that
    /// walk: an id that joins the index meanwhile waits to join the lists until they exist,
    /// so it is never missed (commits wait for that one walk, once per process).
    fn with_lists<T>(&self, index: &Index, read: impl FnOnce(&Lists) -> T) -> T {
        let mut guard = self.ids.lock();
        read(guard.get_or_insert_with(|| Lists::from_index(index)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_of(ids: &[(u64, &str)]) -> IdSet {
        let set = IdSet::default();
        *set.ids.lock() = Some(Lists::default());
        for (id, bag) in ids {
            set.added(*id, bag);
        }
        set
    }

    fn all(set: &IdSet) -> Vec<u64> {
        set.ids.lock().as_ref().unwrap().all.clone()
    }

    fn bag(set: &IdSet, bag: &str) -> Option<Vec<u64>> {
        set.ids.lock().as_ref().unwrap().by_bag.get(bag).cloned()
    }

    #[test]
    fn changes_before_the_first_listing_are_left_to_the_index() {
        let set = IdSet::default();
        set.added(5, "a");
        set.removed(5, "a");
        assert!(set.ids.lock().is_none());
    }

    #[test]
    fn ids_stay_sorted_and_unique_through_adds_and_removes() {
        let set = set_of(&[(4, "a"), (2, "b"), (9, "a")]);
        set.added(10, "a"); // append
        set.added(3, "b"); // insert inside
        set.added(0, "a"); // insert first
        set.added(4, "a"); // already there
        set.removed(9, "a");
        set.removed(7, "a"); // not there
        assert_eq!(all(&set), [0, 2, 3, 4, 10]);
        assert_eq!(bag(&set, "a").unwrap(), [0, 4, 10]);
        assert_eq!(bag(&set, "b").unwrap(), [2, 3]);
        set.removed(2, "b");
        set.removed(3, "b");
        assert_eq!(bag(&set, "b"), None, "an emptied bag is dropped");
        set.added(u64::MAX, "c");
        assert_eq!(all(&set), [0, 4, 10, u64::MAX]);
        assert_eq!(bag(&set, "c").unwrap(), [u64::MAX]);
    }
}
