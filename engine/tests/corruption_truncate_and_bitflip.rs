//! Corruption: random bit flips and truncations in segment and index files of a closed store.
//! Opening still works; no read ever returns wrong bytes; every object whose payload was hit
//! fails to read and is reported by scrub; objects nothing touched read back intact; and
//! rebuilding the index from the segments restores every undamaged object.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use colossus_engine::{EngineError, RecordLocation, Store};
use common::{content, put, run, small_config};
use rand::{Rng, SeedableRng};

const OBJECTS: u64 = 60;

struct Damage {
    /// file -> byte offsets flipped.
    flips: BTreeMap<PathBuf, Vec<u64>>,
    /// file -> new length.
    truncations: BTreeMap<PathBuf, u64>,
}

impl Damage {
    /// Whether any byte of `[start, end)` of `path` was changed or cut away.
    fn touches(&self, path: &PathBuf, start: u64, end: u64) -> bool {
        let flipped = self
            .flips
            .get(path)
            .is_some_and(|offsets| offsets.iter().any(|o| (start..end).contains(o)));
        let cut = self.truncations.get(path).is_some_and(|len| *len < end);
        flipped || cut
    }
}

fn size_of(id: u64) -> usize {
    match id % 5 {
        0 => 0,
        1 => 100,
        2 => 16 << 10,
        3 => 70_000,
        _ => 200_000 + id as usize,
    }
}

fn read_all(store: &Store, id: u64) -> Result<Vec<u8>, EngineError> {
    run(store.read_to_vec(id))
}

fn round(seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut locations: BTreeMap<u64, RecordLocation> = BTreeMap::new();
    {
        let store = Store::open(dir.path(), small_config()).unwrap();
        run(async {
            let writer = store.writer();
            for id in 1..=OBJECTS {
                put(
                    &writer,
                    id,
                    "dynamic:channel:1",
                    &content(id, size_of(id)),
                    50_000,
                )
                .await
                .unwrap();
            }
        });
        for id in 1..=OBJECTS {
            locations.insert(id, store.record_location(id).unwrap());
        }
        store.close().unwrap();
    }

    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut damage = Damage {
        flips: BTreeMap::new(),
        truncations: BTreeMap::new(),
    };
    let segment_files: Vec<PathBuf> = std::fs::read_dir(dir.path().join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let index_files: Vec<PathBuf> = std::fs::read_dir(dir.path().join("index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    // Flip bits: in segments, mostly inside payloads (where they matter most), some anywhere.
    for _ in 0..12 {
        let path = if rng.gen_bool(0.8) {
            let location = &locations[&rng.gen_range(1..=OBJECTS)];
            let len = location.len_bytes;
            let at = location.offset + rng.gen_range(0..len);
            damage
                .flips
                .entry(location.path.clone())
                .or_default()
                .push(at);
            location.path.clone()
        } else {
            let path = segment_files[rng.gen_range(0..segment_files.len())].clone();
            let len = std::fs::metadata(&path).unwrap().len();
            damage
                .flips
                .entry(path.clone())
                .or_default()
                .push(rng.gen_range(0..len));
            path
        };
        let _ = path;
    }
    // Index: flip bits inside used slots of one shard.
    let index_path = index_files[rng.gen_range(0..index_files.len())].clone();
    let index_bytes = std::fs::read(&index_path).unwrap();
    let used: Vec<u64> = (4096..index_bytes.len() as u64)
        .step_by(128)
        .filter(|at| {
            index_bytes[*at as usize + 8..*at as usize + 128]
                .iter()
                .any(|b| *b != 0)
        })
        .collect();
    for _ in 0..2 {
        if !used.is_empty() {
            let slot = used[rng.gen_range(0..used.len())];
            damage
                .flips
                .entry(index_path.clone())
                .or_default()
                .push(slot + rng.gen_range(8..128));
        }
    }
    for (path, offsets) in &damage.flips {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        for at in offsets {
            let mut byte = [0u8; 1];
            file.read_exact_at(&mut byte, *at).unwrap();
            byte[0] ^= 1 << rng.gen_range(0..8);
            file.write_all_at(&byte, *at).unwrap();
        }
    }
    // Truncate one segment at a random offset past its header.
    let victim = segment_files[rng.gen_range(0..segment_files.len())].clone();
    let victim_len = std::fs::metadata(&victim).unwrap().len();
    if victim_len > 8192 {
        let cut = rng.gen_range(4096..victim_len);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&victim)
            .unwrap()
            .set_len(cut)
            .unwrap();
        damage.truncations.insert(victim.clone(), cut);
    }

    let payload_hit = |id: u64| {
        let l = &locations[&id];
        damage.touches(
            &l.path,
            l.offset + 4096,
            l.offset + 4096 + size_of(id) as u64,
        ) || damage
            .truncations
            .get(&l.path)
            .is_some_and(|len| *len < l.offset + l.len_bytes)
    };
    let untouched = |id: u64| {
        let l = &locations[&id];
        !damage.touches(&l.path, l.offset, l.offset + l.len_bytes)
    };

    // Open the damaged store: it must open, never serve wrong bytes, and report the damage.
    let store = Store::open(dir.path(), small_config()).unwrap();
    let index_damaged = damage.flips.contains_key(&index_path);
    for id in 1..=OBJECTS {
        match read_all(&store, id) {
            Ok(bytes) => assert!(
                bytes == content(id, size_of(id)),
                "seed {seed}: object {id} read back wrong"
            ),
            Err(error) => {
                assert!(
                    !untouched(id) || index_damaged,
                    "seed {seed}: undamaged object {id} failed to read: {error}"
                );
                assert!(
                    matches!(
                        error,
                        EngineError::Corrupt { .. }
                            | EngineError::IndexCorrupt { .. }
                            | EngineError::NotFound { .. }
                    ),
                    "seed {seed}: object {id}: unexpected error {error}"
                );
            }
        }
        if payload_hit(id) && size_of(id) > 0 {
            assert!(
                read_all(&store, id).is_err(),
                "seed {seed}: damaged object {id} was served"
            );
        }
    }
    let scrub = store.scrub().unwrap();
    let reported: Vec<u64> = scrub
        .damaged_objects
        .iter()
        .filter_map(|d| d.object_id)
        .collect();
    for id in 1..=OBJECTS {
        if payload_hit(id) && size_of(id) > 0 {
            assert!(
                reported.contains(&id) || scrub.damaged_index_slots > 0,
                "seed {seed}: scrub missed damaged object {id}: {scrub:?}"
            );
        }
    }
    assert!(!scrub.is_clean(), "seed {seed}: scrub saw nothing");
    drop(store);

    // Rebuild the index from the segments: every undamaged object comes back.
    let store = Store::open_rebuilding_index(dir.path(), small_config()).unwrap();
    let report = store.open_report().clone();
    assert!(report.index_rebuilt.is_some());
    for id in 1..=OBJECTS {
        match read_all(&store, id) {
            Ok(bytes) => assert!(
                bytes == content(id, size_of(id)),
                "seed {seed}: object {id} wrong after rebuild"
            ),
            Err(error) => {
                assert!(
                    !untouched(id),
                    "seed {seed}: undamaged object {id} lost by the rebuild: {error}"
                );
                assert!(
                    matches!(error, EngineError::NotFound { .. }),
                    "seed {seed}: {error}"
                );
            }
        }
        if payload_hit(id) && size_of(id) > 0 {
            assert!(matches!(
                read_all(&store, id),
                Err(EngineError::NotFound { .. })
            ));
        }
    }
    let after = store.scrub().unwrap();
    assert!(
        after.damaged_objects.is_empty(),
        "seed {seed}: rebuilt index points at damage: {after:?}"
    );
    assert_eq!(after.damaged_index_slots, 0);
}

#[test]
fn random_damage_is_detected_and_rebuild_restores_the_rest() {
    for seed in 0..8 {
        round(seed);
    }
}
