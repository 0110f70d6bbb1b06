//! Little-endian field encoding for fixed-layout on-disk structures, and the keyed checksum
//! ("MAC") that seals them. Offsets are checked by the caller's layout constants; these helpers
//! only move bytes.

/// Length of the keyed checksum that ends every sealed structure.
pub const MAC_LEN: usize = 16;

/// The per-store secret that keys every structure checksum. A block that passes the MAC was
/// written by this store for exactly the place it claims (segment id and offset are inside the
/// sealed bytes), so uploaded payload can never be mistaken for a record header.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct StoreKey(pub [u8; 32]);

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(..)")
    }
}

impl StoreKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self(rand::random())
    }

    /// The keyed checksum of `bytes`.
    pub fn mac(&self, bytes: &[u8]) -> [u8; MAC_LEN] {
        let hash = blake3::keyed_hash(&self.0, bytes);
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&hash.as_bytes()[..MAC_LEN]);
        out
    }

    /// Seals `block[..mac_at]` by writing its MAC at `mac_at`.
    pub fn seal(&self, block: &mut [u8], mac_at: usize) {
        let mac = self.mac(&block[..mac_at]);
        block[mac_at..mac_at + MAC_LEN].copy_from_slice(&mac);
    }

    /// Whether `block[mac_at..mac_at+16]` is the MAC of `block[..mac_at]`.
    pub fn verify(&self, block: &[u8], mac_at: usize) -> bool {
        block.len() >= mac_at + MAC_LEN
            && self.mac(&block[..mac_at]) == block[mac_at..mac_at + MAC_LEN]
    }
}

/// Unkeyed 16-byte checksum, for the one structure read before the key is known.
pub fn plain_checksum(bytes: &[u8]) -> [u8; MAC_LEN] {
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(&blake3::hash(bytes).as_bytes()[..MAC_LEN]);
    out
}

/// Writes `value` little-endian at `at`.
pub fn put_u16(buf: &mut [u8], at: usize, value: u16) {
    buf[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

/// Writes `value` little-endian at `at`.
pub fn put_u32(buf: &mut [u8], at: usize, value: u32) {
    buf[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// Writes `value` little-endian at `at`.
pub fn put_u64(buf: &mut [u8], at: usize, value: u64) {
    buf[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

/// Reads a little-endian u16 at `at`.
pub fn get_u16(buf: &[u8], at: usize) -> u16 {
    let mut bytes = [0u8; 2];
    bytes.copy_from_slice(&buf[at..at + 2]);
    u16::from_le_bytes(bytes)
}

/// Reads a little-endian u32 at `at`.
pub fn get_u32(buf: &[u8], at: usize) -> u32 {
    let mut bytes = [0u8; 4];
    bytes.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(bytes)
}

/// Reads a little-endian u64 at `at`.
pub fn get_u64(buf: &[u8], at: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(bytes)
}

/// Rounds `value` up to a multiple of `align` (a power of two).
pub const fn align_up(value: u64, align: u64) -> u64 {
    (value + align - 1) & !(align - 1)
}
