//! An upstream's idle keep-alive connections.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::net::TcpStream;

/// Idle connections kept per upstream; more are closed on return.
const MAX_IDLE: usize = 1024;

/// One keep-alive connection to an upstream.
pub(crate) struct Link {
    pub(super) stream: TcpStream,
    /// Bytes read and not yet consumed.
    pub(super) buf: BytesMut,
    /// The request as written, reused from one request to the next.
    pub(super) out: Vec<u8>,
    /// Taken from the pool, not freshly opened: it may have been closed by
    /// the upstream while it sat idle.
    pub(super) reused: bool,
}

/// An upstream's idle connections, most recently used last.
#[derive(Default)]
pub(crate) struct Pool {
    idle: Mutex<VecDeque<(Link, Instant)>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let idle = self.idle.lock().map_or(0, |idle| idle.len());
        f.debug_struct("Pool").field("idle", &idle).finish()
    }
}

impl Pool {
    /// The most recently returned connection that is still open and not
    /// older than `max_idle`.
    pub(super) fn checkout(&self, max_idle: Duration) -> Option<Link> {
        let now = Instant::now();
        loop {
            let (mut link, since) = self.idle.lock().ok()?.pop_back()?;
            if now.duration_since(since) < max_idle && still_open(&link.stream) {
                link.reused = true;
                return Some(link);
            }
        }
    }

    /// A connection whose answer has ended cleanly: kept for the next
    /// request unless the answer said to close it or left bytes unread
    /// (more than it framed: never trusted again).
    pub(super) fn give_back(&self, link: Link, close: bool, max_idle: Duration) {
        if !close && link.buf.is_empty() {
            self.checkin(link, max_idle);
        }
    }

    /// Keeps `link` for the next request; drops connections idle for longer
    /// than `max_idle` on the way.
    pub(super) fn checkin(&self, link: Link, max_idle: Duration) {
        let now = Instant::now();
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        while idle
            .front()
            .is_some_and(|(_, since)| now.duration_since(*since) >= max_idle)
        {
            idle.pop_front();
        }
        if idle.len() < MAX_IDLE {
            idle.push_back((link, now));
        }
    }
}

/// Whether an idle connection is still open, asked of the runtime's
/// readiness (no system call while the socket shows nothing new): an idle
/// keep-alive connection that became readable was closed by the upstream
/// or carries bytes nobody asked for; either way it is not reused.
fn still_open(stream: &TcpStream) -> bool {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match stream.poll_read_ready(&mut cx) {
        Poll::Pending => true,
        Poll::Ready(Err(_)) => false,
        // Readiness can outlive the bytes that caused it (a body's last
        // read filled the buffer exactly): ask the socket once.
        Poll::Ready(Ok(())) => matches!(
            stream.try_read(&mut [0u8; 1]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
        ),
    }
}
