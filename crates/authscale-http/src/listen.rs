//! Binding a listener whose accept queue holds a burst of connections.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// The accept queue asked for. `TcpListener::bind` (mio) asks for 128, as
/// the standard library does: 2,000 clients connecting at once overflowed
/// it, the kernel dropped the SYNs beyond it, and their senders waited a
/// second for the retransmit (a plain request among them too). 4096 is
/// Linux's default `net.core.somaxconn` since 5.4, which caps the request
/// silently where it is set lower; `ss -ltn` shows the queue granted as
/// Send-Q.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` as `TcpListener::bind` does (`SO_REUSEADDR` on Unix) with
/// an accept queue of [`LISTEN_BACKLOG`]. Call it inside a tokio runtime.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}
