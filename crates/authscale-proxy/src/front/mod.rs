//! The proxy's own front end for plain requests: it reads them from the
//! client's socket, rewrites their heads on the bytes, forwards them over
//! the upstream client, and writes the answer, without hyper's server
//! machinery or a header map for the request. The first request that is
//! not plain (see `request`), and every later one on that connection, goes
//! to the hyper path with the bytes already read: it admits, refuses or
//! streams as it always has.
//!
//! Why: on `proxy/forward`, hyper's server side and the request's header
//! map were about 40% of the proxy's instructions per forwarded request
//! (callgrind), the part of its CPU per request above HAProxy's.

mod answer;
mod request;

use std::net::SocketAddr;
use std::time::Instant;

use authscale_http::{Conn, MAX_HEAD_BYTES};
use bytes::Buf as _;

use crate::Policy;
use crate::forward::Proxy;
use answer::Ending;
use request::Parsed;

/// The write and rewrite buffers of a connection are given back when a
/// request made them larger than this: an idle connection stays small.
const KEPT_CAPACITY: usize = 16 * 1024;

/// Serves the plain requests of `conn`; the connection back when a request
/// is for the hyper path, `None` when it has ended.
pub(crate) async fn serve(proxy: &Proxy, mut conn: Conn, peer: SocketAddr) -> Option<Conn> {
    let mut written = Vec::with_capacity(1024);
    let mut out = Vec::with_capacity(1024);
    loop {
        let cookie_name =
            (proxy.policy() == Policy::CookieHash).then(|| proxy.config().cookie_name.as_str());
        let max_body = proxy.config().max_body;
        let plain = match request::parse(&conn.buf, peer, max_body, cookie_name, &mut written) {
            Parsed::Plain(plain) => plain,
            Parsed::Partial if conn.buf.len() < MAX_HEAD_BYTES => {
                match conn.read().await {
                    Ok(n) if n > 0 => continue,
                    // Between requests: a close, a reset or the idle
                    // timeout, none of them an error (as hyper counts).
                    _ if conn.buf.is_empty() => return None,
                    // A head cut off by the client or its deadline.
                    _ => {
                        proxy.downstream_error();
                        return None;
                    }
                }
            }
            Parsed::Partial | Parsed::Other => return Some(conn),
        };
        let in_request = conn.begin();
        let started = Instant::now();
        // Consumed in place: no new handle on the buffer per request.
        conn.buf.advance(plain.len);
        // Boxed: the exchange's future is large, and moved into the race
        // below it would be copied on every request.
        let forward = Box::pin(proxy.forward_written(
            &plain.method,
            &written,
            plain.bodiless,
            plain.cookie.as_deref(),
        ));
        let response = tokio::select! {
            response = forward => response,
            // The client left: the exchange is dropped, which takes the
            // request out of its upstream's count in flight.
            () = conn.gone() => {
                proxy.downstream_error();
                return None;
            }
        };
        proxy.answered(started.elapsed());
        let closing = conn.draining();
        let ending = answer::write(&mut conn, response, &mut out, closing).await;
        // In a request until its answer is written: a long download is
        // not cut off by the idle timeout.
        drop(in_request);
        match ending {
            Ending::KeepOpen => {}
            Ending::Close => return None,
            Ending::ClientLeft => {
                proxy.downstream_error();
                return None;
            }
        }
        for buffer in [&mut written, &mut out] {
            if buffer.capacity() > KEPT_CAPACITY {
                *buffer = Vec::with_capacity(1024);
            }
        }
    }
}
