//! The client's request body on its way upstream: a progress deadline, a
//! size limit, and a record of how the client side failed, so that a broken
//! upload is answered 400/408/413 and never blamed on the upstream.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use authscale_http::body::{BoxError, FramePoll};
use authscale_http::framing::UnimplementedCoding;
use authscale_http::{BodyTimeout, TimedBody};
use bytes::Bytes;
use http_body_util::{LengthLimitError, Limited};
use hyper::StatusCode;
use hyper::body::{Body, Incoming, SizeHint};
use tokio::time::Instant;

/// How the client's side of a request went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClientFault {
    /// Not a valid request: bad framing, a missing or doubled Host.
    Malformed(String),
    /// The body stopped short: the client closed or reset mid-upload.
    Incomplete(String),
    /// No body bytes for the body timeout.
    Timeout(Duration),
    /// Declared or sent more than the body limit.
    TooLarge(usize),
    /// A request head that, with the proxy's own forwarding headers,
    /// would not fit the upstream's head limit (bytes, limit).
    HeadTooLarge(usize, usize),
    /// A request whose header lines, with the proxy's own forwarding
    /// headers, would pass the upstream's count (lines, limit).
    TooManyHeaders(usize, usize),
    /// A transfer coding the proxy does not implement.
    TransferCoding(UnimplementedCoding),
}

impl ClientFault {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ClientFault::Malformed(_) | ClientFault::Incomplete(_) => StatusCode::BAD_REQUEST,
            ClientFault::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ClientFault::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ClientFault::HeadTooLarge(..) | ClientFault::TooManyHeaders(..) => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            ClientFault::TransferCoding(_) => StatusCode::NOT_IMPLEMENTED,
        }
    }

    /// Labels of the downstream error counter, indexed by [`Self::index`].
    pub(crate) const KINDS: [&'static str; 7] = [
        "malformed",
        "incomplete_body",
        "body_timeout",
        "body_too_large",
        "head_too_large",
        "too_many_headers",
        "transfer_coding",
    ];

    pub(crate) fn index(&self) -> usize {
        match self {
            ClientFault::Malformed(_) => 0,
            ClientFault::Incomplete(_) => 1,
            ClientFault::Timeout(_) => 2,
            ClientFault::TooLarge(_) => 3,
            ClientFault::HeadTooLarge(..) => 4,
            ClientFault::TooManyHeaders(..) => 5,
            ClientFault::TransferCoding(_) => 6,
        }
    }

    /// The label of the downstream error counter.
    pub(crate) fn kind(&self) -> &'static str {
        ClientFault::KINDS[self.index()]
    }

    pub(crate) fn reason(&self) -> String {
        match self {
            ClientFault::Malformed(why) => why.clone(),
            ClientFault::Incomplete(why) => format!("request body incomplete: {why}"),
            ClientFault::Timeout(after) => format!("no request body bytes for {after:?}"),
            ClientFault::TooLarge(limit) => format!("request body over {limit} bytes"),
            ClientFault::HeadTooLarge(size, limit) => format!(
                "request head of {size} bytes: with the forwarding headers it would pass the upstream's {limit}-byte limit"
            ),
            ClientFault::TooManyHeaders(lines, limit) => format!(
                "{lines} header lines with the forwarding headers: over the upstream's limit of {limit}"
            ),
            ClientFault::TransferCoding(coding) => coding.to_string(),
        }
    }
}

/// What the forwarding side learns about an upload while it runs.
#[derive(Debug)]
pub(crate) struct UploadState {
    fault: OnceLock<ClientFault>,
    /// The last poll found the client had sent nothing yet.
    waiting_on_client: AtomicBool,
    /// Milliseconds since `epoch` of the last body frame (or the start).
    progress_ms: AtomicU64,
    epoch: Instant,
}

impl UploadState {
    /// Shared with the body it watches (`Upload`).
    pub(crate) fn new() -> Arc<UploadState> {
        Arc::new(UploadState::started())
    }

    /// For a request whose body is already in memory: nothing to share,
    /// so no allocation on the request's path.
    pub(crate) fn started() -> UploadState {
        UploadState {
            fault: OnceLock::new(),
            waiting_on_client: AtomicBool::new(false),
            progress_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// The client's fault, if its body failed.
    pub(crate) fn fault(&self) -> Option<&ClientFault> {
        self.fault.get()
    }

    fn progress(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.progress_ms.store(ms, Relaxed);
    }

    /// Resolves once the upstream has kept the request waiting `timeout`
    /// since the last progress. Time spent waiting on the client's body
    /// does not count: that is the body timeout's business.
    pub(crate) async fn upstream_overdue(&self, timeout: Duration) {
        loop {
            let now = Instant::now();
            let deadline = if self.waiting_on_client.load(Relaxed) {
                now + timeout
            } else {
                self.epoch + Duration::from_millis(self.progress_ms.load(Relaxed)) + timeout
            };
            if deadline <= now {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// The client's body as sent upstream.
#[derive(Debug)]
pub struct Upload {
    inner: Limited<TimedBody<Incoming>>,
    max_bytes: usize,
    state: Arc<UploadState>,
}

impl Upload {
    pub(crate) fn new(
        body: Incoming,
        timeout: Duration,
        max_bytes: usize,
        state: Arc<UploadState>,
    ) -> Upload {
        Upload {
            inner: Limited::new(TimedBody::new(body, timeout), max_bytes),
            max_bytes,
            state,
        }
    }
}

impl Body for Upload {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> FramePoll {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        let state = &this.state;
        match &polled {
            Poll::Pending => state.waiting_on_client.store(true, Relaxed),
            Poll::Ready(result) => {
                state.waiting_on_client.store(false, Relaxed);
                state.progress();
                if let Some(Err(error)) = result {
                    let _ = state.fault.set(classify(error, this.max_bytes));
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn classify(error: &BoxError, max_bytes: usize) -> ClientFault {
    if error.is::<LengthLimitError>() {
        return ClientFault::TooLarge(max_bytes);
    }
    if let Some(BodyTimeout(after)) = error.downcast_ref::<BodyTimeout>() {
        return ClientFault::Timeout(*after);
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error.as_ref());
    while let Some(e) = cause {
        let framing = e
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_parse)
            || e.downcast_ref::<std::io::Error>().is_some_and(|io| {
                matches!(
                    io.kind(),
                    std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData
                )
            });
        if framing {
            return ClientFault::Malformed(format!("malformed request body: {e}"));
        }
        cause = e.source();
    }
    ClientFault::Incomplete(error.to_string())
}
