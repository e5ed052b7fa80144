//! The HTTP/1.1 serving loop and response builders shared by the node and
//! the proxy: one accept loop, one set of limits, one error shape.

pub mod prometheus;
pub mod respond;
mod server;

pub use server::{Handler, serve};
