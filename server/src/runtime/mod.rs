//! Thread-per-core serving: one monoio runtime (io_uring driver) per thread, each with its own
//! SO_REUSEPORT listener, its own hyper HTTP/1.1 connections and its own engine writer lane.
//! Nothing on the request path is shared between cores except the store and ledger, which
//! are built for concurrent use.

pub mod activity;
pub mod connections;
pub mod direct;
pub mod ledger_writes;
pub mod listing;
pub mod serve;

use std::io;
use std::net::SocketAddr;
use std::os::unix::io::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use futures_channel::oneshot;
use socket2::{Domain, Protocol, Socket, Type};

use crate::node::Node;
use connections::Connections;

/// How long aborted connections get to drop their work once the shutdown grace is over.
const ABORT_WAIT: Duration = Duration::from_secs(5);

/// Pending connections the kernel queues per listener.
pub const LISTEN_BACKLOG: i32 = 4096;

/// hyper closes a connection whose head exceeds this many times the configured size limit
/// (without a JSON answer); heads between the limit and that bound get a JSON 431.
pub const HYPER_HEAD_LIMIT_FACTOR: usize = 4;

/// hyper parses up to this many headers in arrays on the stack and allocates both arrays on
/// the heap for every request once its header bound is set higher (hyper 1.x,
/// `DEFAULT_MAX_HEADERS`). The bound is raised only when `--max-headers` needs it.
const HYPER_STACK_HEADERS_MAX: usize = 100;

/// io_uring submission queue entries per core.
pub const RING_ENTRIES: u32 = 1024;

/// What one core owns.
pub struct Core {
    /// Shared node state.
    pub node: Arc<Node>,
    /// This core's engine writer lane.
    pub writer: colossus_engine::Writer,
    /// Index of the core (0-based).
    pub index: usize,
}

/// Binds `threads` listeners to `addr` with SO_REUSEPORT. A first probe bind without
/// SO_REUSEPORT makes a port another socket listens on (even another SO_REUSEPORT server of
/// the same user, which the kernel would otherwise let us share) an error; it also resolves
/// port 0 to the port every core then binds.
pub fn bind_listeners(addr: SocketAddr, threads: usize) -> io::Result<Vec<std::net::TcpListener>> {
    let probe = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // SO_REUSEADDR lets a restarted node bind over the TIME_WAIT connections its previous
    // run closed; a socket listening on the port still makes the bind fail.
    probe.set_reuse_address(true)?;
    probe.bind(&addr.into())?;
    let bound = probe
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("listener address is not an IP address"))?;
    drop(probe);
    (0..threads)
        .map(|_| {
            let socket = Socket::new(
                Domain::for_address(bound),
                Type::STREAM,
                Some(Protocol::TCP),
            )?;
            socket.set_reuse_address(true)?;
            socket.set_reuse_port(true)?;
            socket.set_nonblocking(true)?;
            socket.bind(&bound.into())?;
            socket.listen(LISTEN_BACKLOG)?;
            Ok(socket.into())
        })
        .collect()
}

/// A running server: its threads and the handles that stop them.
pub struct Server {
    threads: Vec<thread::JoinHandle<()>>,
    stoppers: Vec<oneshot::Sender<()>>,
    /// A second descriptor of every core's listener, so `stop` can close them all at once.
    listeners: Vec<std::net::TcpListener>,
    /// Where it listens.
    pub local_addr: SocketAddr,
}

impl Server {
    /// Starts one thread per listener.
    pub fn start(node: Arc<Node>, listeners: Vec<std::net::TcpListener>) -> io::Result<Server> {
        let local_addr = listeners
            .first()
            .ok_or_else(|| io::Error::other("no listener"))?
            .local_addr()?;
        let mut threads = Vec::with_capacity(listeners.len());
        let mut stoppers = Vec::with_capacity(listeners.len());
        let mut stop_handles = Vec::with_capacity(listeners.len());
        for (index, listener) in listeners.into_iter().enumerate() {
            stop_handles.push(listener.try_clone()?);
            let (stop_tx, stop_rx) = oneshot::channel();
            let node = node.clone();
            let handle = thread::Builder::new()
                .name(format!("colossus-core-{index}"))
                .spawn(move || run_core(node, index, listener, stop_rx))?;
            threads.push(handle);
            stoppers.push(stop_tx);
        }
        Ok(Server {
            threads,
            stoppers,
            listeners: stop_handles,
            local_addr,
        })
    }

    /// Stops accepting, lets in-flight requests finish (up to the shutdown grace), and waits
    /// for every core to exit.
    pub fn stop(self) {
        for stopper in self.stoppers {
            // A core that already exited has dropped its receiver; nothing to tell it.
            let _ = stopper.send(());
        }
        // Each core drops its listener when it sees the stop, at its own pace; until the
        // last one has, the kernel keeps handing new connections to the ones still open, so
        // a client could be refused once and accepted the next time. Shutting every listener
        // down here ends accepting on all cores within microseconds of each other.
        for listener in &self.listeners {
            // SAFETY: a plain syscall on a descriptor `listener` keeps open; no memory passed.
            unsafe { libc::shutdown(listener.as_raw_fd(), libc::SHUT_RD) };
        }
        for handle in self.threads {
            if handle.join().is_err() {
                eprintln!("colossus: a server thread panicked while stopping");
            }
        }
    }
}

fn run_core(
    node: Arc<Node>,
    index: usize,
    listener: std::net::TcpListener,
    stop: oneshot::Receiver<()>,
) {
    let runtime = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(RING_ENTRIES)
        .enable_timer()
        .build();
    let mut runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("colossus: core {index}: cannot start an io_uring runtime: {e}");
            std::process::exit(1);
        }
    };
    runtime.block_on(async move {
        let listener = match monoio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("colossus: core {index}: cannot use the listener: {e}");
                std::process::exit(1);
            }
        };
        let core = Rc::new(Core {
            writer: node.store.writer(),
            node,
            index,
        });
        // Detached: the trimming task ends with the runtime, once this block returns. It holds
        // the core weakly: a task the runtime leaves behind must not keep the node in use.
        let _trim = monoio::spawn(serve::trim_released_memory(Rc::downgrade(&core)));
        accept_loop(core, listener, stop).await;
    });
}

async fn accept_loop(
    core: Rc<Core>,
    listener: monoio::net::TcpListener,
    mut stop: oneshot::Receiver<()>,
) {
    let limits = core.node.config.limits.clone();
    let connections = Connections::default();
    loop {
        if connections.open() >= limits.connections_per_core_max {
            // At the limit: stop accepting (the kernel backlog queues) until one closes.
            monoio::select! {
                _ = &mut stop => break,
                _ = connections.below(limits.connections_per_core_max) => continue,
            }
        }
        monoio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let guard = connections.enter();
                    monoio::spawn(serve::serve_connection(core.clone(), stream, guard));
                }
                // The listener was shut down by `Server::stop`, which sent the stop first.
                Err(_) if matches!(stop.try_recv(), Ok(Some(()))) => break,
                Err(e) => {
                    // EMFILE/ENFILE and friends: back off instead of spinning.
                    eprintln!("colossus: core {}: accept failed: {e}", core.index);
                    monoio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    drop(listener);
    connections.begin_shutdown();
    let grace = Duration::from_millis(limits.shutdown_grace_ms);
    if monoio::time::timeout(grace, connections.below(1))
        .await
        .is_err()
    {
        eprintln!(
            "colossus: core {}: {} connections still busy after {} ms; aborting them",
            core.index,
            connections.open(),
            limits.shutdown_grace_ms
        );
        // Dropping a connection drops its request handler, and with it any engine upload in
        // progress, which releases its reservation: nothing half-written becomes visible.
        connections.abort();
        if monoio::time::timeout(ABORT_WAIT, connections.below(1))
            .await
            .is_err()
        {
            eprintln!(
                "colossus: core {}: {} connections did not close after being aborted",
                core.index,
                connections.open()
            );
        }
    }
}
