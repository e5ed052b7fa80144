//! The lab's HTTP calls against small local hyper servers: chunked answers,
//! headers both ways, readiness polling, and a server that never answers.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use super::{call, send, wait_ok};

/// What the test server answers: a status, headers, and the body in chunks.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    chunks: Vec<String>,
}

/// A hyper server on a free loopback port. Every body is streamed in
/// chunks of unknown total length, so HTTP/1.1 sends it chunked.
async fn server<F>(answer: F) -> SocketAddr
where
    F: Fn(http::request::Parts, String) -> Reply + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let answer = answer.clone();
            let service = service_fn(move |request: Request<Incoming>| {
                let answer = answer.clone();
                async move {
                    let (parts, body) = request.into_parts();
                    let body = body.collect().await.expect("request body").to_bytes();
                    let reply = answer(parts, String::from_utf8_lossy(&body).into_owned());
                    let body = Chunks(reply.chunks.into_iter().map(Bytes::from).collect());
                    let mut response = Response::builder().status(reply.status);
                    for (name, value) in reply.headers {
                        response = response.header(name, value);
                    }
                    Ok::<_, Infallible>(response.body(body).expect("response"))
                }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    addr
}

/// A body handed out one chunk per frame, its length not known up front.
struct Chunks(VecDeque<Bytes>);

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|chunk| Ok(Frame::data(chunk))))
    }
}

fn ok(chunks: &[&str]) -> Reply {
    Reply {
        status: 200,
        headers: Vec::new(),
        chunks: chunks.iter().map(|c| c.to_string()).collect(),
    }
}

#[tokio::test]
async fn a_chunked_answer_is_decoded() {
    let addr = server(|_, _| {
        ok(&[
            "# TYPE authscale_requests_total counter\n",
            "authscale_requests_total{route=\"/api/me\",status=\"200\"} ",
            "1234\n",
        ])
    })
    .await;
    let answer = send(addr, "GET", "/metrics", &[], "").await.expect("send");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("transfer-encoding"), Some("chunked"));
    assert_eq!(
        answer.body,
        "# TYPE authscale_requests_total counter\n\
         authscale_requests_total{route=\"/api/me\",status=\"200\"} 1234\n"
    );
}

#[tokio::test]
async fn the_request_reaches_the_server_and_headers_are_read_case_insensitively() {
    let addr = server(|parts, body| {
        let cookie = parts
            .headers
            .get("cookie")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none")
            .to_owned();
        Reply {
            status: 201,
            headers: vec![("Set-Cookie", "sid=abc; HttpOnly; Path=/".into())],
            chunks: vec![
                format!("{} {} ", parts.method, parts.uri),
                cookie,
                format!(" {body}"),
            ],
        }
    })
    .await;
    let answer = send(
        addr,
        "POST",
        "/login?x=1",
        &[("Cookie", "uid=7")],
        r#"{"user":"user1"}"#,
    )
    .await
    .expect("send");
    assert_eq!(answer.status, 201);
    assert_eq!(answer.body, r#"POST /login?x=1 uid=7 {"user":"user1"}"#);
    assert_eq!(
        answer.header("SET-COOKIE"),
        Some("sid=abc; HttpOnly; Path=/")
    );
    assert_eq!(answer.header("x-absent"), None);
    let (status, body) = call(addr, "PUT", "/upstreams", "[]").await.expect("call");
    assert_eq!((status, body.as_str()), (201, "PUT /upstreams none []"));
}

#[tokio::test]
async fn wait_ok_polls_until_the_answer_is_200() {
    let calls = Arc::new(AtomicU32::new(0));
    let seen = calls.clone();
    let addr = server(move |_, _| {
        if seen.fetch_add(1, Ordering::SeqCst) < 2 {
            Reply {
                status: 503,
                headers: Vec::new(),
                chunks: vec!["starting".into()],
            }
        } else {
            ok(&["ready"])
        }
    })
    .await;
    wait_ok(addr, "/readyz", Duration::from_secs(30))
        .await
        .expect("ready");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn wait_ok_gives_up_with_the_last_answer() {
    let addr = server(|_, _| Reply {
        status: 503,
        headers: Vec::new(),
        chunks: vec!["draining".into()],
    })
    .await;
    let error = wait_ok(addr, "/readyz", Duration::from_millis(200))
        .await
        .expect_err("never ready");
    let message = error.to_string();
    assert!(
        message.contains("not ready") && message.contains("503"),
        "{message}"
    );
}

#[tokio::test]
async fn nothing_listening_is_an_error_naming_the_call() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let error = call(addr, "GET", "/healthz", "")
        .await
        .expect_err("refused");
    assert!(
        format!("{error:#}").contains(&format!("GET http://{addr}/healthz")),
        "{error:#}"
    );
}

/// A server that accepts, reads, and never answers: the call ends with a
/// timeout (on tokio's paused clock, so the test does not wait for it).
#[tokio::test(start_paused = true)]
async fn a_server_that_never_answers_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let error = call(addr, "GET", "/metrics", "").await.expect_err("silent");
    assert!(error.to_string().contains("timed out"), "{error:#}");
}
