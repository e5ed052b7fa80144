//! The fixtures `icount` measures against, each polled uncounted: a Redis
//! double on a Unix socket and a fixed HTTP/1.1 server that answers every
//! request with the node's `/api/me` reply.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use authscale_bench::callgrind::Uncounted;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

/// What a node answers to `GET /api/me`, for the fixed upstream and node.
const ME_BODY: &str = r#"{"user":"user42","node":"node"}"#;

/// A Redis double on a Unix socket in this process: GET/GETEX/GETDEL/SET/DEL/PING
/// and the session index's ZADD/EXPIRE/ZRANGE/ZREM
/// over RESP2 from a map, everything else `+OK`. Its polls are not counted.
pub(crate) struct FakeRedis {
    path: PathBuf,
    pub(crate) url: String,
}

impl FakeRedis {
    pub(crate) fn start(runtime: &Runtime) -> FakeRedis {
        let path =
            std::env::temp_dir().join(format!("authscale-icount-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = {
            let _context = runtime.enter();
            tokio::net::UnixListener::bind(&path).expect("bind the store double")
        };
        let data: Arc<Mutex<HashMap<Vec<u8>, Vec<u8>>>> = Arc::default();
        runtime.spawn(Uncounted(Box::pin(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(Uncounted(Box::pin(serve_resp(stream, data.clone()))));
            }
        })));
        let url = format!("redis+unix://{}", path.display());
        FakeRedis { path, url }
    }

    pub(crate) fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub(crate) async fn serve_resp(
    mut stream: tokio::net::UnixStream,
    data: Arc<Mutex<HashMap<Vec<u8>, Vec<u8>>>>,
) {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let mut reply = Vec::with_capacity(4096);
    loop {
        while let Some((command, used)) = parse_resp(&buf) {
            buf.drain(..used);
            answer(&command, &data, &mut reply);
        }
        if !reply.is_empty() {
            if stream.write_all(&reply).await.is_err() {
                return;
            }
            reply.clear();
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

pub(crate) fn answer(
    command: &[Vec<u8>],
    data: &Mutex<HashMap<Vec<u8>, Vec<u8>>>,
    out: &mut Vec<u8>,
) {
    let mut data = data.lock().expect("store double");
    let name = command
        .first()
        .map(|c| c.to_ascii_uppercase())
        .unwrap_or_default();
    match (name.as_slice(), command.get(1)) {
        (b"GET" | b"GETEX", Some(key)) => match data.get(key) {
            Some(value) => {
                out.extend_from_slice(format!("${}\r\n", value.len()).as_bytes());
                out.extend_from_slice(value);
                out.extend_from_slice(b"\r\n");
            }
            None => out.extend_from_slice(b"$-1\r\n"),
        },
        (b"SET", Some(key)) => {
            let value = command.get(2).cloned().unwrap_or_default();
            data.insert(key.clone(), value);
            out.extend_from_slice(b"+OK\r\n");
        }
        (b"DEL", Some(key)) => {
            let removed = data.remove(key).is_some();
            out.extend_from_slice(if removed { b":1\r\n" } else { b":0\r\n" });
        }
        (b"GETDEL", Some(key)) => match data.remove(key) {
            Some(value) => {
                out.extend_from_slice(format!("${}\r\n", value.len()).as_bytes());
                out.extend_from_slice(&value);
                out.extend_from_slice(b"\r\n");
            }
            None => out.extend_from_slice(b"$-1\r\n"),
        },
        // The per-account session index (login and logout only): kept
        // nowhere, nothing ever evicted.
        (b"ZADD" | b"ZREM" | b"EXPIRE", _) => out.extend_from_slice(b":1\r\n"),
        (b"ZRANGE", _) => out.extend_from_slice(b"*0\r\n"),
        (b"PING", _) => out.extend_from_slice(b"+PONG\r\n"),
        _ => out.extend_from_slice(b"+OK\r\n"),
    }
}

/// One RESP array of bulk strings from the front of `buf`, and its length.
pub(crate) fn parse_resp(buf: &[u8]) -> Option<(Vec<Vec<u8>>, usize)> {
    pub(crate) fn line(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
        let end = buf.get(at..)?.windows(2).position(|w| w == b"\r\n")? + at;
        Some((&buf[at..end], end + 2))
    }
    pub(crate) fn number(bytes: &[u8]) -> Option<usize> {
        std::str::from_utf8(bytes).ok()?.parse().ok()
    }
    let (head, mut at) = line(buf, 0)?;
    let count = number(head.strip_prefix(b"*")?)?;
    let mut parts = Vec::with_capacity(count);
    for _ in 0..count {
        let (len, next) = line(buf, at)?;
        let len = number(len.strip_prefix(b"$")?)?;
        let part = buf.get(next..next + len)?;
        if buf.get(next + len..next + len + 2)? != b"\r\n" {
            return None;
        }
        parts.push(part.to_vec());
        at = next + len + 2;
    }
    Some((parts, at))
}

/// An HTTP/1.1 server in this process that answers every request head with
/// the node's `/api/me` reply. Its polls are not counted.
pub(crate) fn fixed_http_server(
    runtime: &Runtime,
    answered: Option<Arc<Answered>>,
) -> std::net::SocketAddr {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind the fixed server");
    let addr = listener.local_addr().expect("addr");
    runtime.spawn(Uncounted(Box::pin(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(Uncounted(Box::pin(serve_fixed(stream, answered.clone()))));
        }
    })));
    addr
}

pub(crate) async fn serve_fixed(
    mut stream: tokio::net::TcpStream,
    answered: Option<Arc<Answered>>,
) {
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{ME_BODY}",
        ME_BODY.len()
    );
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            if stream.write_all(response.as_bytes()).await.is_err() {
                return;
            }
            if let Some(answered) = &answered {
                answered.one();
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// How many requests the fixed node has answered, and a wake-up when a
/// target is reached.
#[derive(Default)]
pub(crate) struct Answered {
    count: std::sync::atomic::AtomicU64,
    target: std::sync::atomic::AtomicU64,
    reached: tokio::sync::Notify,
}

impl Answered {
    pub(crate) fn one(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        let count = self.count.fetch_add(1, SeqCst) + 1;
        if count == self.target.load(SeqCst) {
            self.reached.notify_one();
        }
    }

    /// Resolves once `n` more requests have been answered.
    pub(crate) fn more(&self, n: u64) -> impl std::future::Future<Output = ()> + '_ {
        use std::sync::atomic::Ordering::SeqCst;
        self.target.store(self.count.load(SeqCst) + n, SeqCst);
        self.reached.notified()
    }
}
