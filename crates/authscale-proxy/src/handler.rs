//! The proxy as the HTTP server sees it: a new connection goes to the
//! proxy's own front end (`front`), and the requests the front leaves to
//! hyper are forwarded by `forward`.

use std::net::SocketAddr;
use std::time::Instant;

use authscale_http::Conn;
use hyper::body::Incoming;
use hyper::{Request, Response};

use crate::client::ClientBody;
use crate::forward::Proxy;

impl authscale_http::Handler for Proxy {
    type Body = ClientBody;
    type BodyError = Box<dyn std::error::Error + Send + Sync>;

    async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<ClientBody> {
        let started = Instant::now();
        let response = self.forward(req, peer).await;
        self.answered(started.elapsed());
        response
    }

    fn connection_error(&self, error: &hyper::Error) {
        tracing::debug!(side = "downstream", %error, "client connection error");
        self.downstream_error();
    }

    async fn front(&self, conn: Conn, peer: SocketAddr) -> Option<Conn> {
        crate::front::serve(self, conn, peer).await
    }
}
