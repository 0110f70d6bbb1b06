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
//!
//! The walk that builds them (0.2-0.9 s with a million objects) holds no lock commits need:
//! changes that land meanwhile are logged, and replayed onto the walk's result before it is
//! installed. Only listers wait for it.

use std::collections::HashMap;

use parking_lot::Mutex;

use crate::index::Index;

/// The stored ids, or nothing until the first listing.
#[derive(Default)]
pub struct IdSet {
    state: Mutex<State>,
    /// Held by the one lister that builds the lists; other listers wait on it.
    building: Mutex<()>,
}

#[derive(Default)]
enum State {
    /// Never listed: changes are left to the index.
    #[default]
    Absent,
    /// A lister is walking the index; the changes that land meanwhile, in order.
    Building(Vec<Change>),
    /// Kept up to date.
    Ready(Lists),
}

/// An id joining or leaving the index, logged during a build.
enum Change {
    Added(u64, Box<str>),
    Removed(u64, Box<str>),
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

    fn add(&mut self, id: u64, bag: &str) {
        insert_sorted(&mut self.all, id);
        match self.by_bag.get_mut(bag) {
            Some(ids) => insert_sorted(ids, id),
            None => {
                self.by_bag.insert(bag.into(), vec![id]);
            }
        }
    }

    fn remove(&mut self, id: u64, bag: &str) {
        remove_sorted(&mut self.all, id);
        if let Some(ids) = self.by_bag.get_mut(bag) {
            remove_sorted(ids, id);
            if ids.is_empty() {
                self.by_bag.remove(bag);
            }
        }
    }

    /// Replays changes logged while these lists were walked from the index. Each change
    /// was made to the index before it was logged, so the walk may or may not have seen it;
    /// adding is idempotent and removing what is absent does nothing, so either way the
    /// result is the index after the last change.
    fn replay(&mut self, log: Vec<Change>) {
        for change in log {
            match change {
                Change::Added(id, bag) => self.add(id, &bag),
                Change::Removed(id, bag) => self.remove(id, &bag),
            }
        }
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

/// Puts the state back to Absent if a build is abandoned (its walk panicked), so changes are
/// not logged forever.
struct BuildGuard<'a> {
    state: &'a Mutex<State>,
    armed: bool,
}

impl Drop for BuildGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            *self.state.lock() = State::Absent;
        }
    }
}

impl IdSet {
    /// Records that `id`, of `bag`, joined the index (after the index holds it).
    pub fn added(&self, id: u64, bag: &str) {
        match &mut *self.state.lock() {
            State::Absent => {}
            State::Building(log) => log.push(Change::Added(id, bag.into())),
            State::Ready(lists) => lists.add(id, bag),
        }
    }

    /// Records that `id`, of `bag`, left the index (after the index dropped it).
    pub fn removed(&self, id: u64, bag: &str) {
        match &mut *self.state.lock() {
            State::Absent => {}
            State::Building(log) => log.push(Change::Removed(id, bag.into())),
            State::Ready(lists) => lists.remove(id, bag),
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

    /// Runs `read` on the lists; the first call walks `index` (see the module comment).
    fn with_lists<T>(&self, index: &Index, read: impl FnOnce(&Lists) -> T) -> T {
        if let State::Ready(lists) = &*self.state.lock() {
            return read(lists);
        }
        let _builder = self.building.lock();
        {
            let mut state = self.state.lock();
            if let State::Ready(lists) = &*state {
                return read(lists);
            }
            *state = State::Building(Vec::new());
        }
        let mut guard = BuildGuard {
            state: &self.state,
            armed: true,
        };
        let mut lists = Lists::from_index(index);
        let mut state = self.state.lock();
        guard.armed = false;
        match std::mem::take(&mut *state) {
            State::Building(log) => lists.replay(log),
            // Only the holder of `building` leaves the Building state.
            State::Absent | State::Ready(_) => unreachable!("the id lists changed state mid-build"),
        }
        let answer = read(&lists);
        *state = State::Ready(lists);
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_of(ids: &[(u64, &str)]) -> IdSet {
        let set = IdSet::default();
        *set.state.lock() = State::Ready(Lists::default());
        for (id, bag) in ids {
            set.added(*id, bag);
        }
        set
    }

    fn ready<T>(set: &IdSet, read: impl FnOnce(&Lists) -> T) -> T {
        match &*set.state.lock() {
            State::Ready(lists) => read(lists),
            State::Absent | State::Building(_) => panic!("the lists are not built"),
        }
    }

    fn all(set: &IdSet) -> Vec<u64> {
        ready(set, |lists| lists.all.clone())
    }

    fn bag(set: &IdSet, bag: &str) -> Option<Vec<u64>> {
        ready(set, |lists| lists.by_bag.get(bag).cloned())
    }

    #[test]
    fn changes_before_the_first_listing_are_left_to_the_index() {
        let set = IdSet::default();
        set.added(5, "a");
        set.removed(5, "a");
        assert!(matches!(*set.state.lock(), State::Absent));
    }

    #[test]
    fn changes_during_a_build_are_replayed_onto_the_walk() {
        let set = IdSet::default();
        *set.state.lock() = State::Building(Vec::new());
        // The walk saw 1, 3 and 8 (in two bags); meanwhile 5 joined, 3 left, 8 left and came
        // back in another bag, and 9 joined and left.
        set.added(5, "a");
        set.removed(3, "a");
        set.removed(8, "b");
        set.added(8, "c");
        set.added(9, "a");
        set.removed(9, "a");
        let mut walked = Lists::default();
        walked.add(1, "a");
        walked.add(3, "a");
        walked.add(8, "b");
        let State::Building(log) = std::mem::take(&mut *set.state.lock()) else {
            panic!("not building");
        };
        walked.replay(log);
        *set.state.lock() = State::Ready(walked);
        assert_eq!(all(&set), [1, 5, 8]);
        assert_eq!(bag(&set, "a").unwrap(), [1, 5]);
        assert_eq!(bag(&set, "b"), None);
        assert_eq!(bag(&set, "c").unwrap(), [8]);
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
