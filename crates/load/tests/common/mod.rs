//! Small HTTP/1.1 servers with chosen misbehaviours, on OS-assigned loopback
//! ports, for testing the engine against real sockets.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What a server does with the n-th request it receives (counting from 0).
pub enum Reply {
    /// Send these bytes and keep the connection open.
    Send(Vec<u8>),
    /// Send these bytes, then close the connection.
    SendAndClose(Vec<u8>),
    /// Wait, then send these bytes.
    After(Duration, Vec<u8>),
    /// Never answer; keep the connection open.
    Ignore,
}

pub struct Server {
    pub port: u16,
    pub requests: Arc<AtomicU64>,
    pub connections: Arc<AtomicU64>,
    /// Connections served to their end (the client closed or left).
    pub ended: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Server {
    /// Starts a thread-per-connection server that answers each request as `reply` says.
    pub fn start(reply: impl Fn(u64) -> Reply + Send + Sync + 'static) -> Server {
        Server::start_with(None, reply)
    }

    /// Starts a server with `workers` threads, each serving one connection
    /// until it closes, like a sync worker pool: every other connection is
    /// accepted and waits its turn.
    pub fn pool(workers: usize, reply: impl Fn(u64) -> Reply + Send + Sync + 'static) -> Server {
        Server::start_with(Some(workers), reply)
    }

    fn start_with(
        workers: Option<usize>,
        reply: impl Fn(u64) -> Reply + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let ended = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let reply = Arc::new(reply);
        // With a pool, accepted connections queue here for the next free worker.
        let queue = workers.map(|n| {
            let (send, receive) = mpsc::channel::<TcpStream>();
            let receive = Arc::new(Mutex::new(receive));
            for _ in 0..n {
                let (receive, requests, ended, stop, reply) = (
                    receive.clone(),
                    requests.clone(),
                    ended.clone(),
                    stop.clone(),
                    reply.clone(),
                );
                thread::spawn(move || loop {
                    let next = receive.lock().unwrap().recv();
                    let Ok(stream) = next else { return };
                    serve(stream, &requests, &stop, &*reply);
                    ended.fetch_add(1, Ordering::SeqCst);
                });
            }
            send
        });
        {
            let (requests, connections, ended, stop) = (
                requests.clone(),
                connections.clone(),
                ended.clone(),
                stop.clone(),
            );
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    connections.fetch_add(1, Ordering::SeqCst);
                    match &queue {
                        Some(queue) => queue.send(stream).unwrap(),
                        None => {
                            let (requests, ended, stop, reply) =
                                (requests.clone(), ended.clone(), stop.clone(), reply.clone());
                            thread::spawn(move || {
                                serve(stream, &requests, &stop, &*reply);
                                ended.fetch_add(1, Ordering::SeqCst);
                            });
                        }
                    }
                }
            });
        }
        Server {
            port,
            requests,
            connections,
            ended,
            stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }

    /// Waits until at least `opened` connections were accepted and every
    /// one accepted has been served to its end; fails past `limit`.
    pub fn wait_until_connections_end(&self, opened: u64, limit: Duration) {
        let deadline = std::time::Instant::now() + limit;
        while self.ended.load(Ordering::SeqCst) < self.connections().max(opened) {
            assert!(
                std::time::Instant::now() < deadline,
                "{} of {} connections still served after {limit:?}",
                self.connections() - self.ended.load(Ordering::SeqCst),
                self.connections()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(
    mut stream: TcpStream,
    requests: &AtomicU64,
    stop: &AtomicBool,
    reply: &(dyn Fn(u64) -> Reply + Send + Sync),
) {
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut pending = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        }
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            pending.drain(..end + 4);
            let n = requests.fetch_add(1, Ordering::SeqCst);
            let ok = match reply(n) {
                Reply::Send(bytes) => stream.write_all(&bytes).is_ok(),
                Reply::SendAndClose(bytes) => {
                    let _ = stream.write_all(&bytes);
                    return;
                }
                Reply::After(delay, bytes) => {
                    thread::sleep(delay);
                    stream.write_all(&bytes).is_ok()
                }
                Reply::Ignore => true,
            };
            if !ok {
                return;
            }
        }
    }
}

/// A 200 response with a Content-Length body.
pub fn ok(body: &[u8]) -> Vec<u8> {
    status(200, body)
}

/// A response with this status and a Content-Length body.
pub fn status(code: u16, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}
