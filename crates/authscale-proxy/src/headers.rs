//! Proxy header semantics (RFC 9110 §7.6): hop-by-hop headers stay on
//! their hop; forwarding headers record the client and this proxy.

use std::net::SocketAddr;

use hyper::Version;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::uri::Authority;

/// Headers that describe one connection, never the message end to end.
pub(crate) const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

pub(crate) const VIA: &str = "1.1 authscale";
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub(crate) const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Whether any header of `headers` is one of `names`. A request or answer
/// carries a handful of headers and rarely any of these: one pass over
/// them is cheaper than a lookup per name (the hot path of every request).
fn carries_any(headers: &HeaderMap, names: &[HeaderName]) -> bool {
    headers.keys().any(|key| names.contains(key))
}

/// Removes hop-by-hop headers, including those the `Connection` header
/// names. Framing is re-decided by hyper for the next hop.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if !carries_any(headers, &HOP_BY_HOP) {
        return;
    }
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .collect();
        for name in named {
            // `Connection: Host` would leave the next hop guessing the
            // target; the forwarding headers are this proxy's to set.
            if name == header::HOST || name == X_FORWARDED_FOR {
                continue;
            }
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Other headers by which a client could claim where it came from or how
/// it connected; only the proxy speaks about that, so a client's are
/// dropped (`X-Forwarded-For` is kept and extended, `X-Forwarded-Proto`
/// set by the proxy).
pub(crate) const CLIENT_CLAIMS: [HeaderName; 7] = [
    header::FORWARDED,
    HeaderName::from_static("x-forwarded-host"),
    HeaderName::from_static("x-forwarded-port"),
    HeaderName::from_static("x-forwarded-ssl"),
    HeaderName::from_static("x-forwarded-scheme"),
    HeaderName::from_static("x-real-ip"),
    HeaderName::from_static("front-end-https"),
];

/// The scheme clients reach this proxy by: it listens on plain HTTP.
/// `X-Forwarded-Proto` says this, whatever the client claimed.
const LISTENER_PROTO: &str = "http";

/// Checks the request's `Host` (RFC 9112 §3.2): exactly one for HTTP/1.1,
/// at most one before, and a valid authority (or empty). The reason when
/// the request must be refused with 400.
pub fn check_host(version: Version, headers: &HeaderMap) -> Result<(), &'static str> {
    let mut hosts = headers.get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => Err("more than one Host header"),
        (None, _) if version >= Version::HTTP_11 => Err("missing Host header"),
        (None, _) => Ok(()),
        (Some(host), None) => check_host_value(host.as_bytes()),
    }
}

/// Checks one `Host` value: a valid authority without user information,
/// or empty.
pub fn check_host_value(host: &[u8]) -> Result<(), &'static str> {
    if host.is_empty() {
        return Ok(());
    }
    match Authority::try_from(host) {
        Ok(authority) if authority.as_str().contains('@') => {
            Err("Host header must not carry user information")
        }
        Ok(_) => Ok(()),
        Err(_) => Err("Host header is not a valid host[:port]"),
    }
}

/// The value of cookie `name` in one `Cookie` header's value.
pub fn cookie_in(header: &str, name: &str) -> Option<String> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

/// The host a request names (RFC 9112 §3.2.2): the authority of an
/// absolute-form target wins over any `Host` header, which is then
/// rewritten to match; else the `Host` header. The reason when the
/// target's authority carries user information.
pub fn target_host(uri: &hyper::Uri, headers: &mut HeaderMap) -> Result<(), &'static str> {
    let Some(authority) = uri.authority() else {
        return Ok(());
    };
    if authority.as_str().contains('@') {
        return Err("the request target must not carry user information");
    }
    match HeaderValue::from_str(authority.as_str()) {
        Ok(value) => {
            headers.insert(header::HOST, value);
            Ok(())
        }
        Err(_) => Err("the request target's authority is not a valid host[:port]"),
    }
}

/// Prepares a request's headers for the upstream: hop-by-hop removed,
/// every `X-Forwarded-For` value kept in order with the client appended,
/// `X-Forwarded-Proto` set from the listener (never trusted from the
/// client), other client claims about its origin dropped, `Via` added.
/// `Host` is left as the client sent it.
pub fn forward_request(headers: &mut HeaderMap, client: SocketAddr) {
    strip_hop_by_hop(headers);
    if carries_any(headers, &CLIENT_CLAIMS) {
        for name in &CLIENT_CLAIMS {
            headers.remove(name);
        }
    }
    // One growth of the map for the three headers added below.
    headers.reserve(3);
    let mut forwarded_for = Vec::with_capacity(64);
    for value in headers.get_all(&X_FORWARDED_FOR) {
        let value = value.as_bytes().trim_ascii();
        if value.is_empty() {
            continue;
        }
        forwarded_for.extend_from_slice(value);
        forwarded_for.extend_from_slice(b", ");
    }
    write_ip(&mut forwarded_for, client.ip());
    if let Ok(value) = HeaderValue::from_bytes(&forwarded_for) {
        headers.insert(X_FORWARDED_FOR, value);
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(LISTENER_PROTO));
    append_via(headers);
}

/// An address as text, as `Display` writes it; IPv4 (every loopback
/// client) without the formatting machinery, a hot path.
pub(crate) fn write_ip(out: &mut Vec<u8>, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                if octet >= 100 {
                    out.push(b'0' + octet / 100);
                }
                if octet >= 10 {
                    out.push(b'0' + octet / 10 % 10);
                }
                out.push(b'0' + octet % 10);
            }
        }
        v6 => {
            use std::io::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

/// The header lines the upstream reads for a request whose headers
/// [`forward_request`] prepared: one a value, and those the HTTP client
/// adds on its way out — `Host` where the request has none (HTTP/1.0), and
/// `Transfer-Encoding: chunked` again for a body that came `chunked`
/// (dropped above as hop-by-hop).
pub fn upstream_lines(headers: &HeaderMap, chunked: bool) -> usize {
    headers.len() + usize::from(chunked) + usize::from(!headers.contains_key(header::HOST))
}

/// Prepares a response's headers for the client.
pub fn forward_response(headers: &mut HeaderMap) {
    strip_hop_by_hop(headers);
    append_via(headers);
}

fn append_via(headers: &mut HeaderMap) {
    headers.append(header::VIA, HeaderValue::from_static(VIA));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "connection",
            HeaderValue::from_static("keep-alive, X-Secret"),
        );
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("te", HeaderValue::from_static("trailers"));
        headers.insert("upgrade", HeaderValue::from_static("websocket"));
        headers.insert("proxy-authorization", HeaderValue::from_static("Basic x"));
        headers.insert("host", HeaderValue::from_static("example"));
        headers.insert("cookie", HeaderValue::from_static("sid=1"));
        forward_request(&mut headers, "127.0.0.9:5000".parse().expect("addr"));
        for gone in [
            "connection",
            "x-secret",
            "keep-alive",
            "te",
            "upgrade",
            "proxy-authorization",
        ] {
            assert!(!headers.contains_key(gone), "{gone}");
        }
        assert_eq!(headers["host"], "example");
        assert_eq!(headers["cookie"], "sid=1");
        assert_eq!(headers["x-forwarded-for"], "127.0.0.9");
        assert_eq!(headers["x-forwarded-proto"], "http");
        assert_eq!(headers["via"], "1.1 authscale");
    }

    #[test]
    fn an_absolute_form_target_names_the_host() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("h"));
        let uri: hyper::Uri = "http://abs.example:99/a".parse().expect("uri");
        assert!(target_host(&uri, &mut headers).is_ok());
        assert_eq!(headers[header::HOST], "abs.example:99");
        let origin: hyper::Uri = "/a".parse().expect("uri");
        assert!(target_host(&origin, &mut headers).is_ok());
        assert_eq!(headers[header::HOST], "abs.example:99");
        let with_user: hyper::Uri = "http://u@abs.example/a".parse().expect("uri");
        assert!(target_host(&with_user, &mut headers).is_err());
    }

    #[test]
    fn client_claims_of_origin_are_dropped_and_host_survives_connection() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "connection",
            HeaderValue::from_static("close, Host, X-Forwarded-For"),
        );
        headers.insert("host", HeaderValue::from_static("h"));
        headers.insert("x-forwarded-for", HeaderValue::from_static(""));
        for name in CLIENT_CLAIMS {
            headers.insert(name, HeaderValue::from_static("https"));
        }
        forward_request(&mut headers, "127.0.0.9:5000".parse().expect("addr"));
        assert_eq!(headers["host"], "h");
        assert_eq!(headers["x-forwarded-for"], "127.0.0.9");
        for name in CLIENT_CLAIMS {
            assert!(!headers.contains_key(&name), "{name}");
        }
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.199.255",
            "1.2.3.4",
            "::1",
            "::ffff:127.0.0.1",
        ] {
            let ip: std::net::IpAddr = ip.parse().expect("ip");
            let mut out = Vec::new();
            write_ip(&mut out, ip);
            assert_eq!(String::from_utf8(out).expect("utf-8"), ip.to_string());
        }
    }

    #[test]
    fn forwarded_for_is_extended_not_replaced() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        forward_request(&mut headers, "127.0.0.1:1".parse().expect("addr"));
        assert_eq!(headers["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
    }

    #[test]
    fn every_forwarded_for_is_kept_and_the_client_proto_is_ignored() {
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_static("10.0.0.2, 10.0.0.3"),
        );
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        forward_request(&mut headers, "127.0.0.1:1".parse().expect("addr"));
        assert_eq!(
            headers.get_all("x-forwarded-for").iter().count(),
            1,
            "one joined header"
        );
        assert_eq!(
            headers["x-forwarded-for"],
            "10.0.0.1, 10.0.0.2, 10.0.0.3, 127.0.0.1"
        );
        assert_eq!(headers["x-forwarded-proto"], "http");
    }

    #[test]
    fn host_must_be_single_and_valid() {
        let with = |hosts: &[&'static str]| {
            let mut headers = HeaderMap::new();
            for host in hosts {
                headers.append(header::HOST, HeaderValue::from_static(host));
            }
            headers
        };
        assert!(check_host(Version::HTTP_11, &with(&["app.example:80"])).is_ok());
        assert!(check_host(Version::HTTP_11, &with(&[""])).is_ok());
        assert!(check_host(Version::HTTP_10, &with(&[])).is_ok());
        assert!(check_host(Version::HTTP_11, &with(&[])).is_err());
        assert!(check_host(Version::HTTP_10, &with(&["a", "b"])).is_err());
        assert!(check_host(Version::HTTP_11, &with(&["a", "a"])).is_err());
        assert!(check_host(Version::HTTP_11, &with(&["a b"])).is_err());
        assert!(check_host(Version::HTTP_11, &with(&["user@a"])).is_err());
    }
}
