//! Blocking HTTP client of a storage node: the admin ledger API, /status, /authToken and
//! uploads. Every call has explicit timeouts and a size limit on what it reads back, and every
//! failure keeps what an operator needs: the request, the HTTP status and the node's
//! `{type, message}`. JSON calls go through ureq; the upload speaks HTTP/1.1 over its own
//! socket (see [`NodeClient::upload_file`] for why).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::auth::js_json::{self, JsObject, JsString, JsValue, MAX_SAFE_INTEGER};
use crate::auth::keys::KeyPair;
use crate::auth::signature::sign_envelope;
use crate::ledger::{LedgerSnapshot, Mutation};

/// Longest wait for a TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a JSON call may take as a whole (a large ledger snapshot included).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest a single socket write of an upload may block (the node stopped reading).
pub const UPLOAD_WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for the upload's answer after the last byte: the node verifies the hash and
/// makes the object durable (fsync) before it answers.
pub const UPLOAD_ANSWER_TIMEOUT: Duration = Duration::from_secs(300);
/// Upload body writes, and file reads, are this large.
pub const UPLOAD_CHUNK_BYTES: usize = 1 << 20;

/// Largest answer read from ordinary calls (status, tokens, errors).
const SMALL_ANSWER_MAX_BYTES: u64 = 1 << 20;
/// Largest ledger snapshot read (millions of objects fit).
const SNAPSHOT_ANSWER_MAX_BYTES: u64 = 1 << 30;
/// Largest status line plus headers read from an upload answer.
const ANSWER_HEAD_MAX_BYTES: u64 = 64 * 1024;
/// Longest wait for an answer after a failed write (the node may have refused the upload).
const ANSWER_AFTER_WRITE_ERROR_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest error text kept from a non-JSON error answer.
const ERROR_TEXT_MAX_CHARS: usize = 300;

/// Default node URL of the CLI.
pub const DEFAULT_NODE_URL: &str = "http://127.0.0.1:3333";

const USER_AGENT: &str = concat!("colossus-rs/", env!("CARGO_PKG_VERSION"));

/// Why a call to the node failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node URL cannot be used.
    #[error("invalid node URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The request cannot be made as asked (no admin token, id too large for JS, ...).
    #[error("{0}")]
    InvalidRequest(String),
    /// The node could not be reached, or the connection failed mid-call.
    #[error("{request}: cannot talk to the node: {detail}")]
    Transport {
        /// Method and URL.
        request: String,
        /// What went wrong.
        detail: String,
    },
    /// The node answered with an error status.
    #[error("{request}: node answered HTTP {status}{}: {}{message}", reason_phrase(*status), type_prefix(type_))]
    Http {
        /// Method and URL.
        request: String,
        /// HTTP status.
        status: u16,
        /// The error's `type`, when the node answered `{type, message}`.
        type_: Option<String>,
        /// The error's `message` (or the start of a non-JSON body).
        message: String,
    },
    /// A local file could not be read.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The node answered success with a body that is not what the API specifies.
    #[error("{request}: unexpected answer from the node: {reason}")]
    InvalidAnswer {
        /// Method and URL.
        request: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn reason_phrase(status: u16) -> String {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" {r}"))
        .unwrap_or_default()
}

fn type_prefix(type_: &Option<String>) -> String {
    type_.as_ref().map(|t| format!("{t}: ")).unwrap_or_default()
}

/// The node's error body.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(rename = "type")]
    type_: Option<String>,
    message: Option<String>,
}

/// Builds `ClientError::Http` from an error answer's body (JSON `{type, message}` or text).
fn http_error(request: &str, status: u16, body: &[u8]) -> ClientError {
    let (type_, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody {
            type_,
            message: Some(message),
        }) => (type_, message),
        Ok(ErrorBody {
            type_: Some(type_),
            message: None,
        }) => (Some(type_), String::new()),
        _ => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            let message = if text.is_empty() {
                "(empty answer)".to_owned()
            } else if text.chars().count() > ERROR_TEXT_MAX_CHARS {
                let cut: String = text.chars().take(ERROR_TEXT_MAX_CHARS).collect();
                format!("{cut}...")
            } else {
                text.to_owned()
            };
            (None, message)
        }
    };
    ClientError::Http {
        request: request.to_owned(),
        status,
        type_,
        message,
    }
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> ClientError {
    let context = context.into();
    move |source| ClientError::Io { context, source }
}

/// The parts of a node URL (`http://host[:port][/prefix]`) the upload socket needs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NodeUrl {
    /// `http://host:port/prefix`, no trailing '/'.
    base: String,
    /// Host as written (IPv6 in brackets), for the Host header.
    host_header: String,
    /// Host to resolve (IPv6 without brackets).
    host: String,
    /// TCP port.
    port: u16,
    /// Path prefix before `/api/v1`, empty or starting with '/', no trailing '/'.
    prefix: String,
}

impl NodeUrl {
    fn parse(url: &str) -> Result<Self, ClientError> {
        let invalid = |reason: &str| ClientError::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = url.trim();
        let rest = match trimmed.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => {
                return Err(invalid(
                    "https is not supported by this client; use the node's plain http address",
                ))
            }
            Some(_) => return Err(invalid("only http:// URLs are supported")),
            None => trimmed,
        };
        if rest.contains(['?', '#', ' ']) || rest.chars().any(char::is_control) {
            return Err(invalid(
                "the URL must not contain a query, fragment or spaces",
            ));
        }
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(invalid("credentials in the URL are not supported"));
        }
        let (host, port_text) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| invalid("unclosed '[' in the host"))?;
            match after {
                "" => (host, None),
                _ => (
                    host,
                    Some(
                        after
                            .strip_prefix(':')
                            .ok_or_else(|| invalid("junk after the IPv6 address"))?,
                    ),
                ),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(invalid("the URL has no host"));
        }
        let port = match port_text {
            None => 80,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| invalid("the port must be a number from 1 to 65535"))?,
        };
        let prefix = path.trim_end_matches('/').to_owned();
        let host_header = if authority.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok(Self {
            base: format!("http://{host_header}{prefix}"),
            host_header,
            host: host.to_owned(),
            port,
            prefix,
        })
    }
}

/// Whether `text` can be sent as a token (admin token, upload token) in a header: one word,
/// non-empty printable ASCII, no spaces.
pub fn is_token_text(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_graphic())
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What GET /api/v1/status says (the fields the CLI uses; others are ignored).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// Buckets accepting uploads, ids as decimal strings.
    #[serde(default)]
    pub upload_buckets: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NextObjectIdAnswer {
    next_object_id: u64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    token: String,
}

#[derive(Deserialize)]
struct UploadAnswer {
    id: String,
}

/// Where an upload goes and with which token.
#[derive(Debug, Clone, Copy)]
pub struct UploadTarget<'a> {
    /// Data object id (must exist in the node's ledger with this file's size and hash).
    pub object_id: u64,
    /// Storage bucket id (operated by the node, accepting uploads, holding the bag).
    pub bucket_id: u64,
    /// Bag id, as it should appear in the query (canonical text is best).
    pub bag: &'a str,
    /// Upload token for `x-api-key`, `None` for nodes run without upload auth.
    pub token: Option<&'a str>,
}

/// Builds a POST /api/v1/authToken body signed with `member_key`: `{data, signature}` where
/// `data` is `{memberId, accountId, dataObjectId, storageBucketId, bagId}` (this key order)
/// and the signature is over `JSON.stringify(data)`, as the reference's clients make it.
pub fn token_request_body(
    member_key: &KeyPair,
    member_id: u64,
    data_object_id: u64,
    storage_bucket_id: u64,
    bag_id: &str,
) -> Result<String, ClientError> {
    let mut data = JsObject::new();
    data.insert(JsString::new("memberId"), js_id("member id", member_id)?);
    data.insert(
        JsString::new("accountId"),
        JsValue::string(&member_key.public_key().to_joystream_address()),
    );
    data.insert(
        JsString::new("dataObjectId"),
        js_id("data object id", data_object_id)?,
    );
    data.insert(
        JsString::new("storageBucketId"),
        js_id("storage bucket id", storage_bucket_id)?,
    );
    data.insert(JsString::new("bagId"), JsValue::string(bag_id));
    Ok(js_json::object_to_string(&sign_envelope(data, member_key)))
}

/// An id as a JS number; ids above 2^53 - 1 cannot be sent exactly, so they are refused.
fn js_id(what: &str, id: u64) -> Result<JsValue, ClientError> {
    JsValue::safe_integer(id).ok_or_else(|| {
        ClientError::InvalidRequest(format!(
            "{what} {id} is larger than {MAX_SAFE_INTEGER}, the largest a token request can carry"
        ))
    })
}

/// The bytes around the file in a one-part `multipart/form-data` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartFraming {
    /// The boundary (without the leading "--").
    pub boundary: String,
    /// Everything before the file's bytes.
    pub preamble: Vec<u8>,
    /// Everything after the file's bytes.
    pub epilogue: Vec<u8>,
}

impl MultipartFraming {
    /// Framing for one part `name="file"; filename="<filename>"` of type
    /// application/octet-stream. `"`, CR and LF in the name are percent-encoded, as browsers
    /// do (WHATWG), so the header cannot be broken out of.
    pub fn new(filename: &str, boundary: &str) -> Self {
        let filename = filename
            .replace('"', "%22")
            .replace('\r', "%0D")
            .replace('\n', "%0A");
        let preamble = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        let epilogue = format!("\r\n--{boundary}--\r\n").into_bytes();
        Self {
            boundary: boundary.to_owned(),
            preamble,
            epilogue,
        }
    }

    /// Framing with a fresh random boundary (unguessable, so no file contains it by chance).
    pub fn with_random_boundary(filename: &str) -> Self {
        use rand::Rng;
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let mut rng = rand::thread_rng();
        let suffix: String = (0..32)
            .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
            .collect();
        Self::new(filename, &format!("----colossus{suffix}"))
    }

    /// The Content-Type header value.
    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    /// The exact body length around a file of `file_size_bytes`.
    pub fn content_length(&self, file_size_bytes: u64) -> u64 {
        self.preamble.len() as u64 + file_size_bytes + self.epilogue.len() as u64
    }
}

/// A status and body read off the upload socket.
#[derive(Debug)]
struct RawAnswer {
    status: u16,
    body: Vec<u8>,
}

fn invalid_data(reason: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason.into())
}

/// Reads one line (through '\n') of at most `*budget` bytes, charging the budget.
fn read_head_line(reader: &mut impl BufRead, budget: &mut u64) -> io::Result<String> {
    let mut line = Vec::new();
    let n = reader.take(*budget).read_until(b'\n', &mut line)?;
    *budget -= n as u64;
    if line.last() != Some(&b'\n') {
        return Err(if n == 0 || *budget > 0 {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the connection closed before a complete answer",
            )
        } else {
            invalid_data("the answer's head is too large")
        });
    }
    let text = String::from_utf8(line).map_err(|_| invalid_data("answer head is not UTF-8"))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

/// Reads an HTTP/1.1 answer (skipping 1xx), its body bounded by `SMALL_ANSWER_MAX_BYTES`.
fn read_answer(stream: impl Read) -> io::Result<RawAnswer> {
    let mut reader = BufReader::new(stream);
    let mut budget = ANSWER_HEAD_MAX_BYTES;
    loop {
        let status_line = read_head_line(&mut reader, &mut budget)?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return Err(invalid_data(format!(
                "not an HTTP/1.x answer: {:?}",
                status_line.chars().take(60).collect::<String>()
            )));
        }
        let status = parts
            .next()
            .and_then(|s| s.parse::<u16>().ok())
            .filter(|s| (100..1000).contains(s))
            .ok_or_else(|| invalid_data("bad status line"))?;
        let mut content_length: Option<u64> = None;
        let mut chunked = false;
        loop {
            let line = read_head_line(&mut reader, &mut budget)?;
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(invalid_data("bad header line"));
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length = Some(
                    value
                        .parse()
                        .map_err(|_| invalid_data("bad Content-Length"))?,
                );
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().ends_with("chunked");
            }
        }
        if (100..200).contains(&status) {
            continue;
        }
        let body = if status == 204 || status == 304 {
            Vec::new()
        } else if chunked {
            read_chunked(&mut reader)?
        } else if let Some(len) = content_length {
            if len > SMALL_ANSWER_MAX_BYTES {
                return Err(invalid_data(format!(
                    "answer body of {len} bytes is too large"
                )));
            }
            let mut body = Vec::new();
            reader.take(len).read_to_end(&mut body)?;
            if body.len() as u64 != len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the connection closed in the middle of the answer",
                ));
            }
            body
        } else {
            let mut body = Vec::new();
            reader.take(SMALL_ANSWER_MAX_BYTES).read_to_end(&mut body)?;
            body
        };
        return Ok(RawAnswer { status, body });
    }
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut budget = ANSWER_HEAD_MAX_BYTES;
    loop {
        let line = read_head_line(reader, &mut budget)?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size =
            u64::from_str_radix(size_text, 16).map_err(|_| invalid_data("bad chunk size"))?;
        if size == 0 {
            // Trailers, up to the empty line.
            while !read_head_line(reader, &mut budget)?.is_empty() {}
            return Ok(body);
        }
        if body.len() as u64 + size > SMALL_ANSWER_MAX_BYTES {
            return Err(invalid_data("chunked answer body is too large"));
        }
        let before = body.len();
        reader.take(size).read_to_end(&mut body)?;
        if (body.len() - before) as u64 != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the connection closed in the middle of a chunk",
            ));
        }
        if !read_head_line(reader, &mut budget)?.is_empty() {
            return Err(invalid_data("missing CRLF after a chunk"));
        }
    }
}

/// True when the node has sent something (or closed) while the body is still being written:
/// it refused the upload before reading it all.
fn node_answered_early(stream: &TcpStream) -> io::Result<bool> {
    stream.set_nonblocking(true)?;
    let mut probe = [0u8; 1];
    let answered = match stream.peek(&mut probe) {
        Ok(_) => true,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => false,
        Err(_) => true,
    };
    stream.set_nonblocking(false)?;
    Ok(answered)
}

/// How writing an upload body ended.
enum Sent {
    /// Every byte was written.
    All,
    /// The node answered (or closed) before the end; stop writing and read its answer.
    AnsweredEarly,
}

/// Why writing an upload body stopped.
enum SendError {
    /// The socket failed (the node may still have answered).
    Socket(io::Error),
    /// The local file failed.
    File(ClientError),
}

/// A connected node client: one base URL, an optional admin token, one connection pool.
pub struct NodeClient {
    admin_token: Option<String>,
    agent: ureq::Agent,
    url: NodeUrl,
}

impl std::fmt::Debug for NodeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeClient")
            .field("base", &self.url.base)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

impl NodeClient {
    /// A client of the node at `base` (`http://host[:port][/prefix]`); `admin_token` is needed
    /// only for the admin API.
    pub fn new(base: &str, admin_token: Option<String>) -> Result<Self, ClientError> {
        let url = NodeUrl::parse(base)?;
        if let Some(token) = &admin_token {
            if !is_token_text(token) {
                return Err(ClientError::InvalidRequest(
                    "the admin token must be non-empty printable ASCII without spaces".to_owned(),
                ));
            }
        }
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(CONNECT_TIMEOUT)
            .timeout_read(REQUEST_TIMEOUT)
            .timeout_write(REQUEST_TIMEOUT)
            .user_agent(USER_AGENT)
            .redirects(0)
            .build();
        Ok(Self {
            admin_token,
            agent,
            url,
        })
    }

    /// The normalised base URL.
    pub fn base(&self) -> &str {
        &self.url.base
    }

    fn url_of(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.url.base)
    }

    /// One JSON call: returns a 2xx answer's body, or the error the node answered.
    fn call(
        &self,
        method: &str,
        path_and_query: &str,
        admin: bool,
        body: Option<&[u8]>,
        answer_max_bytes: u64,
    ) -> Result<Vec<u8>, ClientError> {
        let url = self.url_of(path_and_query);
        let request_name = format!("{method} {url}");
        let mut request = self
            .agent
            .request(method, &url)
            .timeout(REQUEST_TIMEOUT)
            .set("Accept", "application/json");
        if admin {
            let token = self.admin_token.as_deref().ok_or_else(|| {
                ClientError::InvalidRequest(format!("{request_name} needs the node's admin token"))
            })?;
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        let result = match body {
            Some(body) => request
                .set("Content-Type", "application/json")
                .send_bytes(body),
            None => request.call(),
        };
        let response = match result {
            Ok(response) => response,
            Err(ureq::Error::Status(status, response)) => {
                let mut body = Vec::new();
                // A truncated or unreadable error body still leaves the status to report.
                let _ = response
                    .into_reader()
                    .take(SMALL_ANSWER_MAX_BYTES)
                    .read_to_end(&mut body);
                return Err(http_error(&request_name, status, &body));
            }
            Err(ureq::Error::Transport(transport)) => {
                return Err(ClientError::Transport {
                    request: request_name,
                    detail: transport_detail(&transport),
                })
            }
        };
        let status = response.status();
        let mut answer = Vec::new();
        response
            .into_reader()
            .take(answer_max_bytes + 1)
            .read_to_end(&mut answer)
            .map_err(|e| ClientError::Transport {
                request: request_name.clone(),
                detail: format!("reading the answer: {e}"),
            })?;
        if !(200..300).contains(&status) {
            return Err(http_error(&request_name, status, &answer));
        }
        if answer.len() as u64 > answer_max_bytes {
            return Err(ClientError::InvalidAnswer {
                request: request_name,
                reason: format!("the answer is larger than {answer_max_bytes} bytes"),
            });
        }
        Ok(answer)
    }

    fn call_json<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        path_and_query: &str,
        admin: bool,
        body: Option<&[u8]>,
        answer_max_bytes: u64,
    ) -> Result<T, ClientError> {
        let answer = self.call(method, path_and_query, admin, body, answer_max_bytes)?;
        serde_json::from_slice(&answer).map_err(|e| ClientError::InvalidAnswer {
            request: format!("{method} {}", self.url_of(path_and_query)),
            reason: e.to_string(),
        })
    }

    /// POST /api/v1/admin/ledger: applies one ledger change.
    pub fn apply_mutation(&self, mutation: &Mutation) -> Result<(), ClientError> {
        let body = serde_json::to_vec(mutation).map_err(|e| {
            ClientError::InvalidRequest(format!("cannot serialise the ledger change: {e}"))
        })?;
        self.call(
            "POST",
            "/api/v1/admin/ledger",
            true,
            Some(&body),
            SMALL_ANSWER_MAX_BYTES,
        )?;
        Ok(())
    }

    /// GET /api/v1/admin/ledger: the whole ledger, objects limited to `bag` if given.
    pub fn ledger_snapshot(&self, bag: Option<&str>) -> Result<LedgerSnapshot, ClientError> {
        let path = match bag {
            Some(bag) => format!("/api/v1/admin/ledger?bag={}", encode_query_value(bag)),
            None => "/api/v1/admin/ledger".to_owned(),
        };
        self.call_json("GET", &path, true, None, SNAPSHOT_ANSWER_MAX_BYTES)
    }

    /// GET /api/v1/admin/ledger?objects=false: the worker, auto-accept, buckets and members,
    /// without the data objects (which can be millions).
    pub fn ledger_without_objects(&self) -> Result<LedgerSnapshot, ClientError> {
        self.call_json(
            "GET",
            "/api/v1/admin/ledger?objects=false",
            true,
            None,
            SNAPSHOT_ANSWER_MAX_BYTES,
        )
    }

    /// GET /api/v1/admin/ledger/next-object-id: the lowest unused data object id.
    pub fn next_object_id(&self) -> Result<u64, ClientError> {
        let answer: NextObjectIdAnswer = self.call_json(
            "GET",
            "/api/v1/admin/ledger/next-object-id",
            true,
            None,
            SMALL_ANSWER_MAX_BYTES,
        )?;
        Ok(answer.next_object_id)
    }

    /// GET /api/v1/status.
    pub fn status(&self) -> Result<NodeStatus, ClientError> {
        self.call_json("GET", "/api/v1/status", false, None, SMALL_ANSWER_MAX_BYTES)
    }

    /// POST /api/v1/authToken with a body from [`token_request_body`]; returns the token.
    pub fn auth_token(&self, request_body: &str) -> Result<String, ClientError> {
        let answer: TokenAnswer = self.call_json(
            "POST",
            "/api/v1/authToken",
            false,
            Some(request_body.as_bytes()),
            SMALL_ANSWER_MAX_BYTES,
        )?;
        if !is_token_text(&answer.token) {
            return Err(ClientError::InvalidAnswer {
                request: format!("POST {}", self.url_of("/api/v1/authToken")),
                reason: "the token is empty or not printable ASCII".to_owned(),
            });
        }
        Ok(answer.token)
    }

    /// POST /api/v1/files: streams `path` as a one-part multipart body with an exact
    /// Content-Length, calling `progress(sent_bytes, total_bytes)` after each chunk of the
    /// file; returns the multihash the node answered.
    ///
    /// This speaks HTTP/1.1 on its own socket instead of going through ureq because the node
    /// refuses a bad upload (wrong size, no token, already stored) before reading the body,
    /// then closes: a client that only reads after writing everything sees "connection
    /// reset" instead of the node's error. Here the socket is checked for an early answer
    /// between chunks, and an answer is still looked for after a failed write. Writes are
    /// 1 MiB (ureq copies in 8 KiB pieces). No overall timeout: a big file takes as long as
    /// it takes, but no single write or the wait for the answer may stall forever.
    pub fn upload_file(
        &self,
        target: &UploadTarget<'_>,
        path: &Path,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<String, ClientError> {
        let mut file =
            File::open(path).map_err(io_error(format!("cannot open {}", path.display())))?;
        let metadata = file
            .metadata()
            .map_err(io_error(format!("cannot stat {}", path.display())))?;
        if !metadata.is_file() {
            return Err(ClientError::InvalidRequest(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        let file_size = metadata.len();
        let filename = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".to_owned());
        let framing = MultipartFraming::with_random_boundary(&filename);
        let path_and_query = format!(
            "/api/v1/files?dataObjectId={}&storageBucketId={}&bagId={}",
            target.object_id,
            target.bucket_id,
            encode_query_value(target.bag)
        );
        let request_name = format!("POST {}", self.url_of("/api/v1/files"));
        let mut head = format!(
            "POST {}{path_and_query} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {USER_AGENT}\r\n\
             Accept: application/json\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             Connection: close\r\n",
            self.url.prefix,
            self.url.host_header,
            framing.content_type(),
            framing.content_length(file_size),
        );
        if let Some(token) = target.token {
            if !is_token_text(token) {
                return Err(ClientError::InvalidRequest(
                    "the upload token must be non-empty printable ASCII".to_owned(),
                ));
            }
            head.push_str(&format!("x-api-key: {token}\r\n"));
        }
        head.push_str("\r\n");

        let transport = |detail: String| ClientError::Transport {
            request: request_name.clone(),
            detail,
        };
        let mut stream = self.connect().map_err(|e| transport(e.to_string()))?;
        stream
            .set_write_timeout(Some(UPLOAD_WRITE_TIMEOUT))
            .and_then(|()| stream.set_read_timeout(Some(UPLOAD_ANSWER_TIMEOUT)))
            .map_err(|e| transport(format!("socket setup: {e}")))?;

        let sent = send_upload(
            &mut stream,
            head.as_bytes(),
            &framing,
            &mut file,
            file_size,
            path,
            progress,
        );
        let complete = matches!(sent, Ok(Sent::All));
        let answer = match sent {
            Ok(Sent::All) => read_answer(&stream)
                .map_err(|e| transport(format!("waiting for the node's answer: {e}")))?,
            Ok(Sent::AnsweredEarly) => read_answer(&stream).map_err(|e| {
                transport(format!(
                    "the node stopped the upload, and its answer is unreadable: {e}"
                ))
            })?,
            Err(SendError::File(e)) => return Err(e),
            Err(SendError::Socket(write_error)) => {
                // The node may have refused the upload and closed; its answer can still be
                // waiting in the socket.
                let _ = stream.set_read_timeout(Some(ANSWER_AFTER_WRITE_ERROR_TIMEOUT));
                match read_answer(&stream) {
                    Ok(answer) => answer,
                    Err(_) => {
                        return Err(transport(
                            if write_error.kind() == io::ErrorKind::WouldBlock
                                || write_error.kind() == io::ErrorKind::TimedOut
                            {
                                format!(
                                    "the node stopped reading the upload for {} s",
                                    UPLOAD_WRITE_TIMEOUT.as_secs()
                                )
                            } else {
                                format!("sending the upload: {write_error}")
                            },
                        ))
                    }
                }
            }
        };
        if !(200..300).contains(&answer.status) {
            return Err(http_error(&request_name, answer.status, &answer.body));
        }
        if !complete {
            return Err(ClientError::InvalidAnswer {
                request: request_name,
                reason: format!("HTTP {} before the whole file was sent", answer.status),
            });
        }
        let answer: UploadAnswer =
            serde_json::from_slice(&answer.body).map_err(|e| ClientError::InvalidAnswer {
                request: request_name.clone(),
                reason: format!("expected {{\"id\": \"<multihash>\"}}: {e}"),
            })?;
        Ok(answer.id)
    }

    fn connect(&self) -> io::Result<TcpStream> {
        let addrs = (self.url.host.as_str(), self.url.port).to_socket_addrs()?;
        let mut last_error =
            io::Error::new(io::ErrorKind::NotFound, "the host resolved to no address");
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(stream) => return Ok(stream),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }
}

fn transport_detail(transport: &ureq::Transport) -> String {
    let mut detail = transport.kind().to_string();
    if let Some(message) = transport.message() {
        detail.push_str(": ");
        detail.push_str(message);
    }
    if let Some(source) = std::error::Error::source(transport) {
        detail.push_str(": ");
        detail.push_str(&source.to_string());
    }
    detail
}

/// Writes head, preamble, exactly `file_size` bytes of `file`, epilogue; stops early when
/// the node answers first.
fn send_upload(
    stream: &mut TcpStream,
    head: &[u8],
    framing: &MultipartFraming,
    file: &mut File,
    file_size: u64,
    path: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Sent, SendError> {
    let mut head_and_preamble = Vec::with_capacity(head.len() + framing.preamble.len());
    head_and_preamble.extend_from_slice(head);
    head_and_preamble.extend_from_slice(&framing.preamble);
    stream
        .write_all(&head_and_preamble)
        .map_err(SendError::Socket)?;
    let mut buf = vec![0u8; UPLOAD_CHUNK_BYTES];
    let mut sent: u64 = 0;
    progress(0, file_size);
    while sent < file_size {
        if node_answered_early(stream).map_err(SendError::Socket)? {
            return Ok(Sent::AnsweredEarly);
        }
        let want = usize::try_from(file_size - sent)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        read_exactly(file, &mut buf[..want]).map_err(|e| {
            SendError::File(ClientError::Io {
                context: format!("reading {} at byte {sent}", path.display()),
                source: e,
            })
        })?;
        stream.write_all(&buf[..want]).map_err(SendError::Socket)?;
        sent += want as u64;
        progress(sent, file_size);
    }
    if node_answered_early(stream).map_err(SendError::Socket)? {
        return Ok(Sent::AnsweredEarly);
    }
    stream
        .write_all(&framing.epilogue)
        .map_err(SendError::Socket)?;
    stream.flush().map_err(SendError::Socket)?;
    Ok(Sent::All)
}

/// Fills `buf` from `file`; a file that ends early changed since its size was taken.
fn read_exactly(file: &mut File, buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file shrank while it was being uploaded",
                ))
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::keys::CryptoScheme;
    use crate::auth::token_request::verify_token_request;
    use std::net::TcpListener;

    #[test]
    fn token_text_is_one_printable_ascii_word() {
        assert!(is_token_text("abc123"));
        assert!(is_token_text("eyJkYXRhIjp7fX0_-"));
        for bad in ["", "two words", "tab\there", "line\n", "é", "\u{7f}"] {
            assert!(!is_token_text(bad), "{bad:?}");
        }
    }

    #[test]
    fn multipart_framing_length_matches_the_bytes() {
        let file = b"hello, colossus\r\n--not-a-boundary";
        for name in ["a.bin", "we\"ird\r\nname.mp4", "é.txt", ""] {
            let framing = MultipartFraming::with_random_boundary(name);
            let mut body = framing.preamble.clone();
            body.extend_from_slice(file);
            body.extend_from_slice(&framing.epilogue);
            assert_eq!(body.len() as u64, framing.content_length(file.len() as u64));
            let text = String::from_utf8(framing.preamble.clone()).unwrap();
            assert!(text.starts_with(&format!("--{}\r\n", framing.boundary)));
            assert_eq!(text.matches("\r\n").count(), 4, "{text:?}");
            assert!(text.ends_with("Content-Type: application/octet-stream\r\n\r\n"));
        }
        let framing = MultipartFraming::new("x.bin", "B");
        assert_eq!(
            framing.preamble,
            b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.bin\"\r\n\
              Content-Type: application/octet-stream\r\n\r\n"
        );
        assert_eq!(framing.epilogue, b"\r\n--B--\r\n");
        assert_eq!(framing.content_type(), "multipart/form-data; boundary=B");
    }

    #[test]
    fn built_token_request_verifies_like_the_node_does() {
        for scheme in [CryptoScheme::Sr25519, CryptoScheme::Ed25519] {
            let alice = KeyPair::from_uri("//Alice", scheme).unwrap();
            let body = token_request_body(&alice, 1, 42, 0, "dynamic:member:1").unwrap();
            let verified = verify_token_request(body.as_bytes()).unwrap();
            assert_eq!(verified.scheme, scheme);
            assert_eq!(verified.request.member_id, 1);
            assert_eq!(verified.request.data_object_id, 42);
            assert_eq!(verified.request.storage_bucket_id, 0);
            assert_eq!(verified.request.bag_id, "dynamic:member:1");
            assert_eq!(verified.request.account.public_key, alice.public_key());
            assert_eq!(
                verified.request.signed_message(),
                format!(
                    r#"{{"memberId":1,"accountId":"{}","dataObjectId":42,"storageBucketId":0,"bagId":"dynamic:member:1"}}"#,
                    alice.public_key().to_joystream_address()
                )
            );
        }
        let alice = KeyPair::from_uri("//Alice", CryptoScheme::Sr25519).unwrap();
        assert!(token_request_body(&alice, 1, MAX_SAFE_INTEGER, 0, "static:council").is_ok());
        assert!(matches!(
            token_request_body(&alice, 1, MAX_SAFE_INTEGER + 1, 0, "static:council"),
            Err(ClientError::InvalidRequest(_))
        ));
    }

    #[test]
    fn node_urls_are_parsed_and_normalised() {
        let u = NodeUrl::parse("http://127.0.0.1:3333/").unwrap();
        assert_eq!(
            (u.base.as_str(), u.host.as_str(), u.port, u.prefix.as_str()),
            ("http://127.0.0.1:3333", "127.0.0.1", 3333, "")
        );
        let u = NodeUrl::parse("localhost").unwrap();
        assert_eq!((u.base.as_str(), u.port), ("http://localhost:80", 80));
        let u = NodeUrl::parse("HTTP://[::1]:8080/colossus/").unwrap();
        assert_eq!(
            (u.host.as_str(), u.host_header.as_str(), u.prefix.as_str()),
            ("::1", "[::1]:8080", "/colossus")
        );
        assert_eq!(u.base, "http://[::1]:8080/colossus");
        for bad in [
            "https://x",
            "ftp://x",
            "http://",
            "http://h:0",
            "http://h:99999",
            "http://h:x",
            "http://h/?a",
            "http://u@h",
            "http://[::1",
        ] {
            assert!(
                matches!(NodeUrl::parse(bad), Err(ClientError::InvalidUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode_query_value("dynamic:member:1"),
            "dynamic%3Amember%3A1"
        );
        assert_eq!(encode_query_value("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(encode_query_value("Az09-._~"), "Az09-._~");
    }

    #[test]
    fn error_answers_keep_type_message_and_status() {
        let e = http_error(
            "POST http://h:1/api/v1/admin/ledger",
            409,
            br#"{"type":"objectExists","message":"data object 7 already exists"}"#,
        );
        assert_eq!(
            e.to_string(),
            "POST http://h:1/api/v1/admin/ledger: node answered HTTP 409 Conflict: \
             objectExists: data object 7 already exists"
        );
        let e = http_error("GET x", 502, b"<html>bad gateway</html>");
        assert_eq!(
            e.to_string(),
            "GET x: node answered HTTP 502 Bad Gateway: <html>bad gateway</html>"
        );
        let e = http_error("GET x", 401, b"");
        assert!(e
            .to_string()
            .ends_with("HTTP 401 Unauthorized: (empty answer)"));
    }

    #[test]
    fn answers_are_read_with_length_chunked_and_interim_responses() {
        let a =
            read_answer(&b"HTTP/1.1 201 Created\r\nContent-Length: 8\r\n\r\n{\"id\":1}junk"[..])
                .unwrap();
        assert_eq!((a.status, a.body.as_slice()), (201, &b"{\"id\":1}"[..]));
        let a = read_answer(
            &b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 Bad Request\r\n\
               Transfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n"[..],
        )
        .unwrap();
        assert_eq!((a.status, a.body.as_slice()), (400, &b"abcde"[..]));
        let a = read_answer(&b"HTTP/1.0 500 Oops\r\n\r\nuntil close"[..]).unwrap();
        assert_eq!((a.status, a.body.as_slice()), (500, &b"until close"[..]));
        assert!(read_answer(&b""[..]).is_err());
        assert!(read_answer(&b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort"[..]).is_err());
        assert!(read_answer(&b"SSH-2.0-OpenSSH\r\n\r\n"[..]).is_err());
        let huge = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(70_000));
        assert!(read_answer(huge.as_bytes()).is_err());
    }

    /// A one-connection HTTP server thread: reads the request head, then the whole body if
    /// `read_body`, answers `answer`, and returns what it read.
    fn serve_once(
        status_line: &str,
        body: &str,
        read_body: bool,
    ) -> (String, std::thread::JoinHandle<Vec<u8>>) {
        let answer = format!(
            "HTTP/1.1 {status_line}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = Vec::new();
            let mut content_length = 0usize;
            loop {
                let mut line = Vec::new();
                reader.read_until(b'\n', &mut line).unwrap();
                request.extend_from_slice(&line);
                let text = String::from_utf8_lossy(&line).to_ascii_lowercase();
                if let Some(v) = text.strip_prefix("content-length:") {
                    content_length = v.trim().parse().unwrap();
                }
                if line == b"\r\n" {
                    break;
                }
            }
            if read_body {
                let mut body = vec![0u8; content_length];
                reader.read_exact(&mut body).unwrap();
                request.extend_from_slice(&body);
            }
            (&stream).write_all(answer.as_bytes()).unwrap();
            request
        });
        (base, handle)
    }

    #[test]
    fn upload_streams_an_exact_multipart_body() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clip.bin");
        let content: Vec<u8> = (0..3 * UPLOAD_CHUNK_BYTES + 17)
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&path, &content).unwrap();
        let (base, server) = serve_once("201 Created", r#"{"id":"gWxy"}"#, true);
        let client = NodeClient::new(&base, None).unwrap();
        let mut calls = Vec::new();
        let target = UploadTarget {
            object_id: 7,
            bucket_id: 0,
            bag: "dynamic:member:1",
            token: Some("tok"),
        };
        let id = client
            .upload_file(&target, &path, &mut |sent, total| calls.push((sent, total)))
            .unwrap();
        assert_eq!(id, "gWxy");
        let total = content.len() as u64;
        assert_eq!(calls.first(), Some(&(0, total)));
        assert_eq!(calls.last(), Some(&(total, total)));
        let request = server.join().unwrap();
        let head_end = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8(request[..head_end].to_vec()).unwrap();
        assert!(head.starts_with(
            "POST /api/v1/files?dataObjectId=7&storageBucketId=0&bagId=dynamic%3Amember%3A1 HTTP/1.1\r\n"
        ));
        assert!(head.contains("\r\nx-api-key: tok\r\n"));
        let body = &request[head_end..];
        let content_length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(body.len(), content_length);
        let preamble_end = body.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert!(String::from_utf8_lossy(&body[..preamble_end]).contains("filename=\"clip.bin\""));
        assert_eq!(
            &body[preamble_end..preamble_end + content.len()],
            content.as_slice()
        );
    }

    #[test]
    fn an_upload_refused_before_the_body_reports_the_nodes_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.bin");
        // Larger than socket buffers, so the client is still writing when the node answers.
        std::fs::write(&path, vec![7u8; 64 * UPLOAD_CHUNK_BYTES]).unwrap();
        let (base, server) = serve_once(
            "400 Bad Request",
            r#"{"type":"sizeMismatch","message":"expected 10 bytes"}"#,
            false,
        );
        let client = NodeClient::new(&base, None).unwrap();
        let target = UploadTarget {
            object_id: 1,
            bucket_id: 0,
            bag: "static:council",
            token: None,
        };
        let err = client
            .upload_file(&target, &path, &mut |_, _| {})
            .unwrap_err();
        let request = server.join().unwrap();
        assert!(!String::from_utf8_lossy(&request).contains("x-api-key"));
        match err {
            ClientError::Http {
                status,
                type_,
                message,
                ..
            } => {
                assert_eq!(status, 400);
                assert_eq!(type_.as_deref(), Some("sizeMismatch"));
                assert_eq!(message, "expected 10 bytes");
            }
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn admin_calls_need_a_token_and_send_it() {
        let client = NodeClient::new("http://127.0.0.1:1", None).unwrap();
        assert!(matches!(
            client.next_object_id(),
            Err(ClientError::InvalidRequest(_))
        ));
        let (base, server) = serve_once("200 OK", r#"{"nextObjectId":5}"#, false);
        let client = NodeClient::new(&base, Some("s3cret".to_owned())).unwrap();
        assert_eq!(client.next_object_id().unwrap(), 5);
        let request = String::from_utf8(server.join().unwrap()).unwrap();
        assert!(request.starts_with("GET /api/v1/admin/ledger/next-object-id HTTP/1.1\r\n"));
        assert!(request
            .to_ascii_lowercase()
            .contains("\r\nauthorization: bearer s3cret\r\n"));
        assert!(NodeClient::new("http://h", Some("two words".to_owned())).is_err());
    }

    #[test]
    fn mutations_are_posted_as_the_ledger_type() {
        let (base, server) = serve_once(
            "404 Not Found",
            r#"{"type":"notFound","message":"no object 3"}"#,
            true,
        );
        let client = NodeClient::new(&base, Some("t".to_owned())).unwrap();
        let err = client
            .apply_mutation(&Mutation::DeleteObject { id: 3 })
            .unwrap_err();
        assert!(
            err.to_string()
                .ends_with("HTTP 404 Not Found: notFound: no object 3"),
            "{err}"
        );
        let request = String::from_utf8(server.join().unwrap()).unwrap();
        assert!(request.starts_with("POST /api/v1/admin/ledger HTTP/1.1\r\n"));
        assert!(
            request.ends_with(r#"{"op":"deleteObject","id":3}"#),
            "{request}"
        );
    }

    #[test]
    fn an_unreachable_node_is_a_transport_error() {
        let client = NodeClient::new("http://127.0.0.1:1", None).unwrap();
        let err = client.status().unwrap_err();
        assert!(matches!(err, ClientError::Transport { .. }), "{err}");
        assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
    }
}
