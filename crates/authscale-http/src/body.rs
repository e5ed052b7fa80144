//! A request body with a progress deadline: a client that keeps the server
//! waiting for its next bytes longer than the timeout gets an error, not a
//! connection held open for as long as it likes; and one that drips its
//! body (a byte now and then, each within the timeout) runs out of a
//! budget of waiting time that grows only with the bytes it sends.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Buf;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// Boxed like `http_body_util::Limited`'s errors, so both compose and a
/// reader tells them apart with `error.is::<BodyTimeout>()`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What polling a body of `Bytes` with boxed errors gives
/// (`Body::poll_frame`'s return type for the proxy's bodies).
pub type FramePoll = std::task::Poll<Option<Result<Frame<bytes::Bytes>, BoxError>>>;

/// Waiting on the client used up its budget: the timeout, plus a second
/// per `MIN_BYTES_PER_SECOND` bytes it sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no request body bytes for {0:?}")]
pub struct BodyTimeout(pub Duration);

/// Wraps a body so that waiting on it for `timeout` without a frame is an
/// error. Only time spent waiting on the client counts: while the reader
/// does not poll (a slow upstream applying back-pressure) no clock runs.
#[derive(Debug)]
pub struct TimedBody<B> {
    inner: B,
    timeout: Duration,
    /// Armed when a poll finds no data, disarmed when data comes.
    deadline: Option<Pin<Box<Sleep>>>,
    armed_at: Option<Instant>,
    /// Time spent waiting on the client so far, and the bytes it sent.
    waited: Duration,
    received: u64,
}

/// The slowest sustained upload accepted: waiting on the client may total
/// the timeout plus one second per this many bytes received. An honest
/// client on a poor mobile link sends far more; a drip of a byte a second
/// is cut after about one timeout.
pub const MIN_BYTES_PER_SECOND: u64 = 1024;

impl<B> TimedBody<B> {
    pub fn new(inner: B, timeout: Duration) -> TimedBody<B> {
        TimedBody {
            inner,
            timeout,
            deadline: None,
            armed_at: None,
            waited: Duration::ZERO,
            received: 0,
        }
    }

    /// How long the client may still keep the reader waiting.
    fn budget_left(&self) -> Duration {
        let earned = Duration::from_secs_f64(self.received as f64 / MIN_BYTES_PER_SECOND as f64);
        (self.timeout + earned)
            .saturating_sub(self.waited)
            .min(self.timeout)
    }

    /// Whether the last poll found the client had sent nothing yet.
    pub fn is_waiting(&self) -> bool {
        self.deadline.is_some()
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body + Unpin,
    B::Data: Buf,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, BoxError>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.deadline = None;
            if let Some(armed_at) = this.armed_at.take() {
                this.waited += armed_at.elapsed();
            }
            if let Some(Ok(data)) = frame.as_ref().map(|f| f.as_ref().map(Frame::data_ref)) {
                this.received += data.map_or(0, |d| d.remaining() as u64);
            }
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let timeout = this.timeout;
        let left = this.budget_left();
        if this.deadline.is_none() {
            this.armed_at = Some(Instant::now());
        }
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + left)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.deadline = None;
                this.armed_at = None;
                Poll::Ready(Some(Err(Box::new(BodyTimeout(timeout)))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use tokio::sync::mpsc;

    /// A body fed chunk by chunk from the test.
    struct Channel(mpsc::Receiver<Bytes>);

    impl Body for Channel {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            self.0
                .poll_recv(cx)
                .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_times_out_and_progress_resets_the_clock() {
        let (tx, rx) = mpsc::channel(4);
        let mut body = TimedBody::new(Channel(rx), Duration::from_secs(30));
        let started = Instant::now();
        let feeder = tokio::spawn(async move {
            // Two 32 KiB chunks 20 s apart: each gap is within the
            // timeout, and each chunk earns more waiting than it used.
            for _ in 0..2 {
                tokio::time::sleep(Duration::from_secs(20)).await;
                let _ = tx.send(Bytes::from(vec![b'x'; 32 * 1024])).await;
            }
            // Then silence, with the sender kept alive.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(tx);
        });
        for _ in 0..2 {
            let frame = body.frame().await.expect("a frame").expect("data");
            assert_eq!(frame.into_data().map(|d| d.len()).ok(), Some(32 * 1024));
        }
        let error = body.frame().await.expect("an error").expect_err("timeout");
        assert!(error.is::<BodyTimeout>(), "{error}");
        assert_eq!(started.elapsed(), Duration::from_secs(70));
        feeder.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_dripped_body_runs_out_of_waiting_time() {
        let (tx, rx) = mpsc::channel(4);
        let mut body = TimedBody::new(Channel(rx), Duration::from_secs(2));
        let started = Instant::now();
        // One byte a second: every gap is within the 2 s timeout.
        let feeder = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if tx.send(Bytes::from_static(b"x")).await.is_err() {
                    return;
                }
            }
        });
        let mut bytes = 0;
        let error = loop {
            match body.frame().await.expect("a frame") {
                Ok(_) => bytes += 1,
                Err(e) => break e,
            }
        };
        assert!(error.is::<BodyTimeout>(), "{error}");
        // Cut once the waiting passes the timeout plus what the bytes earned.
        assert!(bytes <= 3, "{bytes} bytes before the cut");
        assert!(
            started.elapsed() <= Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        feeder.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn time_not_spent_polling_does_not_count() {
        let (tx, rx) = mpsc::channel(4);
        let mut body = TimedBody::new(Channel(rx), Duration::from_secs(1));
        tx.send(Bytes::from_static(b"a")).await.expect("send");
        // The reader is busy elsewhere for a minute (back-pressure).
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(body.frame().await.expect("frame").is_ok());
        tx.send(Bytes::from_static(b"b")).await.expect("send");
        assert!(body.frame().await.expect("frame").is_ok());
    }
}
