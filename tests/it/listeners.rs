//! Small TCP listeners on 127.0.0.1 that misbehave on purpose, for the live probes' tests.
//! Each runs on its own thread until dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    /// Reads the request and sends this raw response, then closes.
    Respond(&'static str),
    /// Accepts and never answers.
    Silent,
    /// Accepts, lets the request arrive, and closes without reading it: the kernel sends a RST.
    Reset,
    /// Sends a status line, then header lines forever.
    EndlessHeaders,
}

pub struct Listener {
    pub addr: SocketAddr,
    /// Connections accepted so far.
    connections: Arc<AtomicUsize>,
    /// The peer address of each connection accepted (for `settle`).
    peers: Arc<Mutex<Vec<SocketAddr>>>,
    /// Connections `settle` made itself (not counted in `connections()`).
    sentinels: AtomicUsize,
    /// The head of each request read.
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    pub fn start(behaviour: Behaviour) -> Listener {
        Listener::start_at("127.0.0.1:0", behaviour)
    }

    /// On a given address (another loopback address, a given port).
    pub fn start_at(addr: &str, behaviour: Behaviour) -> Listener {
        let listener = TcpListener::bind(addr).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let flag = stop.clone();
        let peers = Arc::new(Mutex::new(Vec::new()));
        let (count, log, seen) = (connections.clone(), requests.clone(), peers.clone());
        let thread = std::thread::spawn(move || {
            let mut open = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, peer)) => {
                        count.fetch_add(1, Ordering::SeqCst);
                        seen.lock().unwrap().push(peer);
                        let (flag, log) = (flag.clone(), log.clone());
                        open.push(std::thread::spawn(move || {
                            serve(conn, behaviour, &flag, &log)
                        }));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            for t in open {
                let _ = t.join();
            }
        });
        Listener {
            addr,
            connections,
            peers,
            sentinels: AtomicUsize::new(0),
            requests,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst) - self.sentinels.load(Ordering::SeqCst)
    }

    /// Wait until every connection made before this call has been accepted (and counted): it
    /// connects once itself and waits for that connection, which the kernel queues after any
    /// earlier one. For asserting that nothing connected, without a fixed wait.
    pub fn settle(&self) {
        let me = TcpStream::connect(self.addr).expect("connect to the listener");
        let local = me.local_addr().unwrap();
        crate::support::wait_until("the listener to accept its own connection", || {
            self.peers.lock().unwrap().contains(&local)
        });
        self.sentinels.fetch_add(1, Ordering::SeqCst);
    }

    /// The request line of each request read (`HEAD /x HTTP/1.1`, or the absolute form a
    /// client sends to a proxy).
    pub fn requests(&self) -> Vec<String> {
        self.heads()
            .iter()
            .map(|h| h.lines().next().unwrap_or_default().to_string())
            .collect()
    }

    /// Each request's head: the request line and the headers.
    pub fn heads(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(mut conn: TcpStream, behaviour: Behaviour, stop: &AtomicBool, log: &Mutex<Vec<String>>) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
    match behaviour {
        Behaviour::Respond(raw) => {
            let head = read_head(&mut conn);
            if !head.is_empty() {
                log.lock().unwrap().push(head);
            }
            let _ = conn.write_all(raw.as_bytes());
        }
        Behaviour::Silent => {
            while !stop.load(Ordering::Relaxed) {
                let mut buf = [0u8; 1024];
                if matches!(conn.read(&mut buf), Ok(0)) {
                    break;
                }
            }
        }
        Behaviour::Reset => {
            // Unread bytes in the receive queue at close make the kernel answer with RST: wait
            // (peek, reading nothing) until the request's first bytes are there.
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = conn.peek(&mut [0u8; 1]);
        }
        Behaviour::EndlessHeaders => {
            read_head(&mut conn);
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\n");
            let line = format!("X-Filler: {}\r\n", "a".repeat(1000));
            while !stop.load(Ordering::Relaxed) {
                if conn.write_all(line.as_bytes()).is_err() {
                    break;
                }
            }
        }
    }
}

/// The request head, as far as it came.
fn read_head(conn: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A socket that listens but whose accept queue is full: the kernel drops further SYNs, so a
/// client's connect hangs exactly as it does against a host behind a packet-dropping firewall.
pub struct Blackhole {
    pub addr: SocketAddr,
    _socket: OwnedFd,
    _fillers: Vec<TcpStream>,
}

impl Blackhole {
    pub fn start() -> Blackhole {
        use nix::sys::socket::{
            bind, getsockname, listen, socket, AddressFamily, Backlog, SockFlag, SockType,
            SockaddrIn,
        };
        let fd = socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::empty(),
            None,
        )
        .expect("socket");
        bind(fd.as_raw_fd(), &SockaddrIn::new(127, 0, 0, 1, 0)).expect("bind");
        listen(&fd, Backlog::new(0).expect("backlog")).expect("listen");
        let local: SockaddrIn = getsockname(fd.as_raw_fd()).expect("getsockname");
        let addr: SocketAddr = format!("127.0.0.1:{}", local.port()).parse().unwrap();
        // Fill the queue (backlog 0 holds one); never accepted.
        let mut fillers = Vec::new();
        for _ in 0..3 {
            if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                fillers.push(s);
            }
        }
        Blackhole {
            addr,
            _socket: fd,
            _fillers: fillers,
        }
    }
}
