//! Opening refuses, with a clear error and without touching anything, a store another
//! process (or handle) holds, a store of another format version, and a directory that is not
//! a store.

mod common;

use colossus_engine::{EngineError, Store};
use common::small_config;

#[test]
fn a_held_store_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path(), small_config()).unwrap();
    let second = Store::open(dir.path(), small_config());
    let Err(error) = second else {
        panic!("a second open must fail")
    };
    assert!(matches!(error, EngineError::Locked { .. }), "{error}");
    assert!(
        error.to_string().contains("locked by another process"),
        "{error}"
    );
    first.close().unwrap();
    Store::open(dir.path(), small_config()).expect("reopens once released");
}

#[test]
fn another_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path(), small_config())
        .unwrap()
        .close()
        .unwrap();
    let meta = dir.path().join("store.meta");
    let mut bytes = std::fs::read(&meta).unwrap();
    bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
    std::fs::write(&meta, &bytes).unwrap();
    let Err(error) = Store::open(dir.path(), small_config()) else {
        panic!("must refuse")
    };
    assert!(
        matches!(
            error,
            EngineError::UnsupportedVersion {
                found: 2,
                supported: 1,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(
        std::fs::read(&meta).unwrap(),
        bytes,
        "the refused store is left as it was"
    );
}

#[test]
fn a_foreign_directory_is_not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("holiday.jpg"), b"not ours").unwrap();
    let Err(error) = Store::open(dir.path(), small_config()) else {
        panic!("must refuse")
    };
    assert!(matches!(error, EngineError::NotAStore { .. }), "{error}");
    assert_eq!(
        std::fs::read(dir.path().join("holiday.jpg")).unwrap(),
        b"not ours"
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("store.meta"), vec![7u8; 4096]).unwrap();
    let Err(error) = Store::open(dir.path(), small_config()) else {
        panic!("must refuse")
    };
    assert!(matches!(error, EngineError::NotAStore { .. }), "{error}");
}

#[test]
fn bad_configuration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = colossus_engine::StoreConfig {
        chunk_size_bytes: 1000,
        ..small_config()
    };
    let Err(error) = Store::open(dir.path(), config) else {
        panic!("must refuse")
    };
    assert!(matches!(error, EngineError::InvalidConfig(_)), "{error}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing was created"
    );
}
