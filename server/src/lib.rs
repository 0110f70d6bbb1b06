//! colossus: the storage node. Today it holds the pieces the HTTP server stands on: the
//! formats the reference node puts on the wire (`compat`) and upload authentication
//! (`auth`: SS58 accounts, sr25519/ed25519 keys and signatures, the reference node's JSON
//! signing convention, token requests, upload tokens, the nonce store).

pub mod auth;
pub mod compat;

#[cfg(test)]
mod test_vectors;
