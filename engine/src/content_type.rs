//! Content-type sniffing for uploaded objects: at write time the first [`SNIFF_LEN_BYTES`]
//! of an object are classified by magic bytes and structure into a [`ContentType`], whose
//! one-byte code is stored in the on-disk index and mapped back to a MIME type when serving.

/// Bytes of an object's beginning that `sniff` looks at; callers pass up to this many.
pub const SNIFF_LEN_BYTES: usize = 4096;

/// A detected content type; the discriminant is the stable on-disk code.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// Unrecognised or binary data: `application/octet-stream`.
    OctetStream = 0,
    /// ISO BMFF video (any brand not listed elsewhere): `video/mp4`.
    Mp4 = 1,
    /// ISO BMFF with the `qt  ` brand: `video/quicktime`.
    QuickTime = 2,
    /// EBML with DocType `webm`: `video/webm`.
    Webm = 3,
    /// EBML with any other DocType: `video/x-matroska`.
    Matroska = 4,
    /// Ogg carrying Theora: `video/ogg`.
    OggVideo = 5,
    /// RIFF `AVI `: `video/x-msvideo`.
    Avi = 6,
    /// MPEG transport stream (188- or 192-byte packets): `video/mp2t`.
    MpegTs = 7,
    /// Flash video: `video/x-flv`.
    Flv = 8,
    /// MPEG program stream: `video/mpeg`.
    MpegPs = 9,
    /// MPEG audio (ID3 tag or layer I/II/III frames): `audio/mpeg`.
    Mp3 = 10,
    /// ISO BMFF with an `M4A `/`M4B `/`M4P ` brand: `audio/mp4`.
    M4a = 11,
    /// RIFF/RF64 `WAVE`: `audio/wav`.
    Wav = 12,
    /// FLAC: `audio/flac`.
    Flac = 13,
    /// AAC in ADTS framing: `audio/aac`.
    Aac = 14,
    /// Ogg without Theora (Vorbis, Opus, FLAC, ...): `audio/ogg`.
    OggAudio = 15,
    /// JPEG: `image/jpeg`.
    Jpeg = 16,
    /// PNG: `image/png`.
    Png = 17,
    /// GIF: `image/gif`.
    Gif = 18,
    /// RIFF `WEBP`: `image/webp`.
    Webp = 19,
    /// Windows bitmap: `image/bmp`.
    Bmp = 20,
    /// TIFF or BigTIFF: `image/tiff`.
    Tiff = 21,
    /// Windows icon: `image/x-icon`.
    Ico = 22,
    /// ISO BMFF AVIF image or sequence: `image/avif`.
    Avif = 23,
    /// ISO BMFF HEIF/HEIC image: `image/heic`.
    Heic = 24,
    /// SVG document: `image/svg+xml` (script-capable; serve with a restrictive CSP).
    Svg = 25,
    /// PDF: `application/pdf`.
    Pdf = 26,
    /// JSON (or JSON Lines) text: `application/json`.
    Json = 27,
    /// WebVTT subtitles: `text/vtt`.
    WebVtt = 28,
    /// SubRip subtitles: `application/x-subrip`.
    Srt = 29,
    /// Any other UTF-8 text, HTML included: `text/plain`.
    PlainText = 30,
    /// ZIP archive (also docx, epub, jar, ...): `application/zip`.
    Zip = 31,
    /// Gzip stream: `application/gzip`.
    Gzip = 32,
}

impl ContentType {
    /// Every variant, for exhaustive tests.
    pub const ALL: &'static [ContentType] = &[
        Self::OctetStream,
        Self::Mp4,
        Self::QuickTime,
        Self::Webm,
        Self::Matroska,
        Self::OggVideo,
        Self::Avi,
        Self::MpegTs,
        Self::Flv,
        Self::MpegPs,
        Self::Mp3,
        Self::M4a,
        Self::Wav,
        Self::Flac,
        Self::Aac,
        Self::OggAudio,
        Self::Jpeg,
        Self::Png,
        Self::Gif,
        Self::Webp,
        Self::Bmp,
        Self::Tiff,
        Self::Ico,
        Self::Avif,
        Self::Heic,
        Self::Svg,
        Self::Pdf,
        Self::Json,
        Self::WebVtt,
        Self::Srt,
        Self::PlainText,
        Self::Zip,
        Self::Gzip,
    ];

    /// The on-disk code (stable forever: never renumber; add new variants at the end).
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Decodes an on-disk code; None for unknown codes.
    pub fn from_code(code: u8) -> Option<ContentType> {
        Some(match code {
            0 => Self::OctetStream,
            1 => Self::Mp4,
            2 => Self::QuickTime,
            3 => Self::Webm,
            4 => Self::Matroska,
            5 => Self::OggVideo,
            6 => Self::Avi,
            7 => Self::MpegTs,
            8 => Self::Flv,
            9 => Self::MpegPs,
            10 => Self::Mp3,
            11 => Self::M4a,
            12 => Self::Wav,
            13 => Self::Flac,
            14 => Self::Aac,
            15 => Self::OggAudio,
            16 => Self::Jpeg,
            17 => Self::Png,
            18 => Self::Gif,
            19 => Self::Webp,
            20 => Self::Bmp,
            21 => Self::Tiff,
            22 => Self::Ico,
            23 => Self::Avif,
            24 => Self::Heic,
            25 => Self::Svg,
            26 => Self::Pdf,
            27 => Self::Json,
            28 => Self::WebVtt,
            29 => Self::Srt,
            30 => Self::PlainText,
            31 => Self::Zip,
            32 => Self::Gzip,
            _ => return None,
        })
    }

    /// MIME type string for the Content-Type header, e.g. "video/mp4".
    pub fn mime(self) -> &'static str {
        match self {
            Self::OctetStream => "application/octet-stream",
            Self::Mp4 => "video/mp4",
            Self::QuickTime => "video/quicktime",
            Self::Webm => "video/webm",
            Self::Matroska => "video/x-matroska",
            Self::OggVideo => "video/ogg",
            Self::Avi => "video/x-msvideo",
            Self::MpegTs => "video/mp2t",
            Self::Flv => "video/x-flv",
            Self::MpegPs => "video/mpeg",
            Self::Mp3 => "audio/mpeg",
            Self::M4a => "audio/mp4",
            Self::Wav => "audio/wav",
            Self::Flac => "audio/flac",
            Self::Aac => "audio/aac",
            Self::OggAudio => "audio/ogg",
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
            Self::Bmp => "image/bmp",
            Self::Tiff => "image/tiff",
            Self::Ico => "image/x-icon",
            Self::Avif => "image/avif",
            Self::Heic => "image/heic",
            Self::Svg => "image/svg+xml",
            Self::Pdf => "application/pdf",
            Self::Json => "application/json",
            Self::WebVtt => "text/vtt",
            Self::Srt => "application/x-subrip",
            Self::PlainText => "text/plain",
            Self::Zip => "application/zip",
            Self::Gzip => "application/gzip",
        }
    }
}

/// Sniff from the object's first bytes (at most SNIFF_LEN_BYTES; may be shorter, even empty).
///
/// Never panics on any input; bytes beyond [`SNIFF_LEN_BYTES`] are ignored. A signature needs
/// every byte it checks. Once a container's signature is visible (ISO BMFF `ftyp`, EBML, Ogg,
/// RIFF, an ID3 tag) its formats are only told apart on the bytes that decide between them;
/// while those are cut off the answer is `OctetStream` (or a text type when the visible bytes
/// are text), never a sibling format that the rest of the object could contradict. A prefix
/// shorter than the window is the whole object (the writer passes the first
/// [`SNIFF_LEN_BYTES`]), so the one guess is made for a full window only: an ID3 tag running
/// past it is taken for MP3, the common case.
pub fn sniff(prefix: &[u8]) -> ContentType {
    let p = prefix.get(..SNIFF_LEN_BYTES).unwrap_or(prefix);
    if p.is_empty() {
        return ContentType::OctetStream;
    }
    BINARY_SNIFFERS
        .iter()
        .find_map(|sniffer| sniffer(p))
        .or_else(|| sniff_text(p))
        .unwrap_or(ContentType::OctetStream)
}

/// A binary-format detector: `Some` when its signature matches.
type Sniffer = fn(&[u8]) -> Option<ContentType>;

/// Binary detectors, tried in order before the text detectors. Fixed signatures come first;
/// the two that only recognise a pattern of frames (MPEG-TS sync bytes, MPEG audio frame
/// headers) come last, since such a pattern can occur inside another format's header (the
/// `G` of `GIF8` is the TS sync byte 0x47).
const BINARY_SNIFFERS: &[Sniffer] = &[
    sniff_iso_bmff,
    sniff_riff,
    sniff_ebml,
    sniff_ogg,
    sniff_flv,
    sniff_mpeg_ps,
    sniff_flac,
    sniff_jpeg,
    sniff_png,
    sniff_gif,
    sniff_bmp,
    sniff_tiff,
    sniff_ico,
    sniff_pdf,
    sniff_zip,
    sniff_gzip,
    sniff_mpeg_ts,
    sniff_mpeg_audio,
];

// ---------------------------------------------------------------------------------------------
// Byte helpers.

fn bytes4(p: &[u8], at: usize) -> Option<[u8; 4]> {
    p.get(at..at.checked_add(4)?)?.try_into().ok()
}

fn be_u32(p: &[u8], at: usize) -> Option<u32> {
    bytes4(p, at).map(u32::from_be_bytes)
}

fn le_u32(p: &[u8], at: usize) -> Option<u32> {
    bytes4(p, at).map(u32::from_le_bytes)
}

fn le_u16(p: &[u8], at: usize) -> Option<u16> {
    let b: [u8; 2] = p.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(u16::from_le_bytes(b))
}

fn be_u16(p: &[u8], at: usize) -> Option<u16> {
    let b: [u8; 2] = p.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(u16::from_be_bytes(b))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// Video and container formats.

/// ISO BMFF (`ftyp` box at offset 4): MP4, QuickTime, M4A, AVIF, HEIC.
fn sniff_iso_bmff(p: &[u8]) -> Option<ContentType> {
    if p.get(4..8)? != b"ftyp" {
        return None;
    }
    // size, "ftyp", major brand, minor version, then compatible brands.
    let size = usize::try_from(be_u32(p, 0)?).ok()?;
    if size < 16 {
        return None;
    }
    // From here on the container is known: a cut-off major brand is undecided.
    let Some(major) = bytes4(p, 8) else {
        return Some(ContentType::OctetStream);
    };
    let compat_end = size.min(p.len());
    let compat = p.get(16..compat_end).unwrap_or(&[]).chunks_exact(4);
    let box_complete = size <= p.len();
    Some(match &major {
        b"qt  " => ContentType::QuickTime,
        b"M4A " | b"M4B " | b"M4P " => ContentType::M4a,
        b"avif" | b"avis" => ContentType::Avif,
        b"heic" | b"heix" => ContentType::Heic,
        b"mif1" | b"msf1" => {
            // Generic HEIF brands: the compatible brands say which codec is inside, and an
            // `avif` brand wins wherever it is listed, so only a complete box rules it out.
            let mut heic = false;
            for brand in compat {
                match brand {
                    b"avif" | b"avis" => return Some(ContentType::Avif),
                    b"heic" | b"heix" | b"hevc" | b"hevx" => heic = true,
                    _ => {}
                }
            }
            if !box_complete {
                ContentType::OctetStream
            } else if heic || &major == b"mif1" {
                ContentType::Heic
            } else {
                ContentType::Mp4
            }
        }
        _ => ContentType::Mp4,
    })
}

/// RIFF containers: AVI, WAVE (also RF64), WebP.
fn sniff_riff(p: &[u8]) -> Option<ContentType> {
    let magic = bytes4(p, 0)?;
    let form = bytes4(p, 8)?;
    match (&magic, &form) {
        (b"RIFF", b"AVI ") => Some(ContentType::Avi),
        (b"RIFF" | b"RF64", b"WAVE") => Some(ContentType::Wav),
        (b"RIFF", b"WEBP") => Some(ContentType::Webp),
        _ => None,
    }
}

/// Reads an EBML variable-length integer at `at`: (value without the length marker, length).
fn ebml_vint(p: &[u8], at: usize) -> Option<(u64, usize)> {
    let first = *p.get(at)?;
    if first == 0 {
        return None;
    }
    let len = first.leading_zeros() as usize + 1;
    let bytes = p.get(at..at.checked_add(len)?)?;
    let mut value = u64::from(first) & (0xFF >> len);
    for &b in bytes.iter().skip(1) {
        value = (value << 8) | u64::from(b);
    }
    Some((value, len))
}

/// Reads an EBML element ID at `at` (marker bits kept, at most 4 bytes): (id, length).
fn ebml_id(p: &[u8], at: usize) -> Option<(u32, usize)> {
    let first = *p.get(at)?;
    let len = first.leading_zeros() as usize + 1;
    if len > 4 {
        return None;
    }
    let bytes = p.get(at..at.checked_add(len)?)?;
    let id = bytes.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
    Some((id, len))
}

/// EBML (Matroska family): WebM when the header's DocType is `webm`, otherwise Matroska.
fn sniff_ebml(p: &[u8]) -> Option<ContentType> {
    const DOC_TYPE_ID: u32 = 0x4282;
    if !p.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return None;
    }
    // From here on the container is known; an undecidable header is OctetStream.
    let undecided = Some(ContentType::OctetStream);
    let Some((header_size, size_len)) = ebml_vint(p, 4) else {
        return undecided;
    };
    let body_start = 4 + size_len;
    let Some(body_end) = usize::try_from(header_size)
        .ok()
        .and_then(|s| s.checked_add(body_start))
    else {
        return undecided;
    };
    let mut pos = body_start;
    while pos < body_end {
        let Some((id, id_len)) = ebml_id(p, pos) else {
            return undecided;
        };
        let Some((size, size_len)) = ebml_vint(p, pos + id_len) else {
            return undecided;
        };
        let data_start = pos + id_len + size_len;
        let Some(data_end) = usize::try_from(size)
            .ok()
            .and_then(|s| s.checked_add(data_start))
            .filter(|&end| end <= body_end)
        else {
            return undecided;
        };
        if id == DOC_TYPE_ID {
            let Some(doc_type) = p.get(data_start..data_end) else {
                return undecided;
            };
            let end = doc_type.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            return Some(if doc_type.get(..end) == Some(b"webm".as_slice()) {
                ContentType::Webm
            } else {
                ContentType::Matroska
            });
        }
        pos = data_end;
    }
    // A complete header without DocType defaults to "matroska".
    Some(ContentType::Matroska)
}

/// Ogg: video when a Theora stream is present, otherwise audio.
///
/// Every logical stream starts with a BOS page holding its codec identification packet, and
/// all BOS pages come before any other page. So the type is decided by a Theora BOS page, or
/// by the first non-BOS page (no Theora then); a prefix that ends before either is undecided.
fn sniff_ogg(p: &[u8]) -> Option<ContentType> {
    const PAGE_HEADER_LEN: usize = 27;
    const HEADER_TYPE_BOS: u8 = 0x02;
    const THEORA_ID: &[u8] = b"\x80theora";
    if !p.starts_with(b"OggS") || p.get(4).is_some_and(|&version| version != 0) {
        return None;
    }
    let undecided = Some(ContentType::OctetStream);
    let mut page = 0usize;
    loop {
        let Some(header) = p.get(page..page + PAGE_HEADER_LEN) else {
            return undecided;
        };
        if !header.starts_with(b"OggS") || header.get(4) != Some(&0) {
            return undecided;
        }
        let header_type = header.get(5).copied().unwrap_or(0);
        if header_type & HEADER_TYPE_BOS == 0 {
            // Past the BOS pages without meeting Theora (a stream must start with one).
            return if page == 0 {
                undecided
            } else {
                Some(ContentType::OggAudio)
            };
        }
        let segments = usize::from(header.get(26).copied().unwrap_or(0));
        let table_start = page + PAGE_HEADER_LEN;
        let Some(table) = p.get(table_start..table_start + segments) else {
            return undecided;
        };
        let body_len: usize = table.iter().map(|&s| usize::from(s)).sum();
        let packet_start = table_start + segments;
        let first_packet_len = table.iter().position(|&s| s < 255).map_or(body_len, |i| {
            255 * i + usize::from(table.get(i).copied().unwrap_or(0))
        });
        let id_len = first_packet_len.min(THEORA_ID.len());
        let Some(id) = p.get(packet_start..packet_start + id_len) else {
            return undecided;
        };
        if id == THEORA_ID {
            return Some(ContentType::OggVideo);
        }
        page = packet_start + body_len;
    }
}

/// Checks MPEG-TS packets at `offset + k * stride` across the prefix; needs at least two.
fn ts_packets_valid(p: &[u8], offset: usize, stride: usize) -> bool {
    let mut seen = 0usize;
    let mut pos = offset;
    while let Some(&sync) = p.get(pos) {
        if sync != 0x47 {
            return false;
        }
        // adaptation_field_control 00 is reserved.
        if p.get(pos + 3).is_some_and(|&b| b & 0x30 == 0) {
            return false;
        }
        seen += 1;
        pos += stride;
    }
    seen >= 2
}

/// MPEG transport stream, plain 188-byte packets or 192-byte (M2TS, timestamped) packets.
///
/// Real packet headers and payloads always contain non-text bytes, so a prefix that reads
/// as text (say, lines that happen to start with `G` at the right offsets) is not a stream.
fn sniff_mpeg_ts(p: &[u8]) -> Option<ContentType> {
    let packets = ts_packets_valid(p, 0, 188) || ts_packets_valid(p, 4, 192);
    (packets && as_text(p).is_none()).then_some(ContentType::MpegTs)
}

/// Flash video: `FLV`, version 1, flags with reserved bits clear, header length >= 9.
fn sniff_flv(p: &[u8]) -> Option<ContentType> {
    let flags = *p.get(4)?;
    let data_offset = be_u32(p, 5)?;
    (p.starts_with(b"FLV\x01") && flags & 0xFA == 0 && data_offset >= 9).then_some(ContentType::Flv)
}

/// MPEG program stream: pack start code followed by an MPEG-1 or MPEG-2 pack header.
fn sniff_mpeg_ps(p: &[u8]) -> Option<ContentType> {
    let next = *p.get(4)?;
    let mpeg2 = next & 0xC4 == 0x44;
    let mpeg1 = next & 0xF1 == 0x21;
    (p.starts_with(&[0, 0, 1, 0xBA]) && (mpeg1 || mpeg2)).then_some(ContentType::MpegPs)
}

// ---------------------------------------------------------------------------------------------
// Audio formats.

/// FLAC: `fLaC` followed by a 34-byte STREAMINFO metadata block header.
fn sniff_flac(p: &[u8]) -> Option<ContentType> {
    let block = be_u32(p, 4)?;
    let is_streaminfo = block & 0x7F00_0000 == 0 && block & 0x00FF_FFFF == 34;
    (p.starts_with(b"fLaC") && is_streaminfo).then_some(ContentType::Flac)
}

/// Bitrates in kbit/s by row (see `mpeg_audio_frame_len`) and bitrate index 0..15.
const MPEG_AUDIO_KBPS: [[u16; 15]; 5] = [
    // MPEG-1 layer I
    [
        0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
    ],
    // MPEG-1 layer II
    [
        0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
    ],
    // MPEG-1 layer III
    [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ],
    // MPEG-2/2.5 layer I
    [
        0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
    ],
    // MPEG-2/2.5 layers II and III
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
];

/// Byte length of the MPEG audio frame whose header starts `p`; `Some(0)` when the
/// bitrate is free-format (length unknown); `None` if the header is not valid.
fn mpeg_audio_frame_len(p: &[u8]) -> Option<usize> {
    let h = bytes4(p, 0)?;
    if h[0] != 0xFF || h[1] & 0xE0 != 0xE0 {
        return None;
    }
    let version = (h[1] >> 3) & 3; // 0: MPEG-2.5, 1: reserved, 2: MPEG-2, 3: MPEG-1
    let layer = (h[1] >> 1) & 3; // 0: reserved, 1: III, 2: II, 3: I
    let bitrate_index = usize::from(h[2] >> 4);
    let rate_index = usize::from((h[2] >> 2) & 3);
    let emphasis = h[3] & 3;
    if version == 1 || layer == 0 || bitrate_index == 15 || rate_index == 3 || emphasis == 2 {
        return None;
    }
    let row = match (version, layer) {
        (3, 3) => 0,
        (3, 2) => 1,
        (3, _) => 2,
        (_, 3) => 3,
        _ => 4,
    };
    let kbps = usize::from(*MPEG_AUDIO_KBPS.get(row)?.get(bitrate_index)?);
    if kbps == 0 {
        return Some(0);
    }
    let rates: [usize; 3] = match version {
        3 => [44_100, 48_000, 32_000],
        2 => [22_050, 24_000, 16_000],
        _ => [11_025, 12_000, 8_000],
    };
    let rate = *rates.get(rate_index)?;
    let padding = usize::from((h[2] >> 1) & 1);
    let bps = kbps * 1000;
    Some(match layer {
        3 => (12 * bps / rate + padding) * 4,
        2 => 144 * bps / rate + padding,
        _ if version == 3 => 144 * bps / rate + padding,
        _ => 72 * bps / rate + padding,
    })
}

/// Byte length of the ADTS frame whose header starts `p`, if the header is valid.
fn adts_frame_len(p: &[u8]) -> Option<usize> {
    let h: [u8; 7] = p.get(..7)?.try_into().ok()?;
    // 12-bit sync, layer 00.
    if h[0] != 0xFF || h[1] & 0xF6 != 0xF0 {
        return None;
    }
    let rate_index = (h[2] >> 2) & 0x0F;
    let len = (usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
    let header_len = if h[1] & 1 == 0 { 9 } else { 7 };
    (rate_index <= 12 && len >= header_len).then_some(len)
}

/// True if the bytes after a frame of `frame_len` (if visible) start another frame.
fn next_frame_ok(p: &[u8], frame_len: usize, header_ok: fn(&[u8]) -> Option<usize>) -> bool {
    match p.get(frame_len..) {
        Some(next) if next.len() >= 7 => header_ok(next).is_some(),
        Some(next) => next.first().is_none_or(|&b| b == 0xFF),
        None => true,
    }
}

/// What follows an ID3v2 tag at the start of `p`: FLAC, AAC or (the common case) MP3.
fn sniff_id3_tagged(p: &[u8]) -> Option<ContentType> {
    const HEADER_LEN: usize = 10;
    const FOOTER_FLAG: u8 = 0x10;
    let h: [u8; HEADER_LEN] = p.get(..HEADER_LEN)?.try_into().ok()?;
    let (major, revision, flags, size) = (h[3], h[4], h[5], &h[6..]);
    if !(2..=4).contains(&major) || revision == 0xFF || size.iter().any(|b| b & 0x80 != 0) {
        return None;
    }
    // The tag size is a 28-bit syncsafe integer: 7 bits per byte.
    let body = size
        .iter()
        .fold(0usize, |acc, &b| (acc << 7) | usize::from(b));
    let footer = if flags & FOOTER_FLAG != 0 {
        HEADER_LEN
    } else {
        0
    };
    let rest = p.get(HEADER_LEN + body + footer..).unwrap_or(&[]);
    if rest.starts_with(b"fLaC") {
        return Some(ContentType::Flac);
    }
    // ADTS is the 12-bit sync 0xFFF with layer 00; MPEG audio frames have a layer other than 00.
    let adts_sync = rest.first() == Some(&0xFF) && rest.get(1).is_some_and(|&b| b & 0xF6 == 0xF0);
    if adts_sync && adts_frame_len(rest).is_some() {
        return Some(ContentType::Aac);
    }
    // Too few bytes after the tag to tell FLAC, AAC and MP3 apart.
    let cut_short = match rest {
        [] | [0xFF] => true,
        _ if adts_sync => rest.len() < 7,
        _ => rest.len() < 4 && b"fLaC".starts_with(rest),
    };
    if cut_short && p.len() < SNIFF_LEN_BYTES {
        // The object ends there: it holds no audio to name.
        return Some(ContentType::OctetStream);
    }
    // A full window whose tag (cover art, say) runs past it, a frame header or anything else
    // after the tag: MP3, by far the most common audio behind an ID3 tag.
    Some(ContentType::Mp3)
}

/// MP3 (ID3v2 tag or MPEG audio frames) and AAC (ADTS frames).
fn sniff_mpeg_audio(p: &[u8]) -> Option<ContentType> {
    if p.starts_with(b"ID3") {
        return sniff_id3_tagged(p);
    }
    if let Some(len) = adts_frame_len(p) {
        return next_frame_ok(p, len, adts_frame_len).then_some(ContentType::Aac);
    }
    let len = mpeg_audio_frame_len(p)?;
    (len == 0 || next_frame_ok(p, len, mpeg_audio_frame_len)).then_some(ContentType::Mp3)
}

// ---------------------------------------------------------------------------------------------
// Images, documents and archives.

fn sniff_jpeg(p: &[u8]) -> Option<ContentType> {
    p.starts_with(&[0xFF, 0xD8, 0xFF])
        .then_some(ContentType::Jpeg)
}

fn sniff_png(p: &[u8]) -> Option<ContentType> {
    p.starts_with(b"\x89PNG\r\n\x1A\n")
        .then_some(ContentType::Png)
}

fn sniff_gif(p: &[u8]) -> Option<ContentType> {
    (p.starts_with(b"GIF87a") || p.starts_with(b"GIF89a")).then_some(ContentType::Gif)
}

/// BMP: `BM` plus a known DIB header size at offset 14.
fn sniff_bmp(p: &[u8]) -> Option<ContentType> {
    let dib_size = le_u32(p, 14)?;
    (p.starts_with(b"BM") && matches!(dib_size, 12 | 40 | 52 | 56 | 64 | 108 | 124))
        .then_some(ContentType::Bmp)
}

/// TIFF and BigTIFF, both byte orders.
fn sniff_tiff(p: &[u8]) -> Option<ContentType> {
    let magic = bytes4(p, 0)?;
    let ok = match &magic {
        b"II*\0" => le_u32(p, 4)? >= 8,
        b"MM\0*" => be_u32(p, 4)? >= 8,
        b"II+\0" => le_u16(p, 4)? == 8 && le_u16(p, 6)? == 0,
        b"MM\0+" => be_u16(p, 4)? == 8 && be_u16(p, 6)? == 0,
        _ => false,
    };
    ok.then_some(ContentType::Tiff)
}

/// ICO: reserved 0, type 1, at least one plausible directory entry.
fn sniff_ico(p: &[u8]) -> Option<ContentType> {
    if !p.starts_with(&[0, 0, 1, 0]) {
        return None;
    }
    let count = usize::from(le_u16(p, 4)?);
    let entry = p.get(6..22)?;
    let reserved = *entry.get(3)?;
    let planes = le_u16(entry, 4)?;
    let bits = le_u16(entry, 6)?;
    let size = le_u32(entry, 8)?;
    let offset = usize::try_from(le_u32(entry, 12)?).ok()?;
    let ok = count >= 1
        && reserved == 0
        && planes <= 1
        && matches!(bits, 0 | 1 | 4 | 8 | 16 | 24 | 32)
        && size > 0
        && offset >= 6 + 16 * count;
    ok.then_some(ContentType::Ico)
}

fn sniff_pdf(p: &[u8]) -> Option<ContentType> {
    p.starts_with(b"%PDF-").then_some(ContentType::Pdf)
}

/// ZIP: local file header, or the end-of-central-directory record of an empty archive.
fn sniff_zip(p: &[u8]) -> Option<ContentType> {
    (p.starts_with(b"PK\x03\x04") || p.starts_with(b"PK\x05\x06")).then_some(ContentType::Zip)
}

/// Gzip: magic, deflate method, reserved flag bits clear.
fn sniff_gzip(p: &[u8]) -> Option<ContentType> {
    let flags = *p.get(3)?;
    (p.starts_with(&[0x1F, 0x8B, 0x08]) && flags & 0xE0 == 0).then_some(ContentType::Gzip)
}

// ---------------------------------------------------------------------------------------------
// Text formats.

/// Control bytes that never occur in text (the WHATWG "binary data byte" set).
fn is_binary_byte(b: u8) -> bool {
    matches!(b, 0x00..=0x08 | 0x0B | 0x0E..=0x1A | 0x1C..=0x1F)
}

/// The prefix as text: valid UTF-8 apart from a cut-off final character, no binary bytes.
fn as_text(p: &[u8]) -> Option<&str> {
    let text = match std::str::from_utf8(p) {
        Ok(text) => text,
        Err(e) if e.error_len().is_none() => std::str::from_utf8(p.get(..e.valid_up_to())?).ok()?,
        Err(_) => return None,
    };
    (!text.bytes().any(is_binary_byte)).then_some(text)
}

fn sniff_text(p: &[u8]) -> Option<ContentType> {
    let text = as_text(p)?;
    let body = text.strip_prefix('\u{FEFF}').unwrap_or(text).as_bytes();
    Some(if is_webvtt(body) {
        ContentType::WebVtt
    } else if is_srt(body) {
        ContentType::Srt
    } else if is_json(body) {
        ContentType::Json
    } else if is_svg(body) {
        ContentType::Svg
    } else {
        ContentType::PlainText
    })
}

fn is_webvtt(body: &[u8]) -> bool {
    body.strip_prefix(b"WEBVTT")
        .is_some_and(|rest| matches!(rest.first(), None | Some(b' ' | b'\t' | b'\n' | b'\r')))
}

/// Matches `HH:MM:SS,mmm` at the start of `s`, returning the rest.
fn srt_timestamp(s: &[u8]) -> Option<&[u8]> {
    let ts = s.get(..12)?;
    let shape_ok = ts.iter().zip(b"00:00:00,000").all(|(&c, &pattern)| {
        if pattern == b'0' {
            c.is_ascii_digit()
        } else {
            c == pattern
        }
    });
    let below_60 = |i: usize| ts.get(i).is_some_and(|&d| d < b'6');
    (shape_ok && below_60(3) && below_60(6)).then(|| s.get(12..).unwrap_or(&[]))
}

fn skip_blanks(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| c == b' ' || c == b'\t').count();
    s.get(n..).unwrap_or(&[])
}

/// Matches an SRT timing line: `HH:MM:SS,mmm --> HH:MM:SS,mmm` plus optional trailing text.
fn is_srt_timing(line: &[u8]) -> bool {
    let Some(rest) = srt_timestamp(line) else {
        return false;
    };
    let after = skip_blanks(rest);
    if after.len() == rest.len() {
        return false;
    }
    let Some(arrow_rest) = after.strip_prefix(b"-->") else {
        return false;
    };
    let after = skip_blanks(arrow_rest);
    if after.len() == arrow_rest.len() {
        return false;
    }
    srt_timestamp(after)
        .is_some_and(|tail| matches!(tail.first(), None | Some(b' ' | b'\t' | b'\r')))
}

/// SubRip: first non-blank line is a cue number, the next line is a timing line.
fn is_srt(body: &[u8]) -> bool {
    let mut lines = body
        .split(|&c| c == b'\n')
        .skip_while(|line| line.iter().all(|c| c.is_ascii_whitespace()));
    let Some(index) = lines.next() else {
        return false;
    };
    let index = index.trim_ascii();
    if index.is_empty() || !index.iter().all(u8::is_ascii_digit) {
        return false;
    }
    lines.next().is_some_and(is_srt_timing)
}

/// Outcome of scanning one JSON scalar token.
enum Scan {
    /// Token complete; scanning continues at this index.
    Done(usize),
    /// The input ended inside a token that was valid so far.
    Cut,
    /// Not valid JSON.
    Bad,
}

fn json_string(b: &[u8], start: usize) -> Scan {
    let mut i = start + 1;
    loop {
        match b.get(i) {
            None => return Scan::Cut,
            Some(b'"') => return Scan::Done(i + 1),
            Some(b'\\') => match b.get(i + 1) {
                None => return Scan::Cut,
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                Some(b'u') => {
                    for k in i + 2..i + 6 {
                        match b.get(k) {
                            None => return Scan::Cut,
                            Some(h) if h.is_ascii_hexdigit() => {}
                            Some(_) => return Scan::Bad,
                        }
                    }
                    i += 6;
                }
                Some(_) => return Scan::Bad,
            },
            Some(&c) if c < 0x20 => return Scan::Bad,
            Some(_) => i += 1,
        }
    }
}

fn json_number(b: &[u8], start: usize) -> Scan {
    let digits = |from: usize| {
        b.get(from..)
            .unwrap_or(&[])
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    // A part that needs digits but has none is fine only if the input ends right there.
    let cut_or_bad = |at: usize| if at >= b.len() { Scan::Cut } else { Scan::Bad };
    let mut i = start;
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        None => return Scan::Cut,
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i += 1 + digits(i + 1),
        Some(_) => return Scan::Bad,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        match digits(i) {
            0 => return cut_or_bad(i),
            n => i += n,
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        match digits(i) {
            0 => return cut_or_bad(i),
            n => i += n,
        }
    }
    // A number running to the end of the input may continue past it.
    if i >= b.len() {
        Scan::Cut
    } else {
        Scan::Done(i)
    }
}

fn json_literal(b: &[u8], start: usize, literal: &[u8]) -> Scan {
    let rest = b.get(start..).unwrap_or(&[]);
    let n = rest.len().min(literal.len());
    if rest.get(..n) != literal.get(..n) {
        Scan::Bad
    } else if n < literal.len() {
        Scan::Cut
    } else {
        Scan::Done(start + n)
    }
}

/// What the JSON scanner accepts next.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Between top-level values: `{` or `[` (JSON Lines allows several).
    TopLevel,
    /// A value.
    Value,
    /// A value or `]` (just after `[`).
    ValueOrClose,
    /// A key (just after `,` in an object).
    Key,
    /// A key or `}` (just after `{`).
    KeyOrClose,
    /// The `:` after a key.
    Colon,
    /// `,` or the closing bracket of the innermost container.
    CommaOrClose,
}

/// JSON: starts with `{` or `[` and the prefix is a valid beginning of JSON text.
fn is_json(body: &[u8]) -> bool {
    let is_ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
    if !matches!(body.iter().find(|c| !is_ws(c)), Some(b'{' | b'[')) {
        return false;
    }
    let mut stack: Vec<u8> = Vec::new();
    let mut expect = Expect::TopLevel;
    let mut i = 0;
    while let Some(&c) = body.get(i) {
        if is_ws(&c) {
            i += 1;
            continue;
        }
        let scan = match (expect, c) {
            (Expect::TopLevel | Expect::Value | Expect::ValueOrClose, b'{') => {
                stack.push(b'{');
                expect = Expect::KeyOrClose;
                Scan::Done(i + 1)
            }
            (Expect::TopLevel | Expect::Value | Expect::ValueOrClose, b'[') => {
                stack.push(b'[');
                expect = Expect::ValueOrClose;
                Scan::Done(i + 1)
            }
            (Expect::ValueOrClose, b']') | (Expect::KeyOrClose, b'}') => {
                stack.pop();
                expect = Expect::CommaOrClose;
                Scan::Done(i + 1)
            }
            (Expect::Value | Expect::ValueOrClose, _) => {
                expect = Expect::CommaOrClose;
                match c {
                    b'"' => json_string(body, i),
                    b'-' | b'0'..=b'9' => json_number(body, i),
                    b't' => json_literal(body, i, b"true"),
                    b'f' => json_literal(body, i, b"false"),
                    b'n' => json_literal(body, i, b"null"),
                    _ => Scan::Bad,
                }
            }
            (Expect::Key | Expect::KeyOrClose, b'"') => {
                expect = Expect::Colon;
                json_string(body, i)
            }
            (Expect::Colon, b':') => {
                expect = Expect::Value;
                Scan::Done(i + 1)
            }
            (Expect::CommaOrClose, b',') => {
                expect = if stack.last() == Some(&b'{') {
                    Expect::Key
                } else {
                    Expect::Value
                };
                Scan::Done(i + 1)
            }
            (Expect::CommaOrClose, b'}' | b']') => {
                let open = if c == b'}' { b'{' } else { b'[' };
                if stack.pop() != Some(open) {
                    return false;
                }
                Scan::Done(i + 1)
            }
            _ => Scan::Bad,
        };
        match scan {
            Scan::Done(next) => i = next,
            Scan::Cut => return true,
            Scan::Bad => return false,
        }
        if expect == Expect::CommaOrClose && stack.is_empty() {
            expect = Expect::TopLevel;
        }
    }
    true
}

fn skip_xml_space(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|c| c.is_ascii_whitespace()).count();
    s.get(n..).unwrap_or(&[])
}

/// Skips a `<!DOCTYPE ...>` body (after the keyword), including an internal subset.
fn skip_doctype(s: &[u8]) -> Option<&[u8]> {
    let mut quote = None;
    let mut depth = 0usize;
    for (i, &c) in s.iter().enumerate() {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(c),
            (None, b'[') => depth += 1,
            (None, b']') => depth = depth.saturating_sub(1),
            (None, b'>') if depth == 0 => return s.get(i + 1..),
            (None, _) => {}
        }
    }
    None
}

/// SVG: after an optional XML declaration, comments, processing instructions and
/// DOCTYPE, the root element is `<svg`.
fn is_svg(body: &[u8]) -> bool {
    let mut s = body;
    loop {
        s = skip_xml_space(s);
        let next = if let Some(rest) = s.strip_prefix(b"<?") {
            find(rest, b"?>").and_then(|i| rest.get(i + 2..))
        } else if let Some(rest) = s.strip_prefix(b"<!--") {
            find(rest, b"-->").and_then(|i| rest.get(i + 3..))
        } else if let Some(rest) = s.strip_prefix(b"<!DOCTYPE") {
            skip_doctype(rest)
        } else {
            break;
        };
        match next {
            Some(rest) => s = rest,
            None => return false,
        }
    }
    s.strip_prefix(b"<svg").is_some_and(|rest| {
        matches!(
            rest.first(),
            Some(b' ' | b'\t' | b'\n' | b'\r' | b'>' | b'/')
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    // ------------------------------------------------------------------ sample builders

    fn iso_bmff(major: &[u8; 4], compat: &[&[u8; 4]]) -> Vec<u8> {
        let size = 16 + 4 * compat.len();
        let mut v = Vec::new();
        v.extend_from_slice(&u32::try_from(size).unwrap().to_be_bytes());
        v.extend_from_slice(b"ftyp");
        v.extend_from_slice(major);
        v.extend_from_slice(&[0, 0, 2, 0]);
        for brand in compat {
            v.extend_from_slice(*brand);
        }
        // A following box header, as in a real file.
        v.extend_from_slice(&[0, 0, 0, 8]);
        v.extend_from_slice(b"free");
        v
    }

    fn riff(form: &[u8; 4], chunk: &[u8; 4], chunk_body: &[u8]) -> Vec<u8> {
        let mut v = b"RIFF".to_vec();
        let size = 4 + 8 + chunk_body.len();
        v.extend_from_slice(&u32::try_from(size).unwrap().to_le_bytes());
        v.extend_from_slice(form);
        v.extend_from_slice(chunk);
        v.extend_from_slice(&u32::try_from(chunk_body.len()).unwrap().to_le_bytes());
        v.extend_from_slice(chunk_body);
        v
    }

    fn ebml(doc_type: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        for (id, value) in [
            (&[0x42, 0x86][..], &[1u8][..]), // EBMLVersion
            (&[0x42, 0xF7], &[1]),           // EBMLReadVersion
            (&[0x42, 0xF2], &[4]),           // EBMLMaxIDLength
            (&[0x42, 0xF3], &[8]),           // EBMLMaxSizeLength
            (&[0x42, 0x82], doc_type),       // DocType
            (&[0x42, 0x87], &[4]),           // DocTypeVersion
            (&[0x42, 0x85], &[2]),           // DocTypeReadVersion
        ] {
            body.extend_from_slice(id);
            body.push(0x80 | u8::try_from(value.len()).unwrap());
            body.extend_from_slice(value);
        }
        let mut v = vec![
            0x1A,
            0x45,
            0xDF,
            0xA3,
            0x80 | u8::try_from(body.len()).unwrap(),
        ];
        v.extend_from_slice(&body);
        // Segment element with unknown size.
        v.extend_from_slice(&[0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        v.extend_from_slice(&[0xFF, 0xFF]);
        v
    }

    fn ogg_page(header_type: u8, serial: u8, packet: &[u8]) -> Vec<u8> {
        let mut v = b"OggS".to_vec();
        v.push(0); // version
        v.push(header_type);
        v.extend_from_slice(&[0; 8]); // granule position
        v.extend_from_slice(&[serial, 0, 0, 0]);
        v.extend_from_slice(&[0; 4]); // page sequence
        v.extend_from_slice(&[0x12, 0x34, 0x56, 0x78]); // CRC (not checked)
        v.push(1);
        v.push(u8::try_from(packet.len()).unwrap());
        v.extend_from_slice(packet);
        v
    }

    fn with_padding(head: &[u8], total: usize) -> Vec<u8> {
        let mut v = head.to_vec();
        v.resize(total.max(head.len()), 0);
        v
    }

    fn ogg_vorbis_bos() -> Vec<u8> {
        ogg_page(
            2,
            1,
            &with_padding(b"\x01vorbis\x00\x00\x00\x00\x02\x44\xAC", 30),
        )
    }

    /// A BOS page, then the page after the BOS pages (which tells that no Theora follows).
    fn ogg_vorbis() -> Vec<u8> {
        let mut v = ogg_vorbis_bos();
        v.extend_from_slice(&ogg_page(0, 1, &with_padding(b"\x03vorbis", 16)));
        v
    }

    fn ogg_opus() -> Vec<u8> {
        let mut v = ogg_page(2, 1, &with_padding(b"OpusHead\x01\x02\x38\x01\x80\xBB", 19));
        v.extend_from_slice(&ogg_page(0, 1, &with_padding(b"OpusTags", 16)));
        v
    }

    fn ogg_theora() -> Vec<u8> {
        ogg_page(2, 1, &with_padding(b"\x80theora\x03\x02\x01", 42))
    }

    fn ts_packets(stride: usize, count: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..count {
            let mut packet = vec![0xFF; stride];
            let at = stride - 188;
            packet[at..at + 4].copy_from_slice(&[0x47, 0x40, 0x00, 0x10 | (i as u8 & 0x0F)]);
            if at > 0 {
                packet[..4].copy_from_slice(&[0, 0, 0, i as u8]);
            }
            v.extend_from_slice(&packet);
        }
        v
    }

    fn mp3_frames() -> Vec<u8> {
        // MPEG-1 layer III, 128 kbit/s, 44.1 kHz, no padding: 417-byte frames.
        let header = [0xFF, 0xFB, 0x90, 0x64];
        let mut v = with_padding(&header, 417);
        v.extend_from_slice(&with_padding(&header, 417));
        v
    }

    fn id3(body: &[u8]) -> Vec<u8> {
        let mut v = b"ID3\x04\x00\x00".to_vec();
        let n = u32::try_from(body.len()).unwrap();
        v.extend_from_slice(&[
            (n >> 21) as u8 & 0x7F,
            (n >> 14) as u8 & 0x7F,
            (n >> 7) as u8 & 0x7F,
            n as u8 & 0x7F,
        ]);
        v.extend_from_slice(body);
        v
    }

    fn adts_header(frame_len: usize) -> [u8; 7] {
        // MPEG-4, no CRC, AAC LC, 44.1 kHz, stereo.
        [
            0xFF,
            0xF1,
            0x50,
            0x80 | (frame_len >> 11) as u8,
            (frame_len >> 3) as u8,
            ((frame_len & 7) as u8) << 5 | 0x1F,
            0xFC,
        ]
    }

    fn adts_frames() -> Vec<u8> {
        let mut v = with_padding(&adts_header(20), 20);
        v.extend_from_slice(&with_padding(&adts_header(20), 20));
        v
    }

    fn flac_stream() -> Vec<u8> {
        let mut v = b"fLaC".to_vec();
        v.extend_from_slice(&[0x80, 0, 0, 34]);
        v.extend_from_slice(&[0x10, 0x00, 0x10, 0x00, 0, 0, 0x0E, 0, 0x2B, 0x1C]);
        with_padding(&v, 8 + 34)
    }

    fn svg_doc() -> Vec<u8> {
        b"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
          <!-- Generator: hand -->\n\
          <!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \
          \"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\" [ <!ENTITY x \"a>b\"> ]>\n\
          <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1\" height=\"1\"/>\n"
            .to_vec()
    }

    /// Realistic minimal headers for every detectable type.
    fn samples() -> Vec<(&'static str, Vec<u8>, ContentType)> {
        use ContentType as T;
        vec![
            ("mp4", iso_bmff(b"isom", &[b"isom", b"iso2", b"avc1", b"mp41"]), T::Mp4),
            ("quicktime", iso_bmff(b"qt  ", &[b"qt  "]), T::QuickTime),
            ("m4a", iso_bmff(b"M4A ", &[b"M4A ", b"mp42", b"isom"]), T::M4a),
            ("m4b", iso_bmff(b"M4B ", &[b"M4B ", b"mp42"]), T::M4a),
            ("avif", iso_bmff(b"avif", &[b"avif", b"mif1", b"miaf"]), T::Avif),
            ("avif-mif1", iso_bmff(b"mif1", &[b"mif1", b"miaf", b"avif"]), T::Avif),
            ("heic", iso_bmff(b"heic", &[b"mif1", b"heic"]), T::Heic),
            ("heic-mif1", iso_bmff(b"mif1", &[b"mif1", b"heic"]), T::Heic),
            ("avif-mif1-heic", iso_bmff(b"mif1", &[b"heic", b"avif"]), T::Avif),
            ("webm", ebml(b"webm"), T::Webm),
            ("matroska", ebml(b"matroska"), T::Matroska),
            ("ogg-theora", ogg_theora(), T::OggVideo),
            ("ogg-vorbis", ogg_vorbis(), T::OggAudio),
            ("ogg-opus", ogg_opus(), T::OggAudio),
            ("ogg-vorbis-theora", [ogg_vorbis_bos(), ogg_theora()].concat(), T::OggVideo),
            ("avi", riff(b"AVI ", b"LIST", b"hdrlavih"), T::Avi),
            ("mpeg-ts", ts_packets(188, 3), T::MpegTs),
            ("m2ts", ts_packets(192, 3), T::MpegTs),
            (
                "flv",
                b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00\x12".to_vec(),
                T::Flv,
            ),
            (
                "mpeg-ps",
                vec![0, 0, 1, 0xBA, 0x44, 0, 4, 0, 4, 1, 0x01, 0x89, 0xC3, 0xF8],
                T::MpegPs,
            ),
            (
                "mp3-id3",
                [id3(&with_padding(b"TIT2\x00\x00\x00\x03\x00\x00\x00Hi", 40)), mp3_frames()]
                    .concat(),
                T::Mp3,
            ),
            ("mp3-frames", mp3_frames(), T::Mp3),
            ("wav", riff(b"WAVE", b"fmt ", &[1, 0, 2, 0, 0x44, 0xAC, 0, 0]), T::Wav),
            ("flac", flac_stream(), T::Flac),
            ("aac-adts", adts_frames(), T::Aac),
            ("flac-id3", [id3(&[0; 16]), flac_stream()].concat(), T::Flac),
            ("aac-id3", [id3(&[0; 16]), adts_frames()].concat(), T::Aac),
            ("jpeg", b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01".to_vec(), T::Jpeg),
            (
                "png",
                b"\x89PNG\r\n\x1A\n\x00\x00\x00\x0DIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
                    .to_vec(),
                T::Png,
            ),
            ("gif", b"GIF89a\x01\x00\x01\x00\x80\x00\x00".to_vec(), T::Gif),
            ("webp", riff(b"WEBP", b"VP8 ", &[0x30, 0x01, 0x00, 0x9D, 0x01, 0x2A]), T::Webp),
            (
                "bmp",
                with_padding(b"BM\x46\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00\x01", 40),
                T::Bmp,
            ),
            ("tiff-le", b"II*\x00\x08\x00\x00\x00\x0B\x00".to_vec(), T::Tiff),
            ("tiff-be", b"MM\x00*\x00\x00\x00\x08\x00\x0B".to_vec(), T::Tiff),
            ("bigtiff", b"II+\x00\x08\x00\x00\x00\x10\x00\x00\x00".to_vec(), T::Tiff),
            (
                "ico",
                with_padding(
                    b"\x00\x00\x01\x00\x01\x00\x10\x10\x00\x00\x01\x00\x20\x00\x68\x04\x00\x00\x16\x00\x00\x00",
                    40,
                ),
                T::Ico,
            ),
            ("svg", svg_doc(), T::Svg),
            ("pdf", b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj\n".to_vec(), T::Pdf),
            (
                "json",
                "{\"name\": \"k\u{00F6}loss\", \"n\": [1, -2.5e3, true, false, null], \"o\": {}}"
                    .as_bytes()
                    .to_vec(),
                T::Json,
            ),
            ("json-array", b"\xEF\xBB\xBF\n  [ {\"a\": \"\\u00e9\\n\"} ]\n".to_vec(), T::Json),
            (
                "webvtt",
                b"WEBVTT - title\n\n00:00:01.000 --> 00:00:04.000\nHello\n".to_vec(),
                T::WebVtt,
            ),
            (
                "srt",
                b"\xEF\xBB\xBF\r\n1\r\n00:00:01,000 --> 00:00:04,250\r\nHello\r\n\r\n2\r\n".to_vec(),
                T::Srt,
            ),
            ("text", "Hello, world!\nSecond line \u{2603}\n".as_bytes().to_vec(), T::PlainText),
            ("zip", b"PK\x03\x04\x14\x00\x00\x00\x08\x00\x00\x00\x21\x00".to_vec(), T::Zip),
            ("zip-empty", with_padding(b"PK\x05\x06", 22), T::Zip),
            ("gzip", b"\x1F\x8B\x08\x00\x00\x00\x00\x00\x00\x03".to_vec(), T::Gzip),
        ]
    }

    // ------------------------------------------------------------------ codes

    #[test]
    fn code_round_trip() {
        for &t in ContentType::ALL {
            assert_eq!(ContentType::from_code(t.code()), Some(t), "{t:?}");
        }
    }

    #[test]
    fn codes_are_unique_contiguous_and_complete() {
        let codes: HashSet<u8> = ContentType::ALL.iter().map(|t| t.code()).collect();
        assert_eq!(codes.len(), ContentType::ALL.len());
        for (i, t) in ContentType::ALL.iter().enumerate() {
            assert_eq!(usize::from(t.code()), i, "{t:?}");
        }
        let decodable = (0..=u8::MAX).filter_map(ContentType::from_code).count();
        assert_eq!(decodable, ContentType::ALL.len());
        assert_eq!(ContentType::from_code(ContentType::ALL.len() as u8), None);
        assert_eq!(ContentType::from_code(u8::MAX), None);
    }

    #[test]
    fn codes_are_stable() {
        assert_eq!(ContentType::OctetStream.code(), 0);
        assert_eq!(ContentType::Mp4.code(), 1);
        assert_eq!(ContentType::PlainText.code(), 30);
        assert_eq!(ContentType::Gzip.code(), 32);
    }

    #[test]
    fn mimes_are_well_formed_and_never_html() {
        let mimes: HashSet<&str> = ContentType::ALL.iter().map(|t| t.mime()).collect();
        assert_eq!(mimes.len(), ContentType::ALL.len());
        for &t in ContentType::ALL {
            let mime = t.mime();
            let (kind, sub) = mime.split_once('/').expect("type/subtype");
            assert!(!kind.is_empty() && !sub.is_empty(), "{mime}");
            assert!(!mime.contains("html"), "{mime}");
        }
    }

    // ------------------------------------------------------------------ one test per type

    fn assert_sample(name: &str) {
        let (_, bytes, expected) = samples()
            .into_iter()
            .find(|(n, _, _)| *n == name)
            .expect("sample exists");
        assert_eq!(sniff(&bytes), expected, "{name}");
    }

    #[test]
    fn mp4() {
        assert_sample("mp4");
    }

    #[test]
    fn quicktime() {
        assert_sample("quicktime");
    }

    #[test]
    fn m4a_and_m4b() {
        assert_sample("m4a");
        assert_sample("m4b");
    }

    #[test]
    fn avif() {
        assert_sample("avif");
        assert_sample("avif-mif1");
    }

    #[test]
    fn heic() {
        assert_sample("heic");
        assert_sample("heic-mif1");
        assert_eq!(sniff(&iso_bmff(b"heix", &[])), ContentType::Heic);
        assert_eq!(sniff(&iso_bmff(b"mif1", &[b"mif1"])), ContentType::Heic);
    }

    #[test]
    fn iso_bmff_cut_before_its_brands_is_undecided() {
        // Fuzz: with the major brand cut off the ftyp box was ignored, and the other sniffers
        // read its size field (here an MP3 frame header) instead.
        assert_eq!(sniff(b"\xFF\xFB\x90\x64ftyp"), ContentType::OctetStream);
        // A generic `mif1` box listing `heic` before `avif`: an image is AVIF if `avif` is
        // listed anywhere, so a box cut after `heic` is undecided, not HEIC.
        let both = iso_bmff(b"mif1", &[b"heic", b"avif"]);
        assert_eq!(sniff(&both[..20]), ContentType::OctetStream);
        assert_eq!(sniff(&both), ContentType::Avif);
    }

    #[test]
    fn webm() {
        assert_sample("webm");
    }

    #[test]
    fn matroska() {
        assert_sample("matroska");
    }

    #[test]
    fn ogg() {
        assert_sample("ogg-theora");
        assert_sample("ogg-vorbis");
        assert_sample("ogg-opus");
        // Skeleton first, then Vorbis on a second BOS page.
        let mut skeleton = ogg_page(2, 9, &with_padding(b"fishead\0\x03\x00", 64));
        skeleton.extend_from_slice(&ogg_vorbis());
        assert_eq!(sniff(&skeleton), ContentType::OggAudio);
        // Vorbis, then Theora on a second BOS page.
        assert_sample("ogg-vorbis-theora");
    }

    #[test]
    fn ogg_cut_before_the_last_bos_page_is_undecided() {
        // Fuzz: "\x80theora" was looked for anywhere, so a Vorbis BOS page followed by a
        // Theora one read as audio when cut between them. Only the page after the BOS pages
        // rules Theora out.
        let vorbis_bos = ogg_vorbis_bos();
        assert_eq!(sniff(&vorbis_bos), ContentType::OctetStream);
        let cut = ogg_page(2, 2, b"\x80theora");
        let muxed = [vorbis_bos.as_slice(), &cut[..cut.len() - 1]].concat();
        assert_eq!(sniff(&muxed), ContentType::OctetStream);
        assert_eq!(sniff(&[muxed, vec![b'a']].concat()), ContentType::OggVideo);
        // "\x80theora" inside a later, non-BOS page is not a Theora stream.
        let mut audio = ogg_vorbis();
        audio.extend_from_slice(&ogg_page(0, 1, b"\x80theora"));
        assert_eq!(sniff(&audio), ContentType::OggAudio);
    }

    #[test]
    fn avi() {
        assert_sample("avi");
    }

    #[test]
    fn small_gif_is_not_a_transport_stream() {
        // Fuzz: the `G` of "GIF8" is the TS sync byte 0x47, and the TS check ran first; a
        // 189-byte GIF with 0x47 at offset 188 read as two TS packets.
        let mut gif = with_padding(b"GIF89a", 189);
        gif[188] = 0x47;
        assert_eq!(sniff(&gif), ContentType::Gif);
    }

    #[test]
    fn mpeg_ts() {
        assert_sample("mpeg-ts");
        assert_sample("m2ts");
        let mut long = ts_packets(188, 30);
        assert_eq!(sniff(&long), ContentType::MpegTs);
        long[188 * 5] = 0x48;
        assert_ne!(sniff(&long), ContentType::MpegTs);
        // One packet is not enough evidence.
        assert_ne!(sniff(&ts_packets(188, 1)), ContentType::MpegTs);
        // Text that happens to start with 'G' is not a transport stream, even with more
        // 'G's at the packet boundaries.
        assert_eq!(sniff(b"Good morning"), ContentType::PlainText);
        let mut text = vec![b'a'; 400];
        for at in [0, 188, 376] {
            text[at..at + 4].copy_from_slice(b"Good");
        }
        assert_eq!(sniff(&text), ContentType::PlainText);
    }

    #[test]
    fn flv() {
        assert_sample("flv");
    }

    #[test]
    fn mpeg_ps() {
        assert_sample("mpeg-ps");
        // MPEG-1 pack header.
        let mpeg1 = [0, 0, 1, 0xBA, 0x21, 0, 1, 0, 1, 0x80, 0x1B, 0x91];
        assert_eq!(sniff(&mpeg1), ContentType::MpegPs);
    }

    #[test]
    fn mp3() {
        assert_sample("mp3-id3");
        assert_sample("mp3-frames");
        // MPEG-2 layer III, 64 kbit/s, 22.05 kHz: 72 * 64000 / 22050 = 208-byte frames.
        let mut v = with_padding(&[0xFF, 0xF3, 0x80, 0xC4], 208);
        v.extend_from_slice(&[0xFF, 0xF3, 0x80, 0xC4]);
        assert_eq!(sniff(&v), ContentType::Mp3);
    }

    #[test]
    fn mp3_rejects_bad_frame_headers() {
        // Reserved layer, reserved version, bad bitrate, bad sample rate.
        for header in [
            [0xFF, 0xF9, 0x90, 0x64],
            [0xFF, 0xEB, 0x90, 0x64],
            [0xFF, 0xFB, 0xF0, 0x64],
            [0xFF, 0xFB, 0x9C, 0x64],
        ] {
            let v = with_padding(&header, 600);
            assert_ne!(sniff(&v), ContentType::Mp3, "{header:02X?}");
        }
        // A valid first header whose successor is garbage.
        let mut v = with_padding(&[0xFF, 0xFB, 0x90, 0x64], 417);
        v.extend_from_slice(&[0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0]);
        assert_eq!(sniff(&v), ContentType::OctetStream);
    }

    #[test]
    fn wav() {
        assert_sample("wav");
        let mut rf64 = riff(b"WAVE", b"ds64", &[0; 28]);
        rf64[..4].copy_from_slice(b"RF64");
        assert_eq!(sniff(&rf64), ContentType::Wav);
    }

    #[test]
    fn flac() {
        assert_sample("flac");
    }

    #[test]
    fn id3_before_other_audio() {
        let mut tagged_flac = id3(&[0; 16]);
        tagged_flac.extend_from_slice(&flac_stream());
        assert_eq!(sniff(&tagged_flac), ContentType::Flac);
        let mut tagged_aac = id3(&[0; 16]);
        tagged_aac.extend_from_slice(&adts_frames());
        assert_eq!(sniff(&tagged_aac), ContentType::Aac);
    }

    #[test]
    fn id3_tag_then_cut_audio_is_undecided() {
        // Fuzz: a tag whose end (or the bytes after it) was cut off read as MP3, though the
        // whole object says FLAC or AAC. The smallest: a complete empty tag and nothing else.
        assert_eq!(sniff(&id3(&[])), ContentType::OctetStream);
        let tag = id3(&[0; 16]);
        for audio in [flac_stream(), adts_frames()] {
            let tagged = [tag.as_slice(), &audio].concat();
            let full = sniff(&tagged);
            for cut in 0..tagged.len() {
                let got = sniff(&tagged[..cut]);
                let audio = [ContentType::Mp3, ContentType::Aac, ContentType::Flac];
                assert!(got == full || !audio.contains(&got), "{cut}: {got:?}");
            }
        }
        // A frame header after the tag is MP3, and so is anything that is neither FLAC nor ADTS.
        assert_eq!(
            sniff(&[tag.as_slice(), &[0xFF, 0xFB]].concat()),
            ContentType::Mp3
        );
        assert_eq!(sniff(&[tag.as_slice(), b"junk"].concat()), ContentType::Mp3);
        // The footer flag adds 10 bytes to the tag.
        let mut footed = [tag.as_slice(), &[0; 10], b"fLaC"].concat();
        footed[5] = 0x10;
        assert_eq!(sniff(&footed), ContentType::Flac);
    }

    #[test]
    fn id3_tag_past_a_full_window_is_mp3() {
        // A large tag (cover art) hides the audio from a full window: MP3 is the common case.
        let tagged = [id3(&[0; SNIFF_LEN_BYTES]), flac_stream()].concat();
        assert_eq!(sniff(&tagged), ContentType::Mp3);
        // An object that ends inside its own tag holds no audio.
        assert_eq!(sniff(&tagged[..100]), ContentType::OctetStream);
    }

    #[test]
    fn aac() {
        assert_sample("aac-adts");
        // MPEG-2 ADTS (FFF9).
        let mut h = adts_header(20);
        h[1] = 0xF9;
        assert_eq!(sniff(&with_padding(&h, 20)), ContentType::Aac);
    }

    #[test]
    fn jpeg() {
        assert_sample("jpeg");
    }

    #[test]
    fn png() {
        assert_sample("png");
    }

    #[test]
    fn gif() {
        assert_sample("gif");
        assert_eq!(
            sniff(b"GIF87a\x01\x00\x01\x00\x00\x00\x00"),
            ContentType::Gif
        );
    }

    #[test]
    fn webp() {
        assert_sample("webp");
    }

    #[test]
    fn bmp() {
        assert_sample("bmp");
        // "BM" followed by text is text.
        assert_eq!(sniff(b"BMW owners club newsletter"), ContentType::PlainText);
    }

    #[test]
    fn tiff() {
        assert_sample("tiff-le");
        assert_sample("tiff-be");
        assert_sample("bigtiff");
    }

    #[test]
    fn ico() {
        assert_sample("ico");
        // Zero images is not an icon.
        let mut v = samples().into_iter().find(|s| s.0 == "ico").unwrap().1;
        v[4] = 0;
        assert_eq!(sniff(&v), ContentType::OctetStream);
    }

    #[test]
    fn svg() {
        assert_sample("svg");
        assert_eq!(
            sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
            ContentType::Svg
        );
        assert_eq!(sniff(b"  \n<svg>"), ContentType::Svg);
        // Not SVG: other root elements, or `<svg` only later in the text.
        assert_eq!(
            sniff(b"<?xml version=\"1.0\"?><rss>"),
            ContentType::PlainText
        );
        assert_eq!(sniff(b"<svgfoo>"), ContentType::PlainText);
        assert_eq!(sniff(b"see <svg> tags"), ContentType::PlainText);
    }

    #[test]
    fn pdf() {
        assert_sample("pdf");
    }

    #[test]
    fn json() {
        assert_sample("json");
        assert_sample("json-array");
        assert_eq!(sniff(b"{}"), ContentType::Json);
        assert_eq!(sniff(b"[]"), ContentType::Json);
        assert_eq!(sniff(b"{\"a\":1}\n{\"a\":2}\n"), ContentType::Json);
        // Cut in the middle of a string, number, literal, escape.
        for cut in [
            &b"{\"key\": \"val"[..],
            b"[1, 2.",
            b"[1, 2e",
            b"[tr",
            b"{\"a\": \"\\u00",
            b"{\"a\"",
            b"{\"a\":",
        ] {
            assert_eq!(
                sniff(cut),
                ContentType::Json,
                "{}",
                String::from_utf8_lossy(cut)
            );
        }
        // Text that merely starts with a bracket is not JSON.
        for not_json in [
            &b"[INFO] server started"[..],
            b"[1] Introduction\nblah",
            b"{\\rtf1\\ansi}",
            b"{ key: 1 }",
            b"[1, 2,]",
            b"[01]",
            b"{\"a\": 1}}",
            b"[\"a\"} ",
        ] {
            assert_eq!(
                sniff(not_json),
                ContentType::PlainText,
                "{}",
                String::from_utf8_lossy(not_json)
            );
        }
    }

    #[test]
    fn webvtt() {
        assert_sample("webvtt");
        assert_eq!(sniff(b"WEBVTT"), ContentType::WebVtt);
        assert_eq!(sniff(b"\xEF\xBB\xBFWEBVTT\r\n"), ContentType::WebVtt);
        assert_eq!(sniff(b"WEBVTTX\n"), ContentType::PlainText);
    }

    #[test]
    fn srt() {
        assert_sample("srt");
        assert_eq!(
            sniff(b"1\n00:00:01,000 --> 00:00:02,000 X1:10 X2:20\nHi\n"),
            ContentType::Srt
        );
        assert_eq!(
            sniff(b"1\n00:00:01.000 --> 00:00:02.000\n"),
            ContentType::PlainText
        );
        assert_eq!(
            sniff(b"1\n00:61:01,000 --> 00:00:02,000\n"),
            ContentType::PlainText
        );
        assert_eq!(
            sniff(b"one\n00:00:01,000 --> 00:00:02,000\n"),
            ContentType::PlainText
        );
    }

    #[test]
    fn plain_text() {
        assert_sample("text");
        assert_eq!(sniff(b"   \n\t"), ContentType::PlainText);
        assert_eq!(
            sniff("\u{FEFF}h\u{e9}llo".as_bytes()),
            ContentType::PlainText
        );
    }

    #[test]
    fn zip_and_gzip() {
        assert_sample("zip");
        assert_sample("zip-empty");
        assert_sample("gzip");
    }

    #[test]
    fn html_is_plain_text() {
        for html in [
            &b"<html>"[..],
            b"<!DOCTYPE html>\n<html><head><script>alert(1)</script></head></html>",
            b"\xEF\xBB\xBF<HTML><BODY onload=alert(1)>",
            b"<?xml version=\"1.0\"?>\n<html xmlns=\"http://www.w3.org/1999/xhtml\">",
        ] {
            assert_eq!(sniff(html), ContentType::PlainText);
        }
    }

    #[test]
    fn binary_and_empty_are_octet_stream() {
        assert_eq!(sniff(b""), ContentType::OctetStream);
        assert_eq!(sniff(b"abc\0def"), ContentType::OctetStream);
        assert_eq!(sniff(b"abc\x01def"), ContentType::OctetStream);
        assert_eq!(sniff(&[0x80, 0x81, 0x82]), ContentType::OctetStream);
        assert_eq!(sniff(&[0xC3, 0x28]), ContentType::OctetStream);
        assert_eq!(
            sniff(&[0x7F, b'E', b'L', b'F', 2, 1, 1, 0]),
            ContentType::OctetStream
        );
    }

    #[test]
    fn utf8_cut_inside_multibyte_char_is_text() {
        let text = "price: 5\u{20AC} \u{1F600}".as_bytes();
        for cut in 1..text.len() {
            assert_eq!(sniff(&text[..cut]), ContentType::PlainText, "cut at {cut}");
        }
        // The euro sign is 3 bytes; keep only the first two of them.
        let euro = text.iter().position(|&b| b == 0xE2).unwrap();
        assert_eq!(sniff(&text[..euro + 2]), ContentType::PlainText);
        let json = "[\"\u{20AC}\"]".as_bytes();
        assert_eq!(sniff(&json[..3]), ContentType::Json);
        // An invalid byte in the middle is not text.
        assert_eq!(sniff(b"ab\xE2\x82cd"), ContentType::OctetStream);
    }

    #[test]
    fn only_the_first_sniff_len_bytes_count() {
        let mut text = vec![b'a'; SNIFF_LEN_BYTES];
        text.extend_from_slice(&[0, 0, 0]);
        assert_eq!(sniff(&text), ContentType::PlainText);
    }

    // ------------------------------------------------------------------ robustness

    #[test]
    fn all_samples_detected_and_every_type_covered() {
        let samples = samples();
        let mut covered: HashSet<ContentType> = HashSet::new();
        covered.insert(ContentType::OctetStream);
        for (name, bytes, expected) in &samples {
            assert_eq!(sniff(bytes), *expected, "{name}");
            covered.insert(*expected);
        }
        for &t in ContentType::ALL {
            assert!(covered.contains(&t), "no sample for {t:?}");
        }
    }

    #[test]
    fn truncated_samples_never_misdetected() {
        for (name, bytes, expected) in samples() {
            for len in 0..bytes.len() {
                let got = sniff(&bytes[..len]);
                assert!(
                    got == expected
                        || got == ContentType::OctetStream
                        || got == ContentType::PlainText,
                    "{name} cut to {len} bytes: {got:?}"
                );
            }
        }
    }

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn random_inputs_never_panic() {
        let samples = samples();
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut buf = Vec::new();
        for _ in 0..10_000 {
            let len = (rng.next() % (SNIFF_LEN_BYTES as u64 + 64)) as usize;
            buf.clear();
            buf.extend((0..len).map(|_| rng.next() as u8));
            // Half the time, start with a real signature so the deeper parsers run.
            if rng.next() & 1 == 0 {
                let (_, sample, _) = &samples[(rng.next() % samples.len() as u64) as usize];
                let keep = (rng.next() as usize % (sample.len() + 1)).min(buf.len());
                buf[..keep].copy_from_slice(&sample[..keep]);
                // And sometimes flip one byte inside the signature.
                if keep > 0 && rng.next() & 1 == 0 {
                    let at = rng.next() as usize % keep;
                    buf[at] ^= 1 << (rng.next() % 8);
                }
            }
            let t = sniff(&buf);
            assert_eq!(ContentType::from_code(t.code()), Some(t));
        }
    }

    #[test]
    fn random_text_never_panics() {
        let alphabet = b" \t\r\n{}[]\",:-+.0123456789eEtrufalsn\\u<>?!-/svgWEBVT";
        let mut rng = XorShift(0xDEAD_BEEF_CAFE_F00D);
        for _ in 0..10_000 {
            let len = (rng.next() % 200) as usize;
            let buf: Vec<u8> = (0..len)
                .map(|_| alphabet[(rng.next() % alphabet.len() as u64) as usize])
                .collect();
            let t = sniff(&buf);
            assert!(
                matches!(
                    t,
                    ContentType::PlainText
                        | ContentType::Json
                        | ContentType::Svg
                        | ContentType::WebVtt
                        | ContentType::Srt
                        | ContentType::OctetStream
                ),
                "{t:?}"
            );
        }
    }
}
