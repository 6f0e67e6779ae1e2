//! A host a source must never reach: it counts every TCP connection made
//! to it and answers like a working API, so a request that got there
//! "works" and only the count tells.

use std::io::Write as _;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts every TCP connection made to it: the other host.
pub struct Elsewhere {
    pub port: u16,
    connections: Arc<AtomicUsize>,
}

impl Elsewhere {
    pub fn start() -> Elsewhere {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                seen.fetch_add(1, Ordering::SeqCst);
                // Answer like an API would, so a request that got here "works".
                if let Ok(mut s) = stream {
                    let _ = s.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
                    );
                }
            }
        });
        Elsewhere { port, connections }
    }

    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}
