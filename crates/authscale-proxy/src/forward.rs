//! Forwarding one request: check it, pick an upstream, rewrite headers,
//! send over the upstream's keep-alive pool, stream the answer back; on a
//! failure before any response, retry an idempotent body-less request once
//! elsewhere.
//!
//! Every failure is classified by side (as pingora does): the client's
//! (a bad head, a broken, stalled or oversized body) is answered 400, 408
//! or 413 and never counts against an upstream; only the upstream's own
//! (refused connection, reset or garbage before a response, timeout) marks
//! it down or answers 502/503/504.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use authscale_http::{framing, respond};
use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::{Body as _, Incoming};
use hyper::header::{self, HeaderMap};
use hyper::{Method, Request, Response, StatusCode};

use crate::client::{self, ClientBody, Head, Limits, Outgoing};
use crate::metrics::{LocalAnswer, ProxyMetrics};
use crate::upload::{ClientFault, Upload, UploadState};
use crate::upstreams::{FailureKind, Upstream, Upstreams};
use crate::{Policy, ProxyConfig};

/// The reverse proxy.
#[derive(Debug)]
pub struct Proxy {
    upstreams: Arc<Upstreams>,
    config: ProxyConfig,
    /// `Policy as u8`: changeable at run time through the admin endpoint.
    policy: std::sync::atomic::AtomicU8,
    metrics: ProxyMetrics,
}

/// Which side a failed forward is to blame on.
enum Failure {
    Upstream(FailureKind),
    Client(ClientFault),
}

/// A request ready to go upstream: its body read whole (none, or a small
/// one), or a body that streams from the client as it is sent.
enum Prepared {
    Whole(hyper::http::request::Parts, Bytes),
    Streamed(Request<Upload>),
}

impl Proxy {
    pub fn new(upstreams: Arc<Upstreams>, config: ProxyConfig) -> Proxy {
        let policy = std::sync::atomic::AtomicU8::new(crate::balance::index_of(config.policy));
        Proxy {
            upstreams,
            config,
            policy,
            metrics: ProxyMetrics::default(),
        }
    }

    pub fn upstreams(&self) -> &Arc<Upstreams> {
        &self.upstreams
    }

    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }

    /// The upstream side's connect timeout and pool limit, shared with the
    /// active health checks.
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            connect_timeout: self.config.connect_timeout,
            max_idle: self.config.upstream_idle_timeout,
        }
    }

    /// The balancing policy in force.
    pub fn policy(&self) -> Policy {
        crate::balance::from_index(self.policy.load(Relaxed))
    }

    /// Changes the balancing policy for the requests that follow.
    pub fn set_policy(&self, policy: Policy) {
        self.policy.store(crate::balance::index_of(policy), Relaxed);
    }

    /// A request answered in `elapsed` (to its answer's head).
    pub(crate) fn answered(&self, elapsed: std::time::Duration) {
        self.metrics.latency(elapsed);
    }

    /// Counts a client connection that ended with an error: a head cut
    /// off, a reset, a deadline passed, a client gone mid-answer.
    pub(crate) fn downstream_error(&self) {
        self.metrics.downstream_error();
    }

    pub fn render_metrics(&self) -> String {
        self.metrics.render(&self.upstreams)
    }

    /// One request through the proxy's phases: admit it (or refuse it
    /// with the reason), pick an upstream, prepare its body, send it (with
    /// one retry where that is safe), and map a failure to an answer.
    pub(crate) async fn forward(
        &self,
        mut req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<ClientBody> {
        if let Err(fault) = self.admit(&mut req, peer) {
            return self.refuse(&fault);
        }
        let set = self.upstreams.snapshot();
        let policy = self.policy();
        let cookie = match policy {
            Policy::CookieHash => cookie_value(req.headers(), &self.config.cookie_name),
            _ => None,
        };
        let Some(first) =
            crate::balance::pick(policy, &self.upstreams, &set, cookie.as_deref(), None)
        else {
            return self.no_healthy_upstream();
        };
        let upload = UploadState::new();
        let (parts, body) = match self.prepare_body(req, &upload).await {
            Ok(Prepared::Whole(parts, body)) => (parts, body),
            Ok(Prepared::Streamed(req)) => {
                let sent = self
                    .attempt(&first, &upload, async {
                        client::exchange_streamed(&first, req, self.limits())
                            .await
                            .map(|response| response.map(ClientBody::Streamed))
                    })
                    .await;
                return match sent {
                    Ok(response) => response,
                    Err(Failure::Client(fault)) => self.refuse(&fault),
                    Err(Failure::Upstream(kind)) => self.answer_failure(kind),
                };
            }
            Err(fault) => return self.refuse(&fault),
        };
        let outgoing = Outgoing {
            method: &parts.method,
            head: Head::Parts {
                target: parts.uri.path_and_query().map_or("/", |p| p.as_str()),
                headers: &parts.headers,
            },
            body: &body,
        };
        self.relay(&set, policy, first, &outgoing, &upload).await
    }

    /// A request the front read and rewrote itself (see `front`): already
    /// admitted, its head written for the upstream with its body after it
    /// (`bodiless` when it has none). `cookie` is the balancing cookie's
    /// value, when the policy uses one.
    pub(crate) async fn forward_written(
        &self,
        method: &Method,
        written: &[u8],
        bodiless: bool,
        cookie: Option<&str>,
    ) -> Response<ClientBody> {
        let set = self.upstreams.snapshot();
        let policy = self.policy();
        let Some(first) = crate::balance::pick(policy, &self.upstreams, &set, cookie, None) else {
            return self.no_healthy_upstream();
        };
        let outgoing = Outgoing {
            method,
            head: Head::Written { written, bodiless },
            body: &Bytes::new(),
        };
        self.relay(&set, policy, first, &outgoing, &UploadState::started())
            .await
    }

    /// Sends a request whose body is in memory to `first`; on a failure
    /// before any response, once more elsewhere where that is safe; maps a
    /// failure to an answer.
    async fn relay(
        &self,
        set: &[Arc<Upstream>],
        policy: Policy,
        first: Arc<Upstream>,
        outgoing: &Outgoing<'_>,
        upload: &UploadState,
    ) -> Response<ClientBody> {
        let failure = match self.send(&first, outgoing, upload).await {
            Ok(response) => return response,
            Err(Failure::Client(fault)) => return self.refuse(&fault),
            Err(Failure::Upstream(kind)) => kind,
        };
        // One retry, on another upstream, of a request that never reached
        // its first one's application and can be sent again unchanged: a
        // GET or HEAD without a body.
        let replayable =
            matches!(*outgoing.method, Method::GET | Method::HEAD) && outgoing.bodiless();
        let retry = (replayable
            && matches!(failure, FailureKind::Connect | FailureKind::Transport))
        .then(|| crate::balance::pick(policy, &self.upstreams, set, None, Some(&first)))
        .flatten();
        let failure = match retry {
            Some(next) => {
                self.metrics.retry();
                match self.send(&next, outgoing, &UploadState::started()).await {
                    Ok(response) => return response,
                    Err(Failure::Client(fault)) => return self.refuse(&fault),
                    Err(Failure::Upstream(kind)) => kind,
                }
            }
            None => failure,
        };
        self.answer_failure(failure)
    }

    /// The checks a request passes before it goes upstream, in order, and
    /// the forwarding headers it then carries; the first refusal's reason.
    fn admit(&self, req: &mut Request<Incoming>, peer: SocketAddr) -> Result<(), ClientFault> {
        crate::headers::check_host(req.version(), req.headers())
            .map_err(|reason| ClientFault::Malformed(reason.into()))?;
        // The upstreams read heads of at most 8 KiB (as this proxy does):
        // a head near that, plus X-Forwarded-For, -Proto and Via, would be
        // cut off by the upstream mid-request, a failure the upstream
        // would be blamed for. Refused here, with the reason.
        let head = head_size(req);
        if head > FORWARDABLE_HEAD {
            return Err(ClientFault::HeadTooLarge(head, FORWARDABLE_HEAD));
        }
        let uri = req.uri().clone();
        crate::headers::target_host(&uri, req.headers_mut())
            .map_err(|reason| ClientFault::Malformed(reason.into()))?;
        if *req.method() == Method::CONNECT {
            return Err(ClientFault::Malformed(
                "CONNECT: this proxy does not open tunnels".into(),
            ));
        }
        // Both framings at once is the shape of request smuggling (RFC
        // 9112 §6.3): refused rather than re-framed.
        if req.headers().contains_key(header::TRANSFER_ENCODING)
            && req.headers().contains_key(header::CONTENT_LENGTH)
        {
            return Err(ClientFault::Malformed(
                "both Transfer-Encoding and Content-Length".into(),
            ));
        }
        if let Some(coding) = framing::unimplemented_transfer_coding(req.headers()) {
            return Err(ClientFault::TransferCoding(coding));
        }
        if declared_length(req.headers()).is_some_and(|n| n > self.config.max_body as u64) {
            return Err(ClientFault::TooLarge(self.config.max_body));
        }
        // The upstreams read at most MAX_HEADERS header lines, as this
        // proxy does: a request near that, plus the forwarding headers,
        // would draw the upstream's 431 with no reason given. Counted as
        // it will be forwarded, and refused here, with the reason.
        let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
        crate::headers::forward_request(req.headers_mut(), peer);
        let lines = crate::headers::upstream_lines(req.headers(), chunked);
        if lines > framing::MAX_HEADERS {
            return Err(ClientFault::TooManyHeaders(lines, framing::MAX_HEADERS));
        }
        Ok(())
    }

    /// The body as it goes upstream. A small body is read whole first:
    /// sent in one piece, it is in the upstream's socket before the
    /// upstream can answer early (a 413 on its own limit) and close, so
    /// that answer reaches the client instead of a torn connection.
    /// Larger bodies stream.
    async fn prepare_body(
        &self,
        req: Request<Incoming>,
        upload: &Arc<UploadState>,
    ) -> Result<Prepared, ClientFault> {
        let (timeout, max) = (self.config.body_timeout, self.config.max_body);
        let (parts, body) = req.into_parts();
        if body.is_end_stream() {
            return Ok(Prepared::Whole(parts, Bytes::new()));
        }
        if declared_length(&parts.headers).is_none_or(|n| n > BUFFERED_BODY) {
            let body = Upload::new(body, timeout, max, upload.clone());
            return Ok(Prepared::Streamed(Request::from_parts(parts, body)));
        }
        match Upload::new(body, timeout, max, upload.clone())
            .collect()
            .await
        {
            Ok(collected) => Ok(Prepared::Whole(parts, collected.to_bytes())),
            Err(e) => Err(upload
                .fault()
                .cloned()
                .unwrap_or_else(|| ClientFault::Incomplete(e.to_string()))),
        }
    }

    /// The answer when the balancer has no upstream to pick.
    fn no_healthy_upstream(&self) -> Response<ClientBody> {
        self.local(
            LocalAnswer::NoUpstream,
            StatusCode::SERVICE_UNAVAILABLE,
            "no healthy upstream",
        )
    }

    /// What the client is told when the upstream side failed: one table.
    fn answer_failure(&self, failure: FailureKind) -> Response<ClientBody> {
        match failure {
            FailureKind::Timeout => self.local(
                LocalAnswer::GatewayTimeout,
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
            ),
            FailureKind::Connect => self.local(
                LocalAnswer::NoUpstream,
                StatusCode::SERVICE_UNAVAILABLE,
                "upstream_unreachable",
            ),
            FailureKind::Transport | FailureKind::BadResponse | FailureKind::ClosedIdle => self
                .local(
                    LocalAnswer::BadGateway,
                    StatusCode::BAD_GATEWAY,
                    failure.as_str(),
                ),
        }
    }

    /// Sends a request whose body is in memory to `upstream`.
    async fn send(
        &self,
        upstream: &Arc<Upstream>,
        outgoing: &Outgoing<'_>,
        upload: &UploadState,
    ) -> Result<Response<ClientBody>, Failure> {
        self.attempt(upstream, upload, async {
            client::exchange(upstream, *outgoing, self.limits())
                .await
                .map(|response| response.map(ClientBody::Relayed))
        })
        .await
    }

    /// One exchange with `upstream`, bounded by the upstream timeout;
    /// classifies and records any failure. An answer the upstream gives
    /// before it has read the whole body (an early 413) is passed on like
    /// any other.
    async fn attempt(
        &self,
        upstream: &Upstream,
        upload: &UploadState,
        exchange: impl Future<Output = Result<Response<ClientBody>, FailureKind>>,
    ) -> Result<Response<ClientBody>, Failure> {
        upstream.requests.fetch_add(1, Relaxed);
        let in_flight = upstream.enter();
        let result = tokio::select! {
            result = exchange => result,
            () = upload.upstream_overdue(self.config.upstream_timeout) => Err(FailureKind::Timeout),
        };
        drop(in_flight);
        let kind = match result {
            Ok(mut response) => {
                crate::headers::forward_response(response.headers_mut());
                return Ok(response);
            }
            Err(kind) => kind,
        };
        // The client's body failing makes the upstream exchange fail too:
        // that is the client's doing, whatever error the exchange reports.
        if let Some(fault) = upload.fault() {
            return Err(Failure::Client(fault.clone()));
        }
        upstream.count_failure(kind);
        if matches!(kind, FailureKind::Connect | FailureKind::Transport) {
            self.upstreams.mark_down(upstream, self.config.cooldown);
        }
        tracing::warn!(side = "upstream", upstream = %upstream.addr, kind = kind.as_str(), "forward failed");
        Err(Failure::Upstream(kind))
    }

    /// Answers a client's fault itself, and closes the connection: after a
    /// broken body its framing cannot be trusted.
    fn refuse(&self, fault: &ClientFault) -> Response<ClientBody> {
        tracing::debug!(side = "downstream", kind = fault.kind(), reason = %fault.reason(), "request refused");
        self.metrics.client_fault(fault);
        let mut response = respond::error(fault.status(), &fault.reason()).map(ClientBody::Local);
        crate::headers::forward_response(response.headers_mut());
        response.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
        response
    }

    fn local(&self, answer: LocalAnswer, status: StatusCode, reason: &str) -> Response<ClientBody> {
        self.metrics.local_answer(answer);
        let mut response = respond::error(status, reason).map(ClientBody::Local);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        crate::headers::forward_response(response.headers_mut());
        response
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| crate::headers::cookie_in(h, name))
}

/// Bodies up to this many bytes (by Content-Length) are read whole before
/// they are forwarded.
const BUFFERED_BODY: u64 = 256 * 1024;

/// The largest client head forwarded: the upstreams' 8 KiB limit less room
/// for the forwarding headers this proxy adds.
pub(crate) const FORWARDABLE_HEAD: usize = 7 * 1024;

/// A request head's size as it would be written: request line and headers.
fn head_size<B>(req: &Request<B>) -> usize {
    // Measured from the parts, without writing the URI out (a hot path).
    let uri = req.uri();
    let target = uri.scheme_str().map_or(0, |s| s.len() + 3)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(1, |p| p.as_str().len());
    let line = req.method().as_str().len() + target + 12;
    line + req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum::<usize>()
}
