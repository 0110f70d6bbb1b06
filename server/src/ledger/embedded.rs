//! (being written)
pub struct EmbeddedLedger;
