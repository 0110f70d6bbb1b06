//! Shared by the end-to-end tests: runs the real `colossus` binary on a random 127.0.0.1 port
//! with a temporary data directory, and talks to it over real HTTP.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use colossus::auth::keys::{CryptoScheme, KeyPair};

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_colossus")
}

/// Runs `colossus <args>` to its end (the offline tools, or the clients of a running node).
pub fn colossus(args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .output()
        .expect("the colossus binary runs")
}

/// What a finished `colossus` printed on stdout.
pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 on stdout")
}

/// What a finished `colossus` printed on stderr.
pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8 on stderr")
}

/// A CLI refusal: exit status 1 and exactly one line on stderr, `error: ...`; returns it.
pub fn one_error_line(code: Option<i32>, stderr: &str) -> String {
    assert_eq!(code, Some(1), "exit code; stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line on stderr, got: {stderr:?}"
    );
    assert!(lines[0].starts_with("error: "), "{stderr:?}");
    lines[0].to_owned()
}

/// shared/vectors/joystream-compat.json (made with the reference node's own libraries), found
/// by walking up from the crate (the repository sits next to `shared/`), or at
/// $COLOSSUS_VECTORS; its bytes, for each test to parse the way it needs.
pub fn vectors_json() -> Vec<u8> {
    const RELATIVE: &str = "shared/vectors/joystream-compat.json";
    let mut candidates = Vec::new();
    if let Ok(path) = std::env::var("COLOSSUS_VECTORS") {
        candidates.push(PathBuf::from(path));
    }
    let mut dir = Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    while let Some(d) = dir {
        candidates.push(d.join(RELATIVE));
        dir = d.parent().map(Path::to_path_buf);
    }
    for path in &candidates {
        if let Ok(bytes) = std::fs::read(path) {
            return bytes;
        }
    }
    panic!("joystream-compat.json not found in {candidates:?}; set COLOSSUS_VECTORS");
}

/// `http://addr/api/v1<path>`, for test threads, which share the address and not the `Node`
/// (it owns the child process and its stdout channel).
pub fn api_url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}/api/v1{path}")
}

/// A running node.
pub struct Node {
    pub child: Child,
    pub addr: SocketAddr,
    pub data: PathBuf,
    /// Keeps the data directory alive when the test made it.
    _temp: Option<tempfile::TempDir>,
    /// Lines the node printed on stdout after the listening line.
    pub stdout: mpsc::Receiver<String>,
}

impl Node {
    /// A `--dev` node in a fresh data directory with `extra` flags.
    pub fn start_dev(extra: &[&str]) -> Node {
        let temp = tempfile::tempdir().expect("temp dir");
        let data = temp.path().join("data");
        let mut args = vec!["--dev"];
        args.extend_from_slice(extra);
        let mut node = Node::start_in(&data, &args);
        node._temp = Some(temp);
        node
    }

    /// A node on `data` with `args` (besides --data and --listen).
    pub fn start_in(data: &Path, args: &[&str]) -> Node {
        let mut child = Command::new(binary())
            .arg("server")
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0", "--threads", "2"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn colossus");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                println!("[node] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let addr = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("the node did not report where it listens within 60 s");
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let addr = rest.split_whitespace().next().expect("address");
                break addr.parse().expect("socket address");
            }
        };
        Node {
            child,
            addr,
            data: data.to_path_buf(),
            _temp: None,
            stdout: rx,
        }
    }

    /// `http://addr/api/v1<path>`.
    pub fn url(&self, path: &str) -> String {
        api_url(self.addr, path)
    }

    /// The admin token the node generated.
    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.data.join("admin.token"))
            .expect("admin token")
            .trim()
            .to_string()
    }

    /// `Bearer <admin token>`, the `Authorization` value of the admin API.
    pub fn admin_bearer(&self) -> String {
        format!("Bearer {}", self.admin_token())
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        signal(&self.child, libc::SIGTERM);
        wait_timeout(&mut self.child, Duration::from_secs(60))
            .expect("the node did not stop within 60 s of SIGTERM")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sends a signal to a child.
pub fn signal(child: &Child, signal: i32) {
    // SAFETY: kill(2) with a pid we own and a valid signal number has no memory effects.
    let rc = unsafe { libc::kill(child.id() as i32, signal) };
    assert_eq!(rc, 0, "kill failed");
}

/// Waits up to `timeout` for a child to exit.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A ureq agent that does not turn 4xx/5xx into errors of its own kind.
pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .build()
}

/// An HTTP answer, whatever its status.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "answer is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts the status, showing the body when it differs; the answer, to go on with.
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_status_of(self.status, status, &self.body);
        self
    }

    /// Asserts an error answer: this status, JSON {type, message}.
    #[track_caller]
    pub fn assert_error(&self, status: u16) -> serde_json::Value {
        let json = self.assert_status(status).json();
        assert!(json["type"].is_string(), "no type in {json}");
        assert!(json["message"].is_string(), "no message in {json}");
        json
    }
}

#[track_caller]
fn assert_status_of(actual: u16, expected: u16, body: &[u8]) {
    assert_eq!(actual, expected, "body: {}", String::from_utf8_lossy(body));
}

fn answer_of(result: Result<ureq::Response, ureq::Error>) -> Answer {
    let response = match result {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(e) => panic!("transport error: {e}"),
    };
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .flat_map(|name| {
            response
                .all(&name)
                .into_iter()
                .map(|v| (name.clone(), v.to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut body = Vec::new();
    response
        .into_reader()
        .take(u64::MAX)
        .read_to_end(&mut body)
        .expect("read body");
    Answer {
        status,
        headers,
        body,
    }
}

/// Sends a request with optional headers and body.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Answer {
    let mut req = agent().request(method, url);
    for (name, value) in headers {
        req = req.set(name, value);
    }
    answer_of(match body {
        Some(body) => req.send_bytes(body),
        None => req.call(),
    })
}

pub fn get(url: &str) -> Answer {
    request("GET", url, &[], None)
}

/// Applies one ledger change through the admin API.
pub fn admin_apply(node: &Node, mutation: serde_json::Value) -> Answer {
    request(
        "POST",
        &node.url("/admin/ledger"),
        &[
            ("Authorization", &node.admin_bearer()),
            ("Content-Type", "application/json"),
        ],
        Some(mutation.to_string().as_bytes()),
    )
}

/// Creates or replaces member `id`, controlled by the account `controller` (SS58).
pub fn add_member(node: &Node, id: u64, controller: &str) {
    admin_apply(
        node,
        serde_json::json!({"op": "putMember", "member": {"id": id, "controller": controller}}),
    )
    .assert_status(200);
}

/// GET of an admin route with the admin token, asserting 200; the JSON answer.
pub fn admin_get(node: &Node, path: &str) -> serde_json::Value {
    let answer = request(
        "GET",
        &node.url(path),
        &[("Authorization", &node.admin_bearer())],
        None,
    );
    assert_eq!(
        answer.status,
        200,
        "GET {path}: {}",
        String::from_utf8_lossy(&answer.body)
    );
    answer.json()
}

/// Deterministic test content.
pub fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// The network's multihash of `bytes`.
pub fn multihash(bytes: &[u8]) -> String {
    colossus_engine::multihash::of(bytes)
}

/// Registers object `id` of `bytes` in `bag` in the ledger.
pub fn create_object(node: &Node, id: u64, bag: &str, bytes: &[u8]) {
    let answer = admin_apply(
        node,
        serde_json::json!({
            "op": "createObject",
            "object": {"id": id, "bag": bag, "sizeBytes": bytes.len(), "multihash": multihash(bytes)}
        }),
    );
    answer.assert_status(200);
}

/// `body` in chunked transfer coding, in chunks of `chunk_bytes` (no length to go by).
pub fn chunked(body: &[u8], chunk_bytes: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in body.chunks(chunk_bytes) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// A multipart/form-data body with text fields then one file part.
pub fn multipart(boundary: &str, fields: &[(&str, &str)], file: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        )
        .unwrap();
    }
    write!(
        body,
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"blob.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .unwrap();
    body.extend_from_slice(file);
    write!(body, "\r\n--{boundary}--\r\n").unwrap();
    body
}

pub const BOUNDARY: &str = "----colossus-test-boundary-7MA4YWxkTrZu0gW";

/// POST /files with the parameters in the query string (the current reference client).
pub fn upload(node: &Node, id: u64, bag: &str, bytes: &[u8], token: Option<&str>) -> Answer {
    let url = format!(
        "{}?dataObjectId={id}&storageBucketId=0&bagId={}",
        node.url("/files"),
        bag.replace(':', "%3A")
    );
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let mut headers = vec![("Content-Type", content_type.as_str())];
    if let Some(token) = token {
        headers.push(("x-api-key", token));
    }
    request(
        "POST",
        &url,
        &headers,
        Some(&multipart(BOUNDARY, &[], bytes)),
    )
}

/// POSTs `body` over a raw connection after the request line, `Host` and `headers` (each
/// line ending in CRLF, framing included), carrying on when the node closes before the whole
/// body is written (it may refuse as soon as the head says enough); whatever the node answered.
pub fn post_raw(node: &Node, path: &str, headers: &str, body: &[u8]) -> String {
    let mut stream = raw_connect(node);
    let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n");
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body));
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    String::from_utf8_lossy(&reply).into_owned()
}

/// POSTs `body` 30 times with ureq, which writes the whole body before it reads the answer
/// (as most clients do without `Expect: 100-continue`), to a route that refuses it before
/// reading it; asserts that every time the refusal arrived (`status`, an error of
/// `error_type`), never a reset connection.
pub fn assert_refusal_reaches_whole_body_clients(
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    status: u16,
    error_type: &str,
) {
    let mut resets = 0;
    for _ in 0..30 {
        match post_whole_body_first(url, headers, body) {
            Some((answered, answer)) => {
                let answer = String::from_utf8_lossy(&answer);
                assert_eq!(answered, status, "{answer}");
                assert!(answer.contains(error_type), "{answer}");
            }
            None => resets += 1,
        }
    }
    assert_eq!(
        resets, 0,
        "{resets} of 30 refused requests to {url} ended in a reset connection"
    );
}

/// POSTs the whole body, then reads the answer; None when the node reset the connection first.
fn post_whole_body_first(
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, Vec<u8>)> {
    let mut req = agent().post(url);
    for (name, value) in headers {
        req = req.set(name, value);
    }
    let response = match req.send_bytes(body) {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(ureq::Error::Transport(_)) => return None,
    };
    let status = response.status();
    let mut bytes = Vec::new();
    response.into_reader().read_to_end(&mut bytes).ok()?;
    Some((status, bytes))
}

/// Raw HTTP/1.1 over a TcpStream, for what clients libraries will not do.
pub fn raw_connect(node: &Node) -> TcpStream {
    let stream = TcpStream::connect(node.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
}

/// //Alice's key: the controller of member 1 on a --dev node.
pub fn alice_key() -> KeyPair {
    KeyPair::from_uri("//Alice", CryptoScheme::Sr25519).expect("//Alice")
}

/// An upload token for object `id` of `bag`, asked of the node at `addr` as `member_id`
/// signing with its controller `key` (an address, so that test threads can ask too).
pub fn member_token(addr: SocketAddr, key: &KeyPair, member_id: u64, id: u64, bag: &str) -> String {
    let body = colossus::client::token_request_body(key, member_id, id, 0, bag).expect("body");
    let answer = request(
        "POST",
        &api_url(addr, "/authToken"),
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
    );
    answer.assert_status(201).json()["token"]
        .as_str()
        .expect("token")
        .to_string()
}

/// A token for //Alice (member 1 on a --dev node).
pub fn alice_token(node: &Node, id: u64, bag: &str) -> String {
    member_token(node.addr, &alice_key(), 1, id, bag)
}

/// Creates object `id` in the ledger and uploads it with a fresh token; returns the answer.
pub fn put(node: &Node, id: u64, bag: &str, bytes: &[u8]) -> Answer {
    create_object(node, id, bag, bytes);
    let token = alice_token(node, id, bag);
    upload(node, id, bag, bytes, Some(&token))
}

/// GET /state/data as JSON.
pub fn state_data(node: &Node) -> serde_json::Value {
    get(&node.url("/state/data")).assert_status(200).json()
}

/// After a refused or abandoned upload of `id`: once its reservation is released (waited
/// for, as a dropped connection is noticed asynchronously), nothing of it is served and no
/// upload is counted in flight. Returns `/state/data` as it then was.
pub fn assert_upload_left_nothing(node: &Node, id: u64) -> serde_json::Value {
    let stats = wait_for(
        Duration::from_secs(20),
        "the upload's reservation to be released",
        || {
            let stats = state_data(node);
            (stats["tempDownloads"] == 0 && stats["tempDirSize"] == 0).then_some(stats)
        },
    );
    get(&node.url(&format!("/files/{id}"))).assert_error(404);
    stats
}

/// Polls `check` every 50 ms until it returns Some, failing the test with `what` after
/// `timeout` (a deadline for behaviour the node performs asynchronously, not a speed check).
pub fn wait_for<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until /state/data shows `count` uploads holding reservations.
pub fn wait_for_uploads_in_flight(node: &Node, count: u64) -> serde_json::Value {
    wait_for(
        Duration::from_secs(20),
        &format!("tempDownloads to be {count}, each holding its space"),
        || {
            let stats = state_data(node);
            // An upload is counted a moment before its space is taken (the engine may be
            // creating a segment file): wait until every one holds at least its head block.
            let held = stats["tempDirSize"].as_u64().unwrap_or(0) >= count * 4096;
            (stats["tempDownloads"] == count && held).then_some(stats)
        },
    )
}

/// An HTTP answer read off a raw connection.
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl RawAnswer {
    /// Asserts the status, showing the body when it differs; the answer, to go on with.
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_status_of(self.status, status, &self.body);
        self
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "answer is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Reads one HTTP/1.1 answer (head, then a Content-Length body) from `stream`; None if the
/// connection ends (EOF, reset, read timeout) before a whole answer arrived. Bytes after the
/// answer are dropped: for pipelined requests use [`read_raw_answers`].
pub fn read_raw_answer(stream: &mut TcpStream) -> Option<RawAnswer> {
    read_answers_into(stream, &mut Vec::new(), 1).pop()
}

/// Reads `count` answers, however the bytes of consecutive answers fall into reads (the
/// answers to pipelined requests); panics if the connection ends first.
pub fn read_raw_answers(stream: &mut TcpStream, count: usize) -> Vec<RawAnswer> {
    let answers = read_answers_into(stream, &mut Vec::new(), count);
    assert_eq!(
        answers.len(),
        count,
        "the connection ended after {} answers",
        answers.len()
    );
    answers
}

/// Reads up to `count` answers through `buffer`, fewer if the connection ends first.
fn read_answers_into(stream: &mut TcpStream, buffer: &mut Vec<u8>, count: usize) -> Vec<RawAnswer> {
    let mut answers = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    while answers.len() < count {
        if let Some(answer) = take_raw_answer(buffer) {
            answers.push(answer);
            continue;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    answers
}

/// The whole answer at the front of `buffer`, taken off it; None until all of it is there.
fn take_raw_answer(buffer: &mut Vec<u8>) -> Option<RawAnswer> {
    let head_end = buffer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    if buffer.len() < head_end + length {
        return None;
    }
    let body = buffer[head_end..head_end + length].to_vec();
    buffer.drain(..head_end + length);
    Some(RawAnswer { status, head, body })
}

/// An upload sent by hand over a raw connection, so a test can pause, stall or drop it in the
/// middle of its body.
pub struct RawUpload {
    pub stream: TcpStream,
    body: Vec<u8>,
    sent: usize,
}

impl RawUpload {
    /// Connects and sends the request head of an upload of `bytes` as object `id` of `bag`
    /// (parameters in the query string), and no body byte yet.
    pub fn begin(node: &Node, id: u64, bag: &str, bytes: &[u8], token: Option<&str>) -> RawUpload {
        let query = format!(
            "dataObjectId={id}&storageBucketId=0&bagId={}",
            bag.replace(':', "%3A")
        );
        let body = multipart(BOUNDARY, &[], bytes);
        Self::begin_with(node, &format!("/api/v1/files?{query}"), body, token)
    }

    /// Like `begin`, with the parameters as form fields before the file part (the 2021 API).
    pub fn begin_form(
        node: &Node,
        id: u64,
        bag: &str,
        bytes: &[u8],
        token: Option<&str>,
    ) -> RawUpload {
        let id = id.to_string();
        let fields = [
            ("dataObjectId", id.as_str()),
            ("storageBucketId", "0"),
            ("bagId", bag),
        ];
        let body = multipart(BOUNDARY, &fields, bytes);
        Self::begin_with(node, "/api/v1/files", body, token)
    }

    fn begin_with(node: &Node, target: &str, body: Vec<u8>, token: Option<&str>) -> RawUpload {
        let mut stream = raw_connect(node);
        let mut head = format!(
            "POST {target} HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\n",
            node.addr,
            body.len()
        );
        if let Some(token) = token {
            head.push_str(&format!("x-api-key: {token}\r\n"));
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .expect("send the request head");
        RawUpload {
            stream,
            body,
            sent: 0,
        }
    }

    /// Body bytes not sent yet.
    pub fn remaining(&self) -> usize {
        self.body.len() - self.sent
    }

    /// Sends the next `count` body bytes (at most what remains).
    pub fn send(&mut self, count: usize) -> std::io::Result<()> {
        let end = (self.sent + count).min(self.body.len());
        self.stream.write_all(&self.body[self.sent..end])?;
        self.sent = end;
        Ok(())
    }

    /// Sends the rest of the body.
    pub fn send_rest(&mut self) -> std::io::Result<()> {
        self.send(self.remaining())
    }

    /// Reads the answer; None if the connection ends first.
    pub fn answer(&mut self) -> Option<RawAnswer> {
        read_raw_answer(&mut self.stream)
    }
}

/// Every file under `dir`, as paths relative to it.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
