//! Shared by the colossus-bench tests: runs a `colossus server --dev` node on a random
//! 127.0.0.1 port, runs colossus-bench against it and reads its JSON report, and serves
//! deliberately wrong answers from a tiny std::net server.
//!
//! The node binary is not a target of the colossus-bench package, so cargo cannot build it
//! for these tests: build it first (`cargo build -p colossus`, or `--release` when testing in
//! release), or point `COLOSSUS_BIN` at one.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The colossus-bench binary under test.
pub fn bench_binary() -> &'static str {
    env!("CARGO_BIN_EXE_colossus-bench")
}

/// The colossus node binary: the sibling of colossus-bench in the same target directory and
/// profile (so CARGO_TARGET_DIR and --release are followed), or `COLOSSUS_BIN`.
pub fn node_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("COLOSSUS_BIN") {
        return PathBuf::from(path);
    }
    let path = std::path::Path::new(bench_binary()).with_file_name("colossus");
    assert!(
        path.exists(),
        "{} does not exist: build the node first in the same profile \
         (cargo build -p colossus{}) or set COLOSSUS_BIN",
        path.display(),
        if cfg!(debug_assertions) {
            ""
        } else {
            " --release"
        }
    );
    path
}

/// Reads lines of a child's stdout until one contains `marker`; returns the text after it.
fn wait_for_line(child: &mut Child, marker: &'static str, who: &'static str) -> String {
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            println!("[{who}] {line}");
            if let Some(rest) = line.split(marker).nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_owned());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{who} did not say where it listens within 60 s"))
}

/// A running dev node.
pub struct Node {
    child: Child,
    /// Its address.
    pub addr: SocketAddr,
    /// Its data directory.
    pub data: PathBuf,
    _temp: tempfile::TempDir,
}

impl Node {
    /// A `--dev` node in a fresh data directory, with `extra` flags.
    pub fn start_dev(extra: &[&str]) -> Node {
        let temp = tempfile::tempdir().expect("temp dir");
        let data = temp.path().join("data");
        let mut child = Command::new(node_binary())
            .arg("server")
            .arg("--dev")
            .arg("--data")
            .arg(&data)
            .args(["--listen", "127.0.0.1:0", "--threads", "2"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn colossus");
        let addr = wait_for_line(&mut child, "listening on http://", "node")
            .parse()
            .expect("node address");
        Node {
            child,
            addr,
            data,
            _temp: temp,
        }
    }

    /// `http://addr`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The admin token file.
    pub fn admin_token_file(&self) -> String {
        self.data.join("admin.token").display().to_string()
    }

    /// The ids of every object the node stores (`GET /api/v1/state/data-objects`), sorted.
    pub fn stored_ids(&self) -> Vec<u64> {
        let url = format!("{}/api/v1/state/data-objects", self.base());
        let body = ureq::get(&url)
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
            .into_string()
            .expect("data-objects body");
        let ids: Vec<String> = serde_json::from_str(&body).expect("a JSON list of ids");
        let mut ids: Vec<u64> = ids
            .iter()
            .map(|id| id.parse().expect("numeric id"))
            .collect();
        ids.sort_unstable();
        ids
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `colossus-bench sink`.
pub struct Sink {
    child: Child,
    /// `http://addr`.
    pub url: String,
}

impl Sink {
    /// Starts a sink on 127.0.0.1 with `threads`.
    pub fn start(threads: usize) -> Sink {
        let mut child = Command::new(bench_binary())
            .args(["sink", "--listen", "127.0.0.1:0", "--threads"])
            .arg(threads.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn sink");
        let addr = wait_for_line(&mut child, "listening on http://", "sink");
        Sink {
            child,
            url: format!("http://{addr}"),
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a colossus-bench run printed.
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// The JSON report (Null when the run failed before reporting).
    pub report: serde_json::Value,
    /// Its stderr.
    pub stderr: String,
}

impl Run {
    /// A report field as u64.
    pub fn u64(&self, pointer: &str) -> u64 {
        self.report
            .pointer(pointer)
            .and_then(|v| v.as_u64())
            .unwrap_or_else(|| panic!("no {pointer} in {:#}", self.report))
    }

    /// Errors of one kind.
    pub fn errors_of(&self, kind: &str) -> u64 {
        self.report["errors_by_kind"][kind].as_u64().unwrap_or(0)
    }

    /// Asserts a clean run of `requests` requests moving `payload` bytes.
    pub fn assert_clean(&self, requests: u64, payload: u64) {
        assert_eq!(
            self.code, 0,
            "exit code; stderr: {}\n{:#}",
            self.stderr, self.report
        );
        assert_eq!(self.u64("/requests"), requests, "{:#}", self.report);
        assert_eq!(self.u64("/ok"), requests, "{:#}", self.report);
        assert_eq!(self.u64("/errors"), 0, "{:#}", self.report);
        assert_eq!(self.u64("/payload_bytes"), payload, "{:#}", self.report);
    }
}

/// Runs colossus-bench with `args` plus `--json -q` and a two-minute limit.
pub fn bench(args: &[&str]) -> Run {
    let mut child = Command::new(bench_binary())
        .args(args)
        .args(["--json", "-q"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn colossus-bench");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("colossus-bench {args:?} ran longer than 120 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = out.join().expect("stdout reader");
    let stderr = err.join().expect("stderr reader");
    eprintln!("[bench {args:?}] {stderr}");
    Run {
        code: status.code().unwrap_or(-1),
        report: serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null),
        stderr,
    }
}

/// How the wrong server answers every GET.
#[derive(Clone, Copy, Debug)]
pub enum Wrong {
    /// 200 with the right length, one byte flipped.
    FlippedByte,
    /// Content-Length of the full body, half of it sent, then the connection closed.
    ShortBody,
    /// A complete, well-framed body one byte shorter than the object.
    ShortLength,
    /// 500 with a JSON error.
    Status500,
    /// 206 with the right Content-Range and length, every byte zero.
    ZeroRanges,
    /// The right bytes, chunked (a control: must score).
    RightChunked,
}

/// Serves `object` at any path, answering as `mode` says. Keep-alive, one thread per
/// connection (a few connections at most in these tests).
pub fn wrong_server(object: Vec<u8>, mode: Wrong) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let object = std::sync::Arc::new(object);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let object = object.clone();
            std::thread::spawn(move || serve_wrong(stream, &object, mode));
        }
    });
    addr
}

fn serve_wrong(stream: TcpStream, object: &[u8], mode: Wrong) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut out = stream;
    loop {
        let mut range: Option<(usize, usize)> = None;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("range: bytes=") {
                let (a, b) = v.trim().split_once('-').expect("range");
                range = Some((a.parse().expect("first"), b.parse().expect("last")));
            }
            if line == "\r\n" {
                break;
            }
        }
        let result = match mode {
            Wrong::FlippedByte => {
                let mut body = object.to_vec();
                let middle = body.len() / 2;
                body[middle] ^= 0x40;
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .and_then(|()| out.write_all(&body))
            }
            Wrong::ShortBody => {
                let _ = write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                    object.len()
                )
                .and_then(|()| out.write_all(&object[..object.len() / 2]));
                let _ = out.shutdown(std::net::Shutdown::Both);
                return;
            }
            Wrong::ShortLength => {
                let body = &object[..object.len() - 1];
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .and_then(|()| out.write_all(body))
            }
            Wrong::Status500 => {
                let body = br#"{"type":"internal","message":"deliberately broken"}"#;
                write!(
                    out,
                    "HTTP/1.1 500 Internal Server Error\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .and_then(|()| out.write_all(body))
            }
            Wrong::ZeroRanges => {
                let (first, last) = range.unwrap_or((0, object.len() - 1));
                let len = last - first + 1;
                write!(
                    out,
                    "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {first}-{last}/{}\r\nContent-Length: {len}\r\n\r\n",
                    object.len()
                )
                .and_then(|()| out.write_all(&vec![0u8; len]))
            }
            Wrong::RightChunked => {
                let mut result =
                    write!(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
                for piece in object.chunks(1000) {
                    result = result
                        .and_then(|()| write!(out, "{:x};ext=1\r\n", piece.len()))
                        .and_then(|()| out.write_all(piece))
                        .and_then(|()| out.write_all(b"\r\n"));
                }
                result.and_then(|()| out.write_all(b"0\r\nX-Trailer: 1\r\n\r\n"))
            }
        };
        if result.is_err() {
            return;
        }
    }
}

/// Deterministic test bytes.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
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
