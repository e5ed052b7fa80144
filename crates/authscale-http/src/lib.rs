//! The HTTP/1.1 serving loop and response builders shared by the node and
//! the proxy: one accept loop, one set of limits, one error shape.

pub mod body;
mod conn;
pub mod framing;
mod front;
pub mod heartbeat;
mod listen;
pub mod prometheus;
pub mod respond;
mod server;

pub use body::{BodyTimeout, TimedBody};
pub use conn::InRequest;
pub use front::Conn;
pub use listen::{LISTEN_BACKLOG, bind};
pub use server::{Handler, MAX_HEAD_BYTES, ServerLimits, serve, serve_with};
