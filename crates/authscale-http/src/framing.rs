//! What both servers accept of a request's framing beyond what hyper
//! checks: how many header lines, and which transfer codings.

use hyper::header::{HeaderMap, TRANSFER_ENCODING};

/// Header lines a request head may carry: hyper's default, which node and
/// proxy keep (setting another moves hyper's header parsing from the stack
/// to the heap on every request). Beyond it hyper answers 431. The proxy
/// forwards only what fits within it once its own headers are added.
pub const MAX_HEADERS: usize = 100;

/// A request's `Transfer-Encoding` that names a coding these servers do not
/// implement (the header's values, joined).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Transfer-Encoding {0:?} is not implemented: only chunked, alone")]
pub struct UnimplementedCoding(pub String);

/// The request's `Transfer-Encoding` when it names a coding these servers
/// do not implement; `None` when it is absent or `chunked` alone.
///
/// hyper decodes the final `chunked` of `gzip, chunked` and hands on the
/// body still gzipped, with nothing left to say so; a proxy re-framing it
/// as `chunked` would pass it on as plain. RFC 9112 §6.1: a server that
/// receives a transfer coding it does not understand should answer 501.
/// `chunked, chunked` is refused the same way (chunked applies once).
pub fn unimplemented_transfer_coding(headers: &HeaderMap) -> Option<UnimplementedCoding> {
    if !headers.contains_key(TRANSFER_ENCODING) {
        return None;
    }
    let values = headers.get_all(TRANSFER_ENCODING);
    let mut codings = values
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|c| !c.is_empty());
    match (codings.next(), codings.next()) {
        (Some(only), None) if only.eq_ignore_ascii_case(b"chunked") => None,
        _ => Some(UnimplementedCoding(
            values
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect::<Vec<_>>()
                .join(", "),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn with(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(TRANSFER_ENCODING, HeaderValue::from_static(v));
        }
        headers
    }

    #[test]
    fn only_chunked_alone_is_implemented() {
        assert_eq!(unimplemented_transfer_coding(&with(&[])), None);
        let gzip = unimplemented_transfer_coding(&with(&["gzip, chunked"])).expect("refused");
        assert_eq!(
            gzip.to_string(),
            r#"Transfer-Encoding "gzip, chunked" is not implemented: only chunked, alone"#
        );
        for fine in [&["chunked"][..], &["Chunked"], &[" chunked ,"]] {
            assert_eq!(unimplemented_transfer_coding(&with(fine)), None, "{fine:?}");
        }
        for (refused, named) in [
            (&["gzip, chunked"][..], "gzip, chunked"),
            (&["gzip", "chunked"], "gzip, chunked"),
            (&["chunked, chunked"], "chunked, chunked"),
            (&["identity"], "identity"),
            (&[""], ""),
            (&["chunked;x=1"], "chunked;x=1"),
        ] {
            assert_eq!(
                unimplemented_transfer_coding(&with(refused)),
                Some(UnimplementedCoding(named.into())),
                "{refused:?}"
            );
        }
    }
}
