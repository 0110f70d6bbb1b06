//! Formats the reference (TypeScript) storage node puts on the wire that are not about
//! authentication: bag ids here; content multihashes are `colossus_engine::multihash`.

pub mod bag_id;
