//! Node and dev key pairs from substrate secret URIs (`//Alice`, `<mnemonic>//hard/soft///pw`,
//! `0x<seed>`), for sr25519 and ed25519, derived exactly as substrate's sp-core does, plus
//! sign/verify primitives (sr25519 signing context "substrate"). Secrets are zeroized.

use std::fmt;

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use ed25519_dalek::Signer as _;
use schnorrkel::derive::{ChainCode, Derivation};
use schnorrkel::{ExpansionMode, MiniSecretKey};
use sha2::Sha512;
use zeroize::{Zeroize, Zeroizing};

use super::hex;
use super::ss58;

/// Substrate's development mnemonic; `//Alice` means this phrase plus the junction.
pub const DEV_PHRASE: &str =
    "bottom drive obey lake curtain smoke basket hold race lonely fit walk";

/// sr25519 signing context used by substrate and polkadot-js.
pub const SR25519_SIGNING_CONTEXT: &[u8] = b"substrate";

/// Length of public keys (both schemes).
pub const PUBLIC_KEY_LEN: usize = 32;

/// Length of signatures (both schemes).
pub const SIGNATURE_LEN: usize = 64;

/// Length of a raw seed (sr25519 mini secret key, ed25519 seed).
pub const SEED_LEN: usize = 32;

/// Longest secret URI accepted (bounds junction parsing and SCALE length prefixes).
pub const MAX_URI_LEN: usize = 1024;

/// PBKDF2 rounds of BIP39 seed derivation.
const BIP39_PBKDF2_ROUNDS: u32 = 2048;

/// Domain tag of substrate's ed25519 hard derivation.
const ED25519_HDKD_TAG: &str = "Ed25519HDKD";

/// Signature schemes a Joystream account key may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CryptoScheme {
    /// Schnorr on ristretto25519 (schnorrkel); the polkadot-js default.
    Sr25519,
    /// Ed25519.
    Ed25519,
}

impl fmt::Display for CryptoScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sr25519 => "sr25519",
            Self::Ed25519 => "ed25519",
        })
    }
}

/// Why a secret URI cannot produce a key pair.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The URI does not follow `[phrase|0xseed][/soft|//hard]*[///password]`.
    #[error("secret URI is malformed: {reason}")]
    MalformedUri {
        /// What is wrong.
        reason: &'static str,
    },
    /// The URI is longer than `MAX_URI_LEN` bytes.
    #[error("secret URI is {len} bytes, more than the {max} allowed")]
    UriTooLong {
        /// Length of the URI.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The mnemonic is not a valid English BIP39 phrase (word or checksum).
    #[error("mnemonic phrase is invalid: {reason}")]
    InvalidPhrase {
        /// What bip39 reported (no secret material).
        reason: String,
    },
    /// A 0x seed that is not hex.
    #[error("hex seed is not valid hex: {0}")]
    InvalidSeedHex(#[from] hex::HexError),
    /// A 0x seed of the wrong length.
    #[error("hex seed must be {expected} bytes, got {got}")]
    InvalidSeedLength {
        /// Required seed length.
        expected: usize,
        /// Given seed length.
        got: usize,
    },
    /// The seed was refused by the signature library (schnorrkel checks only the length).
    #[error("seed rejected by the {scheme} library: {reason}")]
    InvalidSeed {
        /// Scheme whose library refused the seed.
        scheme: CryptoScheme,
        /// What the library reported.
        reason: String,
    },
    /// Soft derivation (`/x`) requested for ed25519, which has none.
    #[error("ed25519 supports only hard derivation (//), found soft junction /{junction}")]
    SoftDerivationUnsupported {
        /// The offending junction text.
        junction: String,
    },
}

/// A 32-byte public key (an AccountId32).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; PUBLIC_KEY_LEN]);

impl PublicKey {
    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.0
    }

    /// The key as a Joystream (prefix 126) SS58 address.
    pub fn to_joystream_address(&self) -> String {
        ss58::encode_joystream(&self.0)
    }

    /// The key as 0x-hex.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_joystream_address())
    }
}

enum Inner {
    Sr25519(schnorrkel::Keypair),
    Ed25519(ed25519_dalek::SigningKey),
}

/// A signing key pair; secrets are zeroized on drop and never printed.
pub struct KeyPair {
    inner: Inner,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("scheme", &self.scheme())
            .field("public", &self.public_key())
            .finish_non_exhaustive()
    }
}

/// One `/soft` or `//hard` step of a derivation path, as a 32-byte chain code.
#[derive(Clone, PartialEq, Eq)]
enum Junction {
    Soft { chain_code: [u8; 32], text: String },
    Hard { chain_code: [u8; 32] },
}

/// A secret URI split into its parts.
struct SecretUri {
    /// Mnemonic phrase or 0x-hex seed.
    phrase: Zeroizing<String>,
    junctions: Vec<Junction>,
    password: Option<Zeroizing<String>>,
}

fn blake2_256(data: &[u8]) -> [u8; 32] {
    let mut hasher = Blake2b::<U32>::new();
    hasher.update(data);
    hasher.finalize().into()
}

/// SCALE compact encoding of a length (single-, two- and four-byte modes).
fn scale_compact_len(len: usize, out: &mut Vec<u8>) {
    // MAX_URI_LEN keeps every length far below 2^30, the end of the four-byte mode.
    debug_assert!(len < (1 << 30));
    let len = u32::try_from(len).unwrap_or(u32::MAX >> 2);
    if len < 1 << 6 {
        out.extend_from_slice(&((len << 2) as u8).to_le_bytes());
    } else if len < 1 << 14 {
        out.extend_from_slice(&(((len << 2) | 0b01) as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&((len << 2) | 0b10).to_le_bytes());
    }
}

/// Chain code of a junction as sp-core computes it: SCALE encoding of the text, or of the
/// u64 if the text parses as one, zero-padded to 32 bytes or blake2-256 hashed if longer.
fn junction_chain_code(text: &str) -> [u8; 32] {
    let mut encoded = Vec::with_capacity(text.len() + 4);
    if let Ok(n) = text.parse::<u64>() {
        encoded.extend_from_slice(&n.to_le_bytes());
    } else {
        scale_compact_len(text.len(), &mut encoded);
        encoded.extend_from_slice(text.as_bytes());
    }
    if encoded.len() > 32 {
        blake2_256(&encoded)
    } else {
        let mut code = [0u8; 32];
        code[..encoded.len()].copy_from_slice(&encoded);
        code
    }
}

/// `\w` or space, as in sp-core's phrase pattern `[\d\w ]+`.
fn is_phrase_char(c: char) -> bool {
    c == ' ' || c == '_' || c.is_alphanumeric()
}

impl SecretUri {
    /// Splits `[phrase][/soft|//hard]*[///password]`; an absent phrase means `DEV_PHRASE`.
    fn parse(uri: &str) -> Result<Self, KeyError> {
        if uri.len() > MAX_URI_LEN {
            return Err(KeyError::UriTooLong {
                len: uri.len(),
                max: MAX_URI_LEN,
            });
        }
        // Junctions cannot contain '/', so the first "///" starts the password.
        let (rest, password) = match uri.find("///") {
            Some(at) => (&uri[..at], Some(Zeroizing::new(uri[at + 3..].to_owned()))),
            None => (uri, None),
        };
        let (phrase, mut path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, ""),
        };
        if !phrase.chars().all(is_phrase_char) {
            return Err(KeyError::MalformedUri {
                reason: "phrase may hold only letters, digits, '_' and spaces",
            });
        }
        let phrase = if phrase.is_empty() {
            DEV_PHRASE
        } else {
            phrase
        };
        let mut junctions = Vec::new();
        while !path.is_empty() {
            let (hard, body) = match path.strip_prefix("//") {
                Some(b) => (true, b),
                None => (false, path.strip_prefix('/').unwrap_or(path)),
            };
            let end = body.find('/').unwrap_or(body.len());
            let text = &body[..end];
            if text.is_empty() {
                return Err(KeyError::MalformedUri {
                    reason: "empty derivation junction",
                });
            }
            let chain_code = junction_chain_code(text);
            junctions.push(if hard {
                Junction::Hard { chain_code }
            } else {
                Junction::Soft {
                    chain_code,
                    text: text.to_owned(),
                }
            });
            path = &body[end..];
        }
        Ok(Self {
            phrase: Zeroizing::new(phrase.to_owned()),
            junctions,
            password,
        })
    }

    /// The 32-byte root seed: the 0x-hex seed, or the first half of the BIP39 seed.
    fn root_seed(&self) -> Result<Zeroizing<[u8; SEED_LEN]>, KeyError> {
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        if self.phrase.starts_with("0x") {
            // sp-core ignores the password for raw seeds; so do we.
            let bytes = Zeroizing::new(hex::decode(&self.phrase)?);
            if bytes.len() != SEED_LEN {
                return Err(KeyError::InvalidSeedLength {
                    expected: SEED_LEN,
                    got: bytes.len(),
                });
            }
            seed.copy_from_slice(&bytes);
            return Ok(seed);
        }
        let mnemonic = bip39::Mnemonic::parse_in(bip39::Language::English, self.phrase.as_str())
            .map_err(|e| KeyError::InvalidPhrase {
                reason: e.to_string(),
            })?;
        let entropy = Zeroizing::new(mnemonic.to_entropy());
        // substrate-bip39: PBKDF2-HMAC-SHA512 over the *entropy* (not the phrase, unlike
        // plain BIP39), salt "mnemonic" + password, 2048 rounds; keep the first 32 bytes.
        let mut salt = Zeroizing::new(String::from("mnemonic"));
        if let Some(password) = &self.password {
            salt.push_str(password);
        }
        let mut full = Zeroizing::new([0u8; 64]);
        pbkdf2::pbkdf2_hmac::<Sha512>(&entropy, salt.as_bytes(), BIP39_PBKDF2_ROUNDS, &mut *full);
        seed.copy_from_slice(&full[..SEED_LEN]);
        Ok(seed)
    }
}

impl KeyPair {
    /// Derives a key pair from a substrate secret URI, e.g. "//Alice" or "0x<64 hex>".
    pub fn from_uri(uri: &str, scheme: CryptoScheme) -> Result<Self, KeyError> {
        let suri = SecretUri::parse(uri)?;
        let seed = suri.root_seed()?;
        match scheme {
            CryptoScheme::Sr25519 => Self::sr25519_derive(&seed, &suri.junctions),
            CryptoScheme::Ed25519 => Self::ed25519_derive(&seed, &suri.junctions),
        }
    }

    /// A key pair from a raw 32-byte seed (sr25519 mini secret key or ed25519 seed).
    pub fn from_seed(seed: &[u8; SEED_LEN], scheme: CryptoScheme) -> Result<Self, KeyError> {
        match scheme {
            CryptoScheme::Sr25519 => Ok(Self {
                inner: Inner::Sr25519(sr25519_root(seed)?),
            }),
            CryptoScheme::Ed25519 => Ok(Self {
                inner: Inner::Ed25519(ed25519_dalek::SigningKey::from_bytes(seed)),
            }),
        }
    }

    /// A fresh random key pair (OS randomness).
    pub fn generate(scheme: CryptoScheme) -> Self {
        let inner = match scheme {
            CryptoScheme::Sr25519 => Inner::Sr25519(
                MiniSecretKey::generate_with(rand::rngs::OsRng)
                    .expand_to_keypair(ExpansionMode::Ed25519),
            ),
            CryptoScheme::Ed25519 => {
                let mut seed = Zeroizing::new([0u8; SEED_LEN]);
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut *seed);
                Inner::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
        };
        Self { inner }
    }

    fn sr25519_derive(seed: &[u8; SEED_LEN], junctions: &[Junction]) -> Result<Self, KeyError> {
        let mut secret = sr25519_root(seed)?.secret.clone();
        for junction in junctions {
            secret = match junction {
                Junction::Soft { chain_code, .. } => {
                    secret.derived_key_simple(ChainCode(*chain_code), []).0
                }
                Junction::Hard { chain_code } => secret
                    .hard_derive_mini_secret_key(Some(ChainCode(*chain_code)), b"")
                    .0
                    .expand(ExpansionMode::Ed25519),
            };
        }
        Ok(Self {
            inner: Inner::Sr25519(secret.to_keypair()),
        })
    }

    fn ed25519_derive(seed: &[u8; SEED_LEN], junctions: &[Junction]) -> Result<Self, KeyError> {
        let mut current = Zeroizing::new(*seed);
        for junction in junctions {
            match junction {
                Junction::Soft { text, .. } => {
                    return Err(KeyError::SoftDerivationUnsupported {
                        junction: text.clone(),
                    })
                }
                Junction::Hard { chain_code } => {
                    // SCALE of ("Ed25519HDKD", seed, chain_code): compact-prefixed str, two
                    // fixed arrays; the new seed is its blake2-256.
                    let mut encoded = Zeroizing::new(Vec::with_capacity(1 + 11 + 64));
                    scale_compact_len(ED25519_HDKD_TAG.len(), &mut encoded);
                    encoded.extend_from_slice(ED25519_HDKD_TAG.as_bytes());
                    encoded.extend_from_slice(&*current);
                    encoded.extend_from_slice(chain_code);
                    let mut next = blake2_256(&encoded);
                    current.copy_from_slice(&next);
                    next.zeroize();
                }
            }
        }
        Ok(Self {
            inner: Inner::Ed25519(ed25519_dalek::SigningKey::from_bytes(&current)),
        })
    }

    /// The signature scheme of this key.
    pub fn scheme(&self) -> CryptoScheme {
        match self.inner {
            Inner::Sr25519(_) => CryptoScheme::Sr25519,
            Inner::Ed25519(_) => CryptoScheme::Ed25519,
        }
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        match &self.inner {
            Inner::Sr25519(k) => PublicKey(k.public.to_bytes()),
            Inner::Ed25519(k) => PublicKey(k.verifying_key().to_bytes()),
        }
    }

    /// Signs `message` (sr25519: randomized, context "substrate"; ed25519: deterministic).
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        match &self.inner {
            Inner::Sr25519(k) => k.sign_simple(SR25519_SIGNING_CONTEXT, message).to_bytes(),
            Inner::Ed25519(k) => k.sign(message).to_bytes(),
        }
    }
}

/// sr25519 key pair of a mini secret key, expanded the way substrate does (Ed25519 mode).
fn sr25519_root(seed: &[u8; SEED_LEN]) -> Result<schnorrkel::Keypair, KeyError> {
    MiniSecretKey::from_bytes(seed)
        .map(|mini| mini.expand_to_keypair(ExpansionMode::Ed25519))
        .map_err(|e| KeyError::InvalidSeed {
            scheme: CryptoScheme::Sr25519,
            reason: e.to_string(),
        })
}

/// Verifies a raw 64-byte signature of `message` by `public_key` under `scheme`.
///
/// ed25519 uses `verify_strict` (rejects small-order keys and non-canonical encodings);
/// polkadot-js is more permissive there, but honest signatures pass both.
pub fn verify(
    scheme: CryptoScheme,
    public_key: &PublicKey,
    message: &[u8],
    signature: &[u8; SIGNATURE_LEN],
) -> bool {
    match scheme {
        CryptoScheme::Sr25519 => {
            let Ok(public) = schnorrkel::PublicKey::from_bytes(&public_key.0) else {
                return false;
            };
            let Ok(sig) = schnorrkel::Signature::from_bytes(signature) else {
                return false;
            };
            public
                .verify_simple(SR25519_SIGNING_CONTEXT, message, &sig)
                .is_ok()
        }
        CryptoScheme::Ed25519 => {
            let Ok(public) = ed25519_dalek::VerifyingKey::from_bytes(&public_key.0) else {
                return false;
            };
            let sig = ed25519_dalek::Signature::from_bytes(signature);
            public.verify_strict(message, &sig).is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vectors;

    fn vector_account(name: &str) -> (String, PublicKey) {
        let v = test_vectors::load();
        let account = v.get("accounts").and_then(|a| a.get(name)).unwrap();
        let uri = account.get("uri").and_then(|u| u.as_str()).unwrap();
        let key = hex::decode(&account.get("publicKey").and_then(|u| u.as_str()).unwrap()).unwrap();
        (uri, PublicKey(key.try_into().unwrap()))
    }

    #[test]
    fn alice_sr25519_matches_vector() {
        let (uri, expected) = vector_account("memberSr25519");
        assert_eq!(uri, "//Alice");
        let pair = KeyPair::from_uri(&uri, CryptoScheme::Sr25519).unwrap();
        assert_eq!(pair.public_key(), expected);
        assert_eq!(
            pair.public_key().to_joystream_address(),
            "j4W7rVcUCxi2crhhjRq46fNDRbVHTjJrz6bKxZwehEMQxZeSf"
        );
    }

    #[test]
    fn bob_sr25519_matches_vector() {
        let (uri, expected) = vector_account("nodeSr25519");
        assert_eq!(uri, "//Bob");
        assert_eq!(
            KeyPair::from_uri(&uri, CryptoScheme::Sr25519)
                .unwrap()
                .public_key(),
            expected
        );
    }

    #[test]
    fn charlie_ed25519_matches_vector() {
        let (uri, expected) = vector_account("memberEd25519");
        assert_eq!(uri, "//Charlie");
        assert_eq!(
            KeyPair::from_uri(&uri, CryptoScheme::Ed25519)
                .unwrap()
                .public_key(),
            expected
        );
    }

    #[test]
    fn explicit_dev_phrase_equals_shorthand() {
        for scheme in [CryptoScheme::Sr25519, CryptoScheme::Ed25519] {
            let short = KeyPair::from_uri("//Alice", scheme).unwrap();
            let long = KeyPair::from_uri(&format!("{DEV_PHRASE}//Alice"), scheme).unwrap();
            assert_eq!(short.public_key(), long.public_key());
        }
    }

    #[test]
    fn well_known_dev_keys() {
        // Published substrate dev accounts (subkey inspect), independent of the vectors.
        let cases = [
            (
                "//Alice",
                CryptoScheme::Sr25519,
                "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
            ),
            (
                "//Bob",
                CryptoScheme::Sr25519,
                "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
            ),
            (
                "//Alice",
                CryptoScheme::Ed25519,
                "5FA9nQDVg267DEd8m1ZypXLBnvN7SFxYwV7ndqSYGiN9TTpu",
            ),
        ];
        for (uri, scheme, address) in cases {
            let key = KeyPair::from_uri(uri, scheme).unwrap().public_key();
            assert_eq!(ss58::encode(&key.0, 42).unwrap(), address, "{uri} {scheme}");
        }
    }

    /// Public keys computed with @polkadot/keyring 12 `addFromUri` (the reference's library).
    const POLKADOT_JS_KEYS: [(&str, CryptoScheme, &str); 21] = [
        (
            "//Alice/soft",
            CryptoScheme::Sr25519,
            "0x02cfd83074aefc9955af4034d19b3780d47a52e158ababec8ec012b2295f1c5b",
        ),
        (
            "//Alice///secret",
            CryptoScheme::Sr25519,
            "0x08a5e583f74f54f3811cb5f7d74e686d473e3a466fd0e95738707a80c3183b15",
        ),
        (
            "//1",
            CryptoScheme::Sr25519,
            "0xb606fc73f57f03cdb4c932d475ab426043e429cecc2ffff0d2672b0df8398c48",
        ),
        (
            "//01",
            CryptoScheme::Sr25519,
            "0xb606fc73f57f03cdb4c932d475ab426043e429cecc2ffff0d2672b0df8398c48",
        ),
        (
            "//Alice//stash",
            CryptoScheme::Sr25519,
            "0xbe5ddb1579b72e84524fc29e78609e3caf42e85aa118ebfe0b0ad404b5bdd25f",
        ),
        (
            "0x0707070707070707070707070707070707070707070707070707070707070707",
            CryptoScheme::Sr25519,
            "0x7c0f469d3bd340bae718203fa30ca071a5e37c751e891dbded837b213d45d91d",
        ),
        (
            "0x0707070707070707070707070707070707070707070707070707070707070707//x",
            CryptoScheme::Sr25519,
            "0x882fdc41e1b178f2659ae5523d24b6187c2bb16c7716123fb0bc7d8caef48557",
        ),
        (
            "//xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            CryptoScheme::Sr25519,
            "0x62ff70144a831b8dc0e6dc91ff36bd55e415fb79c277523a3e2adb9bdfe0590e",
        ),
        (
            "//Alice/0",
            CryptoScheme::Sr25519,
            "0x9057db4878163172ea51d570612043a98971737bf608b544991130ac110b0801",
        ),
        (
            "//Alice/18446744073709551615",
            CryptoScheme::Sr25519,
            "0x3c1c9262933a8b4e41117e8be1f280e10dc5647daa789e63fefe2a32ce311844",
        ),
        (
            "bottom drive obey lake curtain smoke basket hold race lonely fit walk//Bob",
            CryptoScheme::Sr25519,
            "0x8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48",
        ),
        (
            "//Alice",
            CryptoScheme::Ed25519,
            "0x88dc3417d5058ec4b4503e0c12ea1a0a89be200fe98922423d4334014fa6b0ee",
        ),
        (
            "//Alice///secret",
            CryptoScheme::Ed25519,
            "0x749359c2116a245efb1f224dcca5d4c72ec1d64d02537721a9c36e124894ad65",
        ),
        (
            "//1",
            CryptoScheme::Ed25519,
            "0xbf3a763d817cee09bf785b9cc6118f58dab5c03f3ace6d524899bcb28ac74f27",
        ),
        (
            "//01",
            CryptoScheme::Ed25519,
            "0xbf3a763d817cee09bf785b9cc6118f58dab5c03f3ace6d524899bcb28ac74f27",
        ),
        (
            "//Alice//stash",
            CryptoScheme::Ed25519,
            "0x451781cd0c5504504f69ceec484cc66e4c22a2b6a9d20fb1a426d91ad074a2a8",
        ),
        (
            "0x0707070707070707070707070707070707070707070707070707070707070707",
            CryptoScheme::Ed25519,
            "0xea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c",
        ),
        (
            "0x0707070707070707070707070707070707070707070707070707070707070707//x",
            CryptoScheme::Ed25519,
            "0x81a6c7beac036c7677c49d3e77cc36c88831fd81615c32bf667d4ad8f55f2429",
        ),
        (
            "//xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            CryptoScheme::Ed25519,
            "0xbc393b79be5b4ec36b6d99c39d1d334640bb6faa28063a905d9af16cb238e851",
        ),
        (
            "bottom drive obey lake curtain smoke basket hold race lonely fit walk//Bob",
            CryptoScheme::Ed25519,
            "0xd17c2d7823ebf260fd138f2d7e27d114c0145d968b5ff5006125f2414fadae69",
        ),
        (
            "//Alice",
            CryptoScheme::Sr25519,
            "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d",
        ),
    ];

    #[test]
    fn derivations_match_polkadot_js() {
        for (uri, scheme, expected) in POLKADOT_JS_KEYS {
            let key = KeyPair::from_uri(uri, scheme).unwrap().public_key();
            assert_eq!(key.to_hex(), expected, "{uri} {scheme}");
        }
    }

    #[test]
    fn soft_password_and_numeric_junctions_parse() {
        let a = KeyPair::from_uri("//Alice/soft", CryptoScheme::Sr25519).unwrap();
        let b = KeyPair::from_uri("//Alice", CryptoScheme::Sr25519).unwrap();
        assert_ne!(a.public_key(), b.public_key());
        // Soft derivation is deterministic in the public key.
        let a2 = KeyPair::from_uri("//Alice/soft", CryptoScheme::Sr25519).unwrap();
        assert_eq!(a.public_key(), a2.public_key());
        let p = KeyPair::from_uri("//Alice///secret", CryptoScheme::Sr25519).unwrap();
        assert_ne!(p.public_key(), b.public_key());
        let n1 = KeyPair::from_uri("//1", CryptoScheme::Ed25519).unwrap();
        let n2 = KeyPair::from_uri("//01", CryptoScheme::Ed25519).unwrap();
        assert_eq!(
            n1.public_key(),
            n2.public_key(),
            "numeric junctions encode as u64"
        );
        assert_eq!(
            KeyPair::from_uri("//Alice/soft", CryptoScheme::Ed25519).unwrap_err(),
            KeyError::SoftDerivationUnsupported {
                junction: "soft".into()
            }
        );
    }

    #[test]
    fn long_junctions_are_hashed() {
        let long = "x".repeat(40);
        let code = junction_chain_code(&long);
        let mut encoded = vec![40u8 << 2];
        encoded.extend_from_slice(long.as_bytes());
        assert_eq!(code, blake2_256(&encoded));
        let short = junction_chain_code("Alice");
        assert_eq!(&short[..6], &[5 << 2, b'A', b'l', b'i', b'c', b'e']);
        assert!(short[6..].iter().all(|&b| b == 0));
    }

    #[test]
    fn hex_seed_uri() {
        let seed = [7u8; 32];
        let uri = hex::encode(&seed);
        for scheme in [CryptoScheme::Sr25519, CryptoScheme::Ed25519] {
            let from_uri = KeyPair::from_uri(&uri, scheme).unwrap();
            assert_eq!(
                from_uri.public_key(),
                KeyPair::from_seed(&seed, scheme).unwrap().public_key()
            );
            let derived = KeyPair::from_uri(&format!("{uri}//x"), scheme).unwrap();
            assert_ne!(derived.public_key(), from_uri.public_key());
        }
        assert_eq!(
            KeyPair::from_uri("0x0102", CryptoScheme::Sr25519).unwrap_err(),
            KeyError::InvalidSeedLength {
                expected: 32,
                got: 2
            }
        );
        assert!(matches!(
            KeyPair::from_uri("0xzz", CryptoScheme::Sr25519),
            Err(KeyError::InvalidSeedHex(_))
        ));
    }

    #[test]
    fn malformed_uris_are_rejected() {
        assert!(matches!(
            KeyPair::from_uri("bottom drive obey", CryptoScheme::Sr25519),
            Err(KeyError::InvalidPhrase { .. })
        ));
        assert!(matches!(
            KeyPair::from_uri("a-b//Alice", CryptoScheme::Sr25519),
            Err(KeyError::MalformedUri { .. })
        ));
        assert!(matches!(
            KeyPair::from_uri(&"/a".repeat(600), CryptoScheme::Sr25519),
            Err(KeyError::UriTooLong { .. })
        ));
        let bad_checksum = DEV_PHRASE.replace("walk", "wall");
        assert!(matches!(
            KeyPair::from_uri(&bad_checksum, CryptoScheme::Sr25519),
            Err(KeyError::InvalidPhrase { .. })
        ));
    }

    #[test]
    fn sign_and_verify_both_schemes() {
        for scheme in [CryptoScheme::Sr25519, CryptoScheme::Ed25519] {
            let pair = KeyPair::from_uri("//Dave", scheme).unwrap();
            let sig = pair.sign(b"hello");
            assert!(verify(scheme, &pair.public_key(), b"hello", &sig));
            assert!(!verify(scheme, &pair.public_key(), b"hellO", &sig));
            let other = KeyPair::generate(scheme);
            assert!(!verify(scheme, &other.public_key(), b"hello", &sig));
            let cross = match scheme {
                CryptoScheme::Sr25519 => CryptoScheme::Ed25519,
                CryptoScheme::Ed25519 => CryptoScheme::Sr25519,
            };
            assert!(!verify(cross, &pair.public_key(), b"hello", &sig));
        }
    }

    #[test]
    fn debug_does_not_leak_secrets() {
        let pair = KeyPair::from_uri("//Alice", CryptoScheme::Sr25519).unwrap();
        let text = format!("{pair:?}");
        assert!(
            text.contains("Sr25519") && text.contains("0xd43593c7"),
            "{text}"
        );
    }
}
