//! colossus: the storage node. A thread-per-core HTTP server (`runtime`) answers the
//! reference node's API (`api`) from the segment store (colossus-engine), checks uploads
//! against the node's view of the chain (`ledger`) and upload tokens (`auth`), speaks the
//! reference node's wire formats (`compat`, `http`), and the `cli` drives it all.

pub mod api;
pub mod auth;
pub mod cli;
pub mod client;
pub mod compat;
pub mod config;
pub mod http;
pub mod ledger;
pub mod node;
pub mod runtime;

#[cfg(test)]
mod test_vectors;
