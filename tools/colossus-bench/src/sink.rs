//! The upload ceiling: an HTTP/1.1 server that reads every request body, hashes it with
//! blake3 and throws it away, answering `200 {"bytes": N, "blake3": "<hex>"}`. It runs on the
//! same io_uring runtime shape as the node (one runtime per thread, SO_REUSEPORT listeners),
//! so `upload --sink-url` measures how fast this client can push bytes into a server that does
//! the least a storage node must do with them.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::http::{Conn, Framing};

/// Read buffer per connection.
const READ_BUFFER_BYTES: usize = 1 << 20;
/// Most simultaneous connections per thread (an explicit limit, not a tuning knob).
const CONNECTIONS_PER_THREAD_MAX: usize = 16_384;

/// Totals across the sink's threads.
#[derive(Default)]
pub struct SinkTotals {
    /// Requests answered.
    pub requests: AtomicU64,
    /// Body bytes hashed.
    pub bytes: AtomicU64,
}

fn listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Binds `addr` on `threads` listeners and serves until the process ends (or `duration`).
/// Calls `on_listening` with the bound address once every thread listens.
pub fn serve(
    addr: SocketAddr,
    threads: usize,
    duration: Option<Duration>,
    on_listening: impl FnOnce(SocketAddr),
) -> std::io::Result<Arc<SinkTotals>> {
    let first = listener(addr)?;
    let bound = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..threads.max(1) {
        listeners.push(listener(bound)?);
    }
    let totals = Arc::new(SinkTotals::default());
    let mut handles = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        let totals = totals.clone();
        handles.push(
            std::thread::Builder::new()
                .name(format!("sink-{i}"))
                .spawn(move || run_thread(l, totals))?,
        );
    }
    on_listening(bound);
    match duration {
        Some(d) => std::thread::sleep(d),
        None => {
            for h in handles {
                let _ = h.join();
            }
        }
    }
    Ok(totals)
}

fn run_thread(listener: std::net::TcpListener, totals: Arc<SinkTotals>) {
    let runtime = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(1024)
        .enable_timer()
        .build();
    let mut runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("colossus-bench sink: cannot start an io_uring runtime: {e}");
            std::process::exit(1);
        }
    };
    runtime.block_on(async move {
        let listener = match monoio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("colossus-bench sink: {e}");
                std::process::exit(1);
            }
        };
        let open = Rc::new(std::cell::Cell::new(0usize));
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                monoio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            if open.get() >= CONNECTIONS_PER_THREAD_MAX {
                drop(stream);
                continue;
            }
            let _ = stream.set_nodelay(true);
            open.set(open.get() + 1);
            let (open, totals) = (open.clone(), totals.clone());
            monoio::spawn(async move {
                serve_connection(Conn::new(stream, READ_BUFFER_BYTES), &totals).await;
                open.set(open.get() - 1);
            });
        }
    });
}

async fn serve_connection(mut conn: Conn, totals: &SinkTotals) {
    let mut out = Vec::with_capacity(256);
    loop {
        let head = match conn.read_request_head().await {
            Ok(Some(head)) => head,
            Ok(None) | Err(_) => return,
        };
        if head.expect_continue {
            out.clear();
            out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            let (result, back) = conn.write_all(out).await;
            out = back;
            if result.is_err() {
                return;
            }
        }
        let framing = if head.chunked {
            Framing::Chunked
        } else {
            Framing::Length(head.content_length.unwrap_or(0))
        };
        let mut hasher = blake3::Hasher::new();
        let bytes = match conn
            .read_body(framing, &mut |b| {
                hasher.update(b);
            })
            .await
        {
            Ok(n) => n,
            Err(_) => return,
        };
        totals.requests.fetch_add(1, Ordering::Relaxed);
        totals.bytes.fetch_add(bytes, Ordering::Relaxed);
        let body = format!(
            "{{\"bytes\":{bytes},\"blake3\":\"{}\"}}",
            hasher.finalize().to_hex()
        );
        out.clear();
        out.extend_from_slice(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}\r\n",
                body.len(),
                if head.keep_alive {
                    ""
                } else {
                    "Connection: close\r\n"
                }
            )
            .as_bytes(),
        );
        out.extend_from_slice(body.as_bytes());
        let (result, back) = conn.write_all(out).await;
        out = back;
        if result.is_err() || !head.keep_alive {
            return;
        }
    }
}
