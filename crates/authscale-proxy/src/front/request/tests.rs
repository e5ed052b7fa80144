use hyper::header::{HeaderMap, HeaderName, HeaderValue};

use super::*;

const CLIENT: &str = "127.0.0.9:5000";
const MAX_BODY: usize = 1024 * 1024;

fn parsed(raw: &str) -> (Parsed, String) {
    parsed_with(raw, None)
}

fn parsed_with(raw: &str, cookie: Option<&str>) -> (Parsed, String) {
    let mut out = Vec::new();
    let client = CLIENT.parse().expect("addr");
    let result = parse(raw.as_bytes(), client, MAX_BODY, cookie, &mut out);
    (result, String::from_utf8(out).expect("text"))
}

/// The header lines of a written head, as (lower-case name, value), in
/// order, the request line and blank line left out.
fn lines_of(written: &str) -> Vec<(String, String)> {
    let head = written.split("\r\n\r\n").next().expect("head");
    head.split("\r\n")
        .skip(1)
        .map(|line| {
            let (name, value) = line.split_once(": ").expect("name: value");
            (name.to_ascii_lowercase(), value.to_owned())
        })
        .collect()
}

/// What the hyper path sends upstream for the same request: its header
/// map after `forward_request`, and the length it frames the body with.
fn hyper_path_lines(raw: &str) -> Vec<(String, String)> {
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut storage);
    let head_len = match request.parse(raw.as_bytes()) {
        Ok(httparse::Status::Complete(len)) => len,
        other => panic!("not a request: {other:?}"),
    };
    let mut map = HeaderMap::new();
    for h in request.headers.iter() {
        map.append(
            HeaderName::from_bytes(h.name.as_bytes()).expect("name"),
            HeaderValue::from_bytes(h.value).expect("value"),
        );
    }
    let declared = map.remove(hyper::header::CONTENT_LENGTH);
    crate::headers::forward_request(&mut map, CLIENT.parse().expect("addr"));
    let mut lines: Vec<(String, String)> = map
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().expect("text").to_owned(),
            )
        })
        .collect();
    if declared.is_some() {
        let body = raw.len() - head_len;
        lines.push(("content-length".into(), body.to_string()));
    }
    lines
}

fn sorted(mut lines: Vec<(String, String)>) -> Vec<(String, String)> {
    // Stable: the values of one name keep their order.
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    lines
}

#[test]
fn a_plain_get_is_rewritten_with_the_forwarding_headers() {
    let raw = "GET /api/me?x=1 HTTP/1.1\r\nHost: app:8080\r\nAuthorization: Bearer abc\r\n\r\n";
    let (result, written) = parsed(raw);
    assert_eq!(
        result,
        Parsed::Plain(Plain {
            method: Method::GET,
            len: raw.len(),
            bodiless: true,
            cookie: None,
        })
    );
    assert_eq!(
        written,
        "GET /api/me?x=1 HTTP/1.1\r\nHost: app:8080\r\nAuthorization: Bearer abc\r\n\
         x-forwarded-for: 127.0.0.9\r\nx-forwarded-proto: http\r\nvia: 1.1 authscale\r\n\r\n"
    );
}

#[test]
fn the_front_sends_the_headers_the_hyper_path_sends() {
    for raw in [
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /x HTTP/1.1\r\nhost: a\r\nX-Forwarded-For: 10.0.0.1\r\nx-forwarded-for: , 10.0.0.2 \r\n\r\n",
        "POST /login HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 007\r\n\r\n{\"a\":1}",
        "DELETE /s HTTP/1.1\r\nHost: \r\nX-Forwarded-Proto: https\r\nForwarded: for=1.2.3.4\r\nX-Real-IP: 1.2.3.4\r\n\r\n",
        "PUT /p HTTP/1.1\r\nVia: 1.0 edge\r\nHost: a\r\nX-Forwarded-Host: evil\r\nFront-End-Https: on\r\nContent-Length: 0\r\n\r\n",
        "GET /c HTTP/1.1\r\nHost: a\r\nCookie: sid=1\r\nCookie: theme=dark\r\nX-Forwarded-Scheme: https\r\n\r\n",
    ] {
        let (result, written) = parsed(raw);
        assert!(matches!(result, Parsed::Plain(_)), "{raw:?}: {result:?}");
        assert_eq!(
            sorted(lines_of(&written)),
            sorted(hyper_path_lines(raw)),
            "{raw:?}"
        );
        // The body follows the head unchanged.
        let body = raw.split_once("\r\n\r\n").expect("head").1;
        assert!(written.ends_with(&format!("\r\n\r\n{body}")), "{written:?}");
    }
}

#[test]
fn a_body_in_the_buffer_goes_with_its_head_and_a_pipelined_request_stays() {
    let first = "POST /login HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
    let raw = format!("{first}GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let (result, written) = parsed(&raw);
    let Parsed::Plain(plain) = result else {
        panic!("{result:?}");
    };
    assert_eq!((plain.len, plain.bodiless), (first.len(), false));
    assert_eq!(plain.method, Method::POST);
    assert!(
        written.ends_with("content-length: 3\r\n\r\nabc"),
        "{written:?}"
    );
}

#[test]
fn the_balancing_cookie_is_read_when_asked_for() {
    let raw =
        "GET / HTTP/1.1\r\nHost: a\r\nCookie: theme=dark\r\nCookie: a=1; sid=abc; b=2\r\n\r\n";
    let (result, _) = parsed_with(raw, Some("sid"));
    let Parsed::Plain(plain) = result else {
        panic!("{result:?}");
    };
    assert_eq!(plain.cookie.as_deref(), Some("abc"));
    let Parsed::Plain(plain) = parsed(raw).0 else {
        panic!("plain");
    };
    assert_eq!(plain.cookie, None, "not asked for");
}

#[test]
fn incomplete_heads_wait_for_more() {
    for raw in ["", "GET / HTTP/1.1\r\nHost: a\r\n", "GET /api"] {
        assert_eq!(parsed(raw).0, Parsed::Partial, "{raw:?}");
    }
}

#[test]
fn everything_else_is_left_to_the_hyper_path() {
    let many: String = (0..98).map(|i| format!("x-h{i}: v\r\n")).collect();
    let long = "a".repeat(7 * 1024);
    let cases = [
        "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n".to_owned(),
        "CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n".into(),
        "TRACE / HTTP/1.1\r\nHost: a\r\n\r\n".into(),
        "GET / HTTP/1.0\r\nHost: a\r\n\r\n".into(),
        "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n".into(),
        "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n".into(),
        "GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n".into(),
        "GET /a{b} HTTP/1.1\r\nHost: a\r\n\r\n".into(),
        "GET / HTTP/1.1\r\n\r\n".into(),
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".into(),
        "GET / HTTP/1.1\r\nHost: a b\r\n\r\n".into(),
        "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n".into(),
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".into(),
        "GET / HTTP/1.1\r\nHost: a\r\nKeep-Alive: 5\r\n\r\n".into(),
        "GET / HTTP/1.1\r\nHost: a\r\nTE: trailers\r\n\r\n".into(),
        "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n".into(),
        "GET / HTTP/1.1\r\nHost: a\r\nProxy-Authorization: x\r\n\r\n".into(),
        "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx".into(),
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into(),
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx".into(),
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\nx".into(),
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab".into(),
        format!(
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        ),
        format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n"),
        format!("GET / HTTP/1.1\r\nHost: a\r\nX-Long: {long}\r\n\r\n"),
        "GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n".into(),
        "\u{0}\u{1} not a request\r\n\r\n".into(),
    ];
    for raw in cases {
        assert_eq!(parsed(&raw).0, Parsed::Other, "{raw:?}");
    }
    // Just inside the header-line limit: forwarded by the front.
    let fits: String = (0..96).map(|i| format!("x-h{i}: v\r\n")).collect();
    let raw = format!("GET / HTTP/1.1\r\nHost: a\r\n{fits}\r\n");
    assert!(matches!(parsed(&raw).0, Parsed::Plain(_)));
}

#[test]
fn the_header_kinds_follow_the_hyper_paths_lists() {
    use crate::headers::{CLIENT_CLAIMS, HOP_BY_HOP, X_FORWARDED_PROTO};
    // In any case: names compare without it.
    let upper = |name: &HeaderName| name.as_str().to_ascii_uppercase();
    for name in &HOP_BY_HOP {
        assert!(kind(name.as_str()) == Kind::Declined, "{name}");
        assert!(kind(&upper(name)) == Kind::Declined, "{name}");
    }
    for name in CLIENT_CLAIMS.iter().chain([&X_FORWARDED_PROTO]) {
        assert!(kind(name.as_str()) == Kind::Dropped, "{name}");
        assert!(kind(&upper(name)) == Kind::Dropped, "{name}");
    }
    assert!(kind("Expect") == Kind::Declined);
    assert!(kind("X-Forwarded-For") == Kind::ForwardedFor);
    assert!(kind("x-custom") == Kind::Kept);
}
