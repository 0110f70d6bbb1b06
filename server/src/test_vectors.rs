//! Test-only loader for shared/vectors/joystream-compat.json (generated with the reference
//! node's own libraries). Set COLOSSUS_VECTORS to override where it is looked for.

use crate::auth::js_json::{self, JsValue};
use std::path::PathBuf;

const RELATIVE: &str = "shared/vectors/joystream-compat.json";

fn candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(path) = std::env::var("COLOSSUS_VECTORS") {
        out.push(PathBuf::from(path));
    }
    // The repo sits next to shared/ (DESIGN.md: ../shared/vectors); walk up from the crate.
    let mut dir = Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    while let Some(d) = dir {
        out.push(d.join(RELATIVE));
        out.push(d.join("..").join(RELATIVE));
        dir = d.parent().map(PathBuf::from);
    }
    out
}

/// The parsed vectors file; panics (failing the test) when it cannot be found.
pub fn load() -> JsValue {
    for path in candidates() {
        if let Ok(bytes) = std::fs::read(&path) {
            return js_json::parse(&bytes).expect("vectors file is valid JSON");
        }
    }
    panic!("joystream-compat.json not found; set COLOSSUS_VECTORS to its path");
}
