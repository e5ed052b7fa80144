//! How the generator's connections reach the target: plain TCP, or TLS
//! (rustls, the workspace's one crypto backend) with the certificate
//! checked against the system's roots or a `--ca-file`, and ALPN offering
//! HTTP/2 when asked. The TLS client configuration is built once per run.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::{LoadError, Target, Tls};

/// The application protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Http1,
    Http2,
}

/// Opens connections to one target.
pub(crate) struct Transport {
    addr: SocketAddr,
    /// `host[:port]`, HTTP/2's `:authority`.
    authority: String,
    secure: Option<Secure>,
}

struct Secure {
    connector: TlsConnector,
    name: ServerName<'static>,
}

impl Transport {
    pub fn new(target: &Target) -> Result<Transport, LoadError> {
        let secure = target.tls.as_ref().map(secure).transpose()?;
        Ok(Transport {
            addr: target.addr,
            authority: target.host.clone(),
            secure,
        })
    }

    pub fn authority(&self) -> &str {
        &self.authority
    }

    pub async fn connect(&self) -> io::Result<(Stream, Protocol)> {
        let tcp = TcpStream::connect(self.addr).await?;
        let _ = tcp.set_nodelay(true);
        let Some(secure) = &self.secure else {
            return Ok((Stream::Plain(tcp), Protocol::Http1));
        };
        let tls = secure.connector.connect(secure.name.clone(), tcp).await?;
        let protocol = match tls.get_ref().1.alpn_protocol() {
            Some(b"h2") => Protocol::Http2,
            _ => Protocol::Http1,
        };
        Ok((Stream::Tls(Box::new(tls)), protocol))
    }

    /// One handshake before the run, so that a certificate the generator
    /// does not trust is an error that says what to do, not a run of
    /// connection errors. A target that does not answer at all is left to
    /// the run (the lab starts loads before every instance is up).
    /// The protocol the server picked, for an `https://` target.
    pub async fn check(
        &self,
        target: &Target,
        within: Duration,
    ) -> Result<Option<Protocol>, LoadError> {
        let Some(secure) = &self.secure else {
            return Ok(None);
        };
        let Ok(tcp) = TcpStream::connect(self.addr).await else {
            return Ok(None);
        };
        let handshake = secure.connector.connect(secure.name.clone(), tcp);
        match tokio::time::timeout(within, handshake).await {
            Ok(Ok(tls)) => Ok(Some(match tls.get_ref().1.alpn_protocol() {
                Some(b"h2") => Protocol::Http2,
                _ => Protocol::Http1,
            })),
            Ok(Err(e)) => Err(handshake_error(target, &e)),
            Err(_) => Err(LoadError::Tls(format!(
                "{}: no TLS handshake within {within:?} (--timeout; is it serving https on this port?)",
                target.url
            ))),
        }
    }
}

fn handshake_error(target: &Target, e: &io::Error) -> LoadError {
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let trusted_by = match target.tls.as_ref().and_then(|t| t.ca_file.as_ref()) {
        Some(file) => format!("the CA in --ca-file {}", file.display()),
        None => "the system's roots".to_owned(),
    };
    let unknown_issuer = |why: &rustls::CertificateError| {
        matches!(
            why,
            rustls::CertificateError::UnknownIssuer
                | rustls::CertificateError::BadSignature
                | rustls::CertificateError::Other(_)
        )
    };
    LoadError::Tls(match tls {
        Some(rustls::Error::InvalidCertificate(why)) if unknown_issuer(why) => format!(
            "{}: the server's certificate is not trusted ({why}; checked against {trusted_by}). \
             Pass --ca-file FILE with the PEM of the CA that signed it, or of the \
             certificate itself when it is self-signed \
             (or --insecure for a test service, never for a measurement you publish)",
            target.url
        ),
        Some(rustls::Error::InvalidCertificate(why)) => {
            format!("{}: the server's certificate is refused: {why}", target.url)
        }
        Some(rustls::Error::InvalidMessage(why)) => format!(
            "{}: TLS handshake failed: the server sent something that is not TLS ({why:?}); is it serving https on this port?",
            target.url
        ),
        Some(other) => format!("{}: TLS handshake failed: {other}", target.url),
        None => format!(
            "{}: TLS handshake failed: {e} (is it serving https on this port?)",
            target.url
        ),
    })
}

fn secure(tls: &Tls) -> Result<Secure, LoadError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| LoadError::Tls(format!("TLS setup: {e}")))?;
    // --insecure: no chain to check against; else the roots (or the CA
    // file) and the certificates the file gave.
    let (chain, given) = if tls.insecure {
        (None, Vec::new())
    } else {
        let (store, given) = roots(tls)?;
        let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(store),
            provider.clone(),
        )
        .build()
        .map_err(|e| LoadError::Tls(format!("TLS setup: {e}")))?;
        (Some(webpki), given)
    };
    let mut config = builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Verifier {
            chain,
            given,
            provider,
        }))
        .with_no_client_auth();
    config.alpn_protocols = if tls.http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    let name = ServerName::try_from(tls.server_name.clone()).map_err(|e| {
        LoadError::Invalid(format!(
            "{:?} cannot name a TLS server: {e}",
            tls.server_name
        ))
    })?;
    Ok(Secure {
        connector: TlsConnector::from(Arc::new(config)),
        name,
    })
}

/// The CA file's certificates, or the system's roots; and the
/// certificates the file gave (a self-signed server certificate is
/// trusted as itself, see [`Verifier`]).
fn roots(tls: &Tls) -> Result<(rustls::RootCertStore, Vec<CertificateDer<'static>>), LoadError> {
    let mut given = Vec::new();
    let mut store = rustls::RootCertStore::empty();
    match &tls.ca_file {
        Some(file) => {
            let shown = file.display();
            let certs = CertificateDer::pem_file_iter(file)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| LoadError::Invalid(format!("--ca-file {shown}: {e}")))?;
            if certs.is_empty() {
                return Err(LoadError::Invalid(format!(
                    "--ca-file {shown}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it"
                )));
            }
            for cert in certs {
                store.add(cert.clone()).map_err(|e| {
                    LoadError::Invalid(format!("--ca-file {shown}: unusable certificate: {e}"))
                })?;
                given.push(cert);
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
        }
    }
    Ok((store, given))
}

/// The server's certificate: the usual chain check, and one exception —
/// a certificate that is byte for byte one given in `--ca-file` is
/// trusted as itself (a self-signed certificate made with `openssl req
/// -x509` is marked as a CA, which the chain check refuses as a
/// server's), provided it names the server; its dates are not checked:
/// the user pinned it. With `--insecure` (no chain) any certificate is
/// accepted. The handshake's signatures are checked either way.
#[derive(Debug)]
struct Verifier {
    chain: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    given: Vec<CertificateDer<'static>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(rustls::client::danger::ServerCertVerified::assertion());
        };
        let refused = match chain.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => return Ok(verified),
            Err(refused) => refused,
        };
        if !self
            .given
            .iter()
            .any(|cert| cert.as_ref() == end_entity.as_ref())
        {
            return Err(refused);
        }
        let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_name(&parsed, server_name)?;
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A connection's byte stream, plain or TLS.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
