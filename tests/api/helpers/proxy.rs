//! A TCP proxy in front of a test service (PostgreSQL, Redis): a test can cut it (an outage),
//! or, for PostgreSQL, count and read what the server sends through it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy to the test PostgreSQL that the test can cut: existing connections are closed
/// and new ones accepted but never answered, as when a database host vanishes from the network.
pub struct DatabaseProxy {
    pub address: String,
    down: Arc<AtomicBool>,
    pipes: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    held: Arc<Mutex<Vec<TcpStream>>>,
    /// Bytes sent to the database since the proxy started: every statement is some.
    sent: Arc<AtomicU64>,
    /// Round trips to the database: `Sync` (the end of an extended-protocol statement) and
    /// `Query` (a simple one) messages sent.
    round_trips: Arc<AtomicU64>,
    /// The SQL text sent, in order, with the number of the connection that sent it: simple
    /// queries each time, extended ones when first prepared on their connection.
    statements: Statements,
}

type Statements = Arc<Mutex<Vec<(u64, String)>>>;

impl DatabaseProxy {
    pub async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Self {
            address: listener.local_addr().unwrap().to_string(),
            down: Arc::default(),
            pipes: Arc::default(),
            held: Arc::default(),
            sent: Arc::default(),
            round_trips: Arc::default(),
            statements: Arc::default(),
        };
        let (down, pipes, held, sent, round_trips, statements) = (
            proxy.down.clone(),
            proxy.pipes.clone(),
            proxy.held.clone(),
            proxy.sent.clone(),
            proxy.round_trips.clone(),
            proxy.statements.clone(),
        );
        tokio::spawn(async move {
            let mut connections = 0;
            while let Ok((client, _)) = listener.accept().await {
                connections += 1;
                let connection = connections;
                if down.load(Ordering::SeqCst) {
                    held.lock().unwrap().push(client);
                    continue;
                }
                let (target, sent, round_trips, statements) = (
                    target.clone(),
                    sent.clone(),
                    round_trips.clone(),
                    statements.clone(),
                );
                let pipe = tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let (mut from_client, mut to_client) = client.into_split();
                    let (mut from_server, mut to_server) = server.into_split();
                    let upstream = async {
                        let mut buffer = [0u8; 8192];
                        let mut frames = Frames {
                            connection,
                            statements,
                            ..Frames::default()
                        };
                        while let Ok(n @ 1..) = from_client.read(&mut buffer).await {
                            round_trips.fetch_add(frames.feed(&buffer[..n]), Ordering::SeqCst);
                            sent.fetch_add(n as u64, Ordering::SeqCst);
                            if to_server.write_all(&buffer[..n]).await.is_err() {
                                break;
                            }
                        }
                    };
                    let downstream = tokio::io::copy(&mut from_server, &mut to_client);
                    tokio::select! {
                        () = upstream => {}
                        _ = downstream => {}
                    }
                });
                pipes.lock().unwrap().push(pipe);
            }
        });
        proxy
    }

    pub fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for pipe in self.pipes.lock().unwrap().drain(..) {
            pipe.abort();
        }
    }

    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
        self.held.lock().unwrap().clear();
    }

    /// Waits until the server has sent nothing for half a second (background work after a
    /// write, such as the live listener re-reading a notified row, has settled); at most 10 s.
    pub async fn quiet(&self) {
        let mut last = self.sent();
        for _ in 0..20 {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let now = self.sent();
            if now == last {
                return;
            }
            last = now;
        }
    }

    /// Round trips the server made to the database so far (connect with `sslmode=disable`:
    /// the proxy reads the protocol's messages).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::SeqCst)
    }

    /// The SQL the server sent so far, with the number of the connection that sent it.
    pub fn statements(&self) -> Vec<(u64, String)> {
        self.statements.lock().unwrap().clone()
    }

    /// Bytes the server sent to the database so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }
}

/// Splits what a PostgreSQL client sends into protocol messages and counts the round trips:
/// `Sync` ends an extended-protocol statement (parse, bind, execute), `Query` is a simple one.
#[derive(Default)]
struct Frames {
    started: bool,
    pending: Vec<u8>,
    connection: u64,
    statements: Statements,
}

impl Frames {
    fn feed(&mut self, bytes: &[u8]) -> u64 {
        self.pending.extend_from_slice(bytes);
        let (mut count, mut at) = (0, 0);
        loop {
            let rest = &self.pending[at..];
            if !self.started {
                // The startup message (and an SSLRequest before it) has no type byte.
                let Some(len) = rest
                    .get(..4)
                    .map(|l| u32::from_be_bytes(l.try_into().unwrap()))
                else {
                    break;
                };
                if rest.len() < len as usize {
                    break;
                }
                self.started = rest.get(4..8) != Some(&80_877_103_u32.to_be_bytes()[..]);
                at += len as usize;
                continue;
            }
            let Some(len) = rest
                .get(1..5)
                .map(|l| u32::from_be_bytes(l.try_into().unwrap()))
            else {
                break;
            };
            if rest.len() < 1 + len as usize {
                break;
            }
            if matches!(rest[0], b'S' | b'Q') {
                count += 1;
            }
            // Parse: a statement name, then the text; Query: the text.
            let body = &rest[5..1 + len as usize];
            let text = match rest[0] {
                b'P' => body.splitn(3, |b| *b == 0).nth(1),
                b'Q' => body.split(|b| *b == 0).next(),
                _ => None,
            };
            if let Some(text) = text {
                self.statements
                    .lock()
                    .unwrap()
                    .push((self.connection, String::from_utf8_lossy(text).into_owned()));
            }
            at += 1 + len as usize;
        }
        self.pending.drain(..at);
        count
    }
}
