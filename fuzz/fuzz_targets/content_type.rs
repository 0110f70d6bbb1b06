//! `content_type::sniff`: classifies the first bytes of every upload; its code is stored in
//! the index and its MIME type is served. Checks: it never panics; its code round-trips and its
//! MIME type is well formed; bytes past SNIFF_LEN_BYTES are ignored; a text type is only given
//! to bytes that are text; a file that starts with an unmistakable signature gets that type;
//! once a container's signature is visible the type is one of that container's (or undecided);
//! and, as `sniff` documents, cutting the input short never turns a type into a sibling type
//! of the same family (a cut may only leave it undecided).
#![no_main]

use colossus_engine::content_type::{sniff, ContentType, SNIFF_LEN_BYTES};
use libfuzzer_sys::fuzz_target;

use ContentType as T;

fuzz_target!(|data: &[u8]| {
    // Two bytes choose where to cut; the rest is the object's beginning.
    let (cut_pick, payload) = match data {
        [a, b, rest @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), rest),
        _ => (0, data),
    };
    let found = sniff(payload);
    assert_eq!(ContentType::from_code(found.code()), Some(found));
    let mime = found.mime();
    assert!(mime.contains('/') && !mime.contains("html"), "{mime}");

    let window = &payload[..payload.len().min(SNIFF_LEN_BYTES)];
    if payload.len() > SNIFF_LEN_BYTES {
        assert_eq!(
            sniff(window),
            found,
            "bytes past SNIFF_LEN_BYTES changed the type"
        );
    } else if !payload.is_empty() && cut_pick & 1 == 1 {
        // Inputs are rarely longer than the window: repeat this one past it.
        let long = payload.repeat(SNIFF_LEN_BYTES / payload.len() + 1);
        let long_found = sniff(&long);
        assert_eq!(
            sniff(&long[..SNIFF_LEN_BYTES]),
            long_found,
            "bytes past SNIFF_LEN_BYTES changed the type"
        );
    }
    check_text(window, found);
    check_signatures(window, found);

    for cut in [
        cut_pick % (window.len() + 1),
        window.len().saturating_sub(1),
    ] {
        let early = sniff(&window[..cut]);
        check_signatures(&window[..cut], early);
        if early != found && family(early).is_some() && family(early) == family(found) {
            panic!(
                "cut to {cut} of {} bytes, {found:?} reads as its sibling {early:?}",
                window.len()
            );
        }
    }
});

/// Text types only for text; a transport stream never for text (as `sniff_mpeg_ts` says).
fn check_text(window: &[u8], found: ContentType) {
    if is_text_type(found) {
        assert!(
            looks_like_text(window),
            "{found:?} for bytes that are not text"
        );
    }
    if found == T::MpegTs {
        assert!(
            !looks_like_text(window),
            "MpegTs for bytes that read as text"
        );
    }
}

/// Signatures that decide the type, or at least the container, on their own.
fn check_signatures(p: &[u8], found: ContentType) {
    let exact: &[(&[u8], ContentType)] = &[
        (b"GIF87a", T::Gif),
        (b"GIF89a", T::Gif),
        (b"\x89PNG\r\n\x1A\n", T::Png),
        (b"%PDF-", T::Pdf),
        (b"fLaC\x00\x00\x00\x22", T::Flac),
        (b"fLaC\x80\x00\x00\x22", T::Flac),
    ];
    for (signature, expected) in exact {
        if p.starts_with(signature) {
            let signature = signature.escape_ascii();
            assert_eq!(found, *expected, "the input starts with \"{signature}\"");
        }
    }
    // Undecided is OctetStream, or a text type when the bytes are text (as `sniff` documents).
    let undecided_or = |family_id: u8| {
        found == T::OctetStream
            || (is_text_type(found) && looks_like_text(p))
            || family(found) == Some(family_id)
    };
    if p.starts_with(b"OggS\0") {
        assert!(undecided_or(OGG), "{found:?} for an Ogg page");
    }
    // An ISO BMFF file: a box of at least 16 bytes whose type is `ftyp`.
    let iso = p.get(4..8) == Some(b"ftyp".as_slice())
        && p.get(..4)
            .is_some_and(|size| u32::from_be_bytes(size.try_into().unwrap()) >= 16);
    if iso {
        assert!(undecided_or(ISO_BMFF), "{found:?} for an ftyp box");
    }
    if p.starts_with(b"\x1A\x45\xDF\xA3") && !iso {
        assert!(undecided_or(EBML), "{found:?} for an EBML header");
    }
}

fn is_text_type(t: ContentType) -> bool {
    matches!(t, T::PlainText | T::Json | T::WebVtt | T::Srt | T::Svg)
}

const ISO_BMFF: u8 = 1;
const EBML: u8 = 2;
const OGG: u8 = 3;
const RIFF: u8 = 4;
const TAGGED_AUDIO: u8 = 5;

/// Types told apart only by looking further into one container or signature.
fn family(t: ContentType) -> Option<u8> {
    match t {
        T::Mp4 | T::QuickTime | T::M4a | T::Avif | T::Heic => Some(ISO_BMFF),
        T::Webm | T::Matroska => Some(EBML),
        T::OggVideo | T::OggAudio => Some(OGG),
        T::Avi | T::Wav | T::Webp => Some(RIFF),
        // What an ID3 tag may precede.
        T::Mp3 | T::Aac | T::Flac => Some(TAGGED_AUDIO),
        _ => None,
    }
}

/// UTF-8 (a final character may be cut off) without the control bytes that never occur in
/// text (the WHATWG "binary data bytes").
fn looks_like_text(bytes: &[u8]) -> bool {
    let utf8 = match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    };
    let binary_byte = |b: &u8| matches!(b, 0x00..=0x08 | 0x0B | 0x0E..=0x1A | 0x1C..=0x1F);
    utf8 && !bytes.iter().any(binary_byte)
}
