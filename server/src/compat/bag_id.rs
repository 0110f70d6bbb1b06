//! Bag ids as text: `static:council`, `static:wg:<group>`, `dynamic:member:<u64>`,
//! `dynamic:channel:<u64>`. `Display` gives the canonical form (what the storage squid and
//! the reference's `stringifyBagId` print); `FromStr` accepts only that form, and
//! `BagId::parse_lenient` accepts what the reference node's `parseBagId` accepts, minus its
//! JavaScript `parseInt` accidents. Rules, from the reference's `BagIdParser`
//! (storage-node/src/services/helpers/bagTypes.ts):
//!
//! - it trims JS whitespace, lowercases the whole string and splits on ':' into 2 or 3 parts;
//!   lenient parsing does the same (so `Static:Council` and ` static:council ` are accepted);
//! - working groups are the runtime's `WorkingGroup` enum variants, lowercased (current
//!   runtime: Forum, Storage, Content, OperationsAlpha, App, Distribution, OperationsBeta,
//!   OperationsGamma, Membership; older runtimes had Gateway where App is, which the
//!   reference now rejects, and so do we); `storageWorkingGroup` is not a group name;
//! - dynamic ids go through JS `parseInt`, which also takes a sign, "0x" hex, trailing junk
//!   ("7abc" is 7, "1e3" is 1) and rounds above 2^53. Lenient parsing takes only decimal
//!   digits (leading zeros allowed, same value as parseInt gives) that fit in a u64, and
//!   rejects '+', '-', hex, junk and overflow instead of silently changing the id.

use std::fmt;
use std::str::FromStr;

/// Longest input looked at (the longest canonical id is 36 bytes; slack for whitespace).
pub const MAX_BAG_ID_LEN: usize = 128;

/// Working groups of the Joystream runtime (`PalletCommonWorkingGroupIterableEnumsWorkingGroup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorkingGroup {
    /// Forum working group.
    Forum,
    /// Storage working group.
    Storage,
    /// Content working group.
    Content,
    /// Operations working group alpha (builders).
    OperationsAlpha,
    /// App working group (called Gateway in older runtimes).
    App,
    /// Distribution working group.
    Distribution,
    /// Operations working group beta (HR).
    OperationsBeta,
    /// Operations working group gamma (marketing).
    OperationsGamma,
    /// Membership working group.
    Membership,
}

impl WorkingGroup {
    /// Every group, in runtime enum order.
    pub const ALL: [Self; 9] = [
        Self::Forum,
        Self::Storage,
        Self::Content,
        Self::OperationsAlpha,
        Self::App,
        Self::Distribution,
        Self::OperationsBeta,
        Self::OperationsGamma,
        Self::Membership,
    ];

    /// The lowercase name used in bag ids (e.g. "operationsalpha").
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Forum => "forum",
            Self::Storage => "storage",
            Self::Content => "content",
            Self::OperationsAlpha => "operationsalpha",
            Self::App => "app",
            Self::Distribution => "distribution",
            Self::OperationsBeta => "operationsbeta",
            Self::OperationsGamma => "operationsgamma",
            Self::Membership => "membership",
        }
    }

    /// The runtime enum variant name (e.g. "OperationsAlpha").
    pub fn runtime_name(self) -> &'static str {
        match self {
            Self::Forum => "Forum",
            Self::Storage => "Storage",
            Self::Content => "Content",
            Self::OperationsAlpha => "OperationsAlpha",
            Self::App => "App",
            Self::Distribution => "Distribution",
            Self::OperationsBeta => "OperationsBeta",
            Self::OperationsGamma => "OperationsGamma",
            Self::Membership => "Membership",
        }
    }

    fn from_lowercase(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == name)
    }
}

/// A bag: the unit of storage assignment on the chain. (`Ord` is structural, for map keys;
/// it is not the reference's `cmpBagIds` order, which compares SCALE encodings.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BagId {
    /// `static:council`.
    StaticCouncil,
    /// `static:wg:<group>`.
    StaticWorkingGroup(WorkingGroup),
    /// `dynamic:member:<member id>`.
    DynamicMember(u64),
    /// `dynamic:channel:<channel id>`.
    DynamicChannel(u64),
}

/// Why an id in a dynamic bag id is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdProblem {
    /// No digits.
    Empty,
    /// Something other than ASCII decimal digits (sign, hex, junk, whitespace).
    NotDecimal,
    /// More than u64::MAX.
    Overflow,
    /// Leading zeros (strict parsing only).
    LeadingZero,
}

impl fmt::Display for IdProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "it is empty",
            Self::NotDecimal => "only decimal digits are allowed",
            Self::Overflow => "it does not fit in a u64",
            Self::LeadingZero => "leading zeros are not canonical",
        })
    }
}

/// Why a string is not a bag id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BagIdError {
    /// Longer than `MAX_BAG_ID_LEN` bytes.
    #[error("bag id is {len} bytes, more than the {max} allowed")]
    TooLong {
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not 2 or 3 ':'-separated parts.
    #[error("bag id must have 2 or 3 ':'-separated parts, found {parts}")]
    WrongPartCount {
        /// Parts found.
        parts: usize,
    },
    /// First part is neither `static` nor `dynamic`.
    #[error("bag id kind {kind:?} is neither \"static\" nor \"dynamic\"")]
    UnknownKind {
        /// The first part.
        kind: String,
    },
    /// A static bag other than `council` and `wg:<group>`.
    #[error("unknown static bag {name:?} (expected \"static:council\" or \"static:wg:<group>\")")]
    UnknownStaticBag {
        /// The part(s) after `static:`.
        name: String,
    },
    /// `static:wg:<group>` with an unknown group.
    #[error("unknown working group {name:?} (known: forum, storage, content, operationsalpha, app, distribution, operationsbeta, operationsgamma, membership)")]
    UnknownWorkingGroup {
        /// The group given.
        name: String,
    },
    /// `dynamic:<type>:<id>` with a type other than member or channel.
    #[error("unknown dynamic bag type {name:?} (expected \"member\" or \"channel\")")]
    UnknownDynamicType {
        /// The type given.
        name: String,
    },
    /// A dynamic bag without an id part.
    #[error("dynamic bag id needs an id: \"dynamic:{kind}:<u64>\"")]
    MissingId {
        /// The dynamic type given.
        kind: String,
    },
    /// The id part is not a u64 in decimal.
    #[error("bag id number {text:?} is invalid: {problem}")]
    InvalidId {
        /// The id text.
        text: String,
        /// What is wrong with it.
        problem: IdProblem,
    },
    /// Accepted by lenient parsing only; the canonical spelling is given.
    #[error("bag id is not in canonical form; write {canonical:?}")]
    NotCanonical {
        /// The canonical text of the same bag.
        canonical: String,
    },
}

impl fmt::Display for BagId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StaticCouncil => f.write_str("static:council"),
            Self::StaticWorkingGroup(g) => write!(f, "static:wg:{}", g.as_str()),
            Self::DynamicMember(id) => write!(f, "dynamic:member:{id}"),
            Self::DynamicChannel(id) => write!(f, "dynamic:channel:{id}"),
        }
    }
}

/// JS `String.prototype.trim` whitespace: WhiteSpace (incl. U+FEFF and Zs) and line terminators.
fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\u{9}' | '\u{a}' | '\u{b}' | '\u{c}' | '\u{d}' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

fn parse_id(text: &str) -> Result<u64, BagIdError> {
    let invalid = |problem| BagIdError::InvalidId {
        text: text.to_owned(),
        problem,
    };
    if text.is_empty() {
        return Err(invalid(IdProblem::Empty));
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(IdProblem::NotDecimal));
    }
    // Digits only, so the only failure left is overflow.
    text.parse::<u64>()
        .map_err(|_| invalid(IdProblem::Overflow))
}

impl BagId {
    /// Parses what the reference node's `parseBagId` accepts (see module docs), returning
    /// the same bag; `to_string()` then gives its canonical text.
    pub fn parse_lenient(input: &str) -> Result<Self, BagIdError> {
        if input.len() > MAX_BAG_ID_LEN {
            return Err(BagIdError::TooLong {
                len: input.len(),
                max: MAX_BAG_ID_LEN,
            });
        }
        // ASCII lowercasing matches JS toLowerCase here: no non-ASCII character lowercases
        // into any letter the grammar uses except U+212A (Kelvin sign -> 'k'), and no
        // keyword contains 'k'.
        let lowered = input.trim_matches(is_js_whitespace).to_ascii_lowercase();
        let parts: Vec<&str> = lowered.split(':').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(BagIdError::WrongPartCount { parts: parts.len() });
        }
        match parts[0] {
            "static" => match (parts[1], parts.get(2)) {
                ("council", None) => Ok(Self::StaticCouncil),
                ("wg", Some(group)) => WorkingGroup::from_lowercase(group)
                    .map(Self::StaticWorkingGroup)
                    .ok_or_else(|| BagIdError::UnknownWorkingGroup {
                        name: (*group).to_owned(),
                    }),
                _ => Err(BagIdError::UnknownStaticBag {
                    name: parts[1..].join(":"),
                }),
            },
            "dynamic" => {
                let kind = parts[1];
                let constructor: fn(u64) -> Self = match kind {
                    "member" => Self::DynamicMember,
                    "channel" => Self::DynamicChannel,
                    _ => {
                        return Err(BagIdError::UnknownDynamicType {
                            name: kind.to_owned(),
                        })
                    }
                };
                let id = parts.get(2).ok_or_else(|| BagIdError::MissingId {
                    kind: kind.to_owned(),
                })?;
                parse_id(id).map(constructor)
            }
            other => Err(BagIdError::UnknownKind {
                kind: other.to_owned(),
            }),
        }
    }

    /// The dynamic bag's owner id (member or channel), if dynamic.
    pub fn dynamic_id(&self) -> Option<u64> {
        match self {
            Self::DynamicMember(id) | Self::DynamicChannel(id) => Some(*id),
            Self::StaticCouncil | Self::StaticWorkingGroup(_) => None,
        }
    }
}

impl FromStr for BagId {
    type Err = BagIdError;

    /// Accepts only the canonical text (lowercase, no whitespace, no leading zeros).
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let bag = Self::parse_lenient(input)?;
        let canonical = bag.to_string();
        if canonical == input {
            return Ok(bag);
        }
        // Leading zeros get their own error; everything else names the canonical spelling.
        if let Some(id_text) = input.rsplit(':').next() {
            if bag.dynamic_id().is_some() && id_text.len() > 1 && id_text.starts_with('0') {
                return Err(BagIdError::InvalidId {
                    text: id_text.to_owned(),
                    problem: IdProblem::LeadingZero,
                });
            }
        }
        Err(BagIdError::NotCanonical { canonical })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms_round_trip() {
        let mut all = vec![
            BagId::StaticCouncil,
            BagId::DynamicMember(0),
            BagId::DynamicMember(7),
            BagId::DynamicChannel(u64::MAX),
        ];
        all.extend(WorkingGroup::ALL.map(BagId::StaticWorkingGroup));
        for bag in all {
            let text = bag.to_string();
            assert_eq!(text.parse::<BagId>(), Ok(bag), "{text}");
            assert_eq!(BagId::parse_lenient(&text), Ok(bag), "{text}");
        }
        assert_eq!(
            BagId::StaticWorkingGroup(WorkingGroup::OperationsAlpha).to_string(),
            "static:wg:operationsalpha"
        );
        assert_eq!(BagId::DynamicChannel(7).to_string(), "dynamic:channel:7");
        assert_eq!(
            "dynamic:channel:18446744073709551615".parse::<BagId>(),
            Ok(BagId::DynamicChannel(u64::MAX))
        );
    }

    #[test]
    fn lenient_accepts_what_the_reference_normalises() {
        let cases = [
            ("Static:Council", BagId::StaticCouncil),
            ("  static:council\n", BagId::StaticCouncil),
            ("\u{feff}static:council\u{3000}", BagId::StaticCouncil),
            (
                "static:wg:OperationsAlpha",
                BagId::StaticWorkingGroup(WorkingGroup::OperationsAlpha),
            ),
            (
                "STATIC:WG:STORAGE",
                BagId::StaticWorkingGroup(WorkingGroup::Storage),
            ),
            ("dynamic:Member:007", BagId::DynamicMember(7)),
            ("Dynamic:Channel:0", BagId::DynamicChannel(0)),
        ];
        for (text, bag) in cases {
            assert_eq!(BagId::parse_lenient(text), Ok(bag), "{text:?}");
            // Strict parsing refuses and names the canonical spelling (or the leading zero).
            assert!(text.parse::<BagId>().is_err(), "{text:?}");
        }
        assert_eq!(
            "Static:Council".parse::<BagId>(),
            Err(BagIdError::NotCanonical {
                canonical: "static:council".into()
            })
        );
        assert_eq!(
            "dynamic:member:007".parse::<BagId>(),
            Err(BagIdError::InvalidId {
                text: "007".into(),
                problem: IdProblem::LeadingZero
            })
        );
    }

    #[test]
    fn rejects_parse_int_accidents() {
        for (text, problem) in [
            ("dynamic:member:+5", IdProblem::NotDecimal),
            ("dynamic:member:-5", IdProblem::NotDecimal),
            ("dynamic:member:0x10", IdProblem::NotDecimal),
            ("dynamic:member:7abc", IdProblem::NotDecimal),
            ("dynamic:member:1e3", IdProblem::NotDecimal),
            ("dynamic:member:1.0", IdProblem::NotDecimal),
            ("dynamic:member: 5", IdProblem::NotDecimal),
            ("dynamic:member:５", IdProblem::NotDecimal), // fullwidth digit
            ("dynamic:member:", IdProblem::Empty),
            ("dynamic:member:18446744073709551616", IdProblem::Overflow),
            (
                "dynamic:channel:99999999999999999999999",
                IdProblem::Overflow,
            ),
        ] {
            match BagId::parse_lenient(text) {
                Err(BagIdError::InvalidId { problem: p, .. }) => assert_eq!(p, problem, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn rejects_unknown_shapes_with_specific_errors() {
        assert_eq!(
            BagId::parse_lenient("static"),
            Err(BagIdError::WrongPartCount { parts: 1 })
        );
        assert_eq!(
            BagId::parse_lenient(""),
            Err(BagIdError::WrongPartCount { parts: 1 })
        );
        assert_eq!(
            BagId::parse_lenient("dynamic:member:1:2"),
            Err(BagIdError::WrongPartCount { parts: 4 })
        );
        assert_eq!(
            BagId::parse_lenient("stat:council"),
            Err(BagIdError::UnknownKind {
                kind: "stat".into()
            })
        );
        assert_eq!(
            BagId::parse_lenient("static:council:1"),
            Err(BagIdError::UnknownStaticBag {
                name: "council:1".into()
            })
        );
        assert_eq!(
            BagId::parse_lenient("static:wg"),
            Err(BagIdError::UnknownStaticBag { name: "wg".into() })
        );
        assert_eq!(
            BagId::parse_lenient("static:wg:gateway"),
            Err(BagIdError::UnknownWorkingGroup {
                name: "gateway".into()
            })
        );
        // The vectors' tokenRequests use this string; it is signed data, not a valid bag id.
        assert_eq!(
            BagId::parse_lenient("static:wg:storageWorkingGroup"),
            Err(BagIdError::UnknownWorkingGroup {
                name: "storageworkinggroup".into()
            })
        );
        assert_eq!(
            BagId::parse_lenient("dynamic:video:1"),
            Err(BagIdError::UnknownDynamicType {
                name: "video".into()
            })
        );
        assert_eq!(
            BagId::parse_lenient("dynamic:member"),
            Err(BagIdError::MissingId {
                kind: "member".into()
            })
        );
        assert!(matches!(
            BagId::parse_lenient(&"a".repeat(MAX_BAG_ID_LEN + 1)),
            Err(BagIdError::TooLong { .. })
        ));
        // Kelvin sign does not sneak in as 'k' (and no keyword has a 'k' anyway).
        assert!(BagId::parse_lenient("static:counci\u{212a}").is_err());
    }
}
