//! An HTTPS service for the load generator's TLS tests: a certificate for
//! `127.0.0.1` and `localhost` signed by a CA made here, HTTP/1.1 or
//! HTTP/2 by ALPN (hyper's server), and a login that sets a cookie and
//! returns a token. It counts the requests it saw by protocol.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The cookie and token the service's login hands out.
pub const TLS_SESSION: &str = "sid=s3cr3t";
pub const TLS_TOKEN: &str = "t0k3n";

#[derive(Debug, Default)]
pub struct Seen {
    pub http1: AtomicU64,
    pub http2: AtomicU64,
    /// Requests to `/api/me` that carried the right credential.
    pub authorized: AtomicU64,
}

#[derive(Debug)]
pub struct TlsServer {
    addr: SocketAddr,
    dir: PathBuf,
    seen: Arc<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl TlsServer {
    /// Serves on a free loopback port (call inside a tokio runtime).
    pub async fn start() -> TlsServer {
        TlsServer::start_with(crate::redis::server_certificate()).await
    }

    /// The same with a self-signed certificate marked as a CA, as
    /// `openssl req -x509` makes one; [`TlsServer::ca_file`] is that
    /// certificate.
    pub async fn start_self_signed() -> TlsServer {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
                .expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("self-signed certificate");
        TlsServer::start_with((cert.pem(), cert.pem(), key.serialize_pem())).await
    }

    async fn start_with((ca_pem, cert_pem, key_pem): (String, String, String)) -> TlsServer {
        let dir = std::env::temp_dir().join(format!(
            "authscale-https-{}-{}",
            std::process::id(),
            crate::free_port()
        ));
        std::fs::create_dir_all(&dir).expect("TLS folder");
        std::fs::write(dir.join("ca.pem"), &ca_pem).expect("write the CA");
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .expect("server certificate");
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("server key");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server TLS config");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("bound address");
        let seen = Arc::new(Seen::default());
        let counters = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let seen = counters.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                    let service = hyper::service::service_fn(move |request| {
                        let seen = seen.clone();
                        async move { Ok::<_, Infallible>(answer(&seen, &request)) }
                    });
                    let io = TokioIo::new(tls);
                    if h2 {
                        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(io, service)
                            .await;
                    } else {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, service)
                            .await;
                    }
                });
            }
        });
        TlsServer {
            addr,
            dir,
            seen,
            task,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The CA that signed the server's certificate, as a PEM file.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub fn seen(&self) -> &Seen {
        &self.seen
    }
}

fn answer(seen: &Seen, request: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    match request.version() {
        Version::HTTP_2 => seen.http2.fetch_add(1, Relaxed),
        _ => seen.http1.fetch_add(1, Relaxed),
    };
    let header = |name: &str| {
        request
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let reply = |status: u16, body: &str| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_owned())))
            .expect("response")
    };
    match request.uri().path() {
        "/login" => {
            let mut response = reply(200, &format!(r#"{{"token":"{TLS_TOKEN}"}}"#));
            response.headers_mut().insert(
                "set-cookie",
                format!("{TLS_SESSION}; Path=/; Secure; HttpOnly")
                    .parse()
                    .expect("header value"),
            );
            response
        }
        "/api/me" => {
            // Anonymous callers are answered (a plain load needs no
            // login); a credential must be the right one.
            let (cookie, authorization) = (header("cookie"), header("authorization"));
            let session = cookie.split("; ").any(|c| c == TLS_SESSION);
            let bearer = authorization == format!("Bearer {TLS_TOKEN}");
            if session || bearer {
                seen.authorized.fetch_add(1, Relaxed);
                reply(200, r#"{"user":"u"}"#)
            } else if cookie.is_empty() && authorization.is_empty() {
                reply(200, r#"{"user":null}"#)
            } else {
                reply(401, r#"{"error":"unauthorized"}"#)
            }
        }
        "/logout" | "/readyz" => reply(200, "{}"),
        _ => reply(404, "{}"),
    }
}
