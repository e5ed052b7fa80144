//! A request body with a progress deadline: a client that keeps the server
//! waiting for its next bytes longer than the timeout gets an error, not a
//! connection held open for as long as it likes.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// Boxed like `http_body_util::Limited`'s errors, so both compose and a
/// reader tells them apart with `error.is::<BodyTimeout>()`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The client sent no body bytes for the whole timeout.
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
}

impl<B> TimedBody<B> {
    pub fn new(inner: B, timeout: Duration) -> TimedBody<B> {
        TimedBody {
            inner,
            timeout,
            deadline: None,
        }
    }

    /// Whether the last poll found the client had sent nothing yet.
    pub fn is_waiting(&self) -> bool {
        self.deadline.is_some()
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body + Unpin,
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
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let timeout = this.timeout;
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + timeout)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.deadline = None;
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
            // Two chunks 20 s apart: each gap is within the timeout.
            for _ in 0..2 {
                tokio::time::sleep(Duration::from_secs(20)).await;
                let _ = tx.send(Bytes::from_static(b"x")).await;
            }
            // Then silence, with the sender kept alive.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(tx);
        });
        for _ in 0..2 {
            let frame = body.frame().await.expect("a frame").expect("data");
            assert_eq!(frame.into_data().ok(), Some(Bytes::from_static(b"x")));
        }
        let error = body.frame().await.expect("an error").expect_err("timeout");
        assert!(error.is::<BodyTimeout>(), "{error}");
        assert_eq!(started.elapsed(), Duration::from_secs(70));
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
