//! What a connection gives back of a response, whichever protocol carried
//! it (HTTP/1.1 in `conn`, HTTP/2 in `h2`).

/// What the generator keeps of a response.
#[derive(Debug, Default)]
pub(crate) struct Reply {
    pub status: u16,
    /// The `name=value` pair of the `Set-Cookie` header asked for.
    pub cookie: Option<String>,
    /// The value of the header asked for.
    pub header: Option<String>,
    /// The body, when the caller asked for it.
    pub body: Vec<u8>,
}

/// What to keep of a response beyond its status: only a login's answer
/// carries a credential, so every other reply keeps nothing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keep<'a> {
    pub body: bool,
    /// A cookie by name.
    pub cookie: Option<&'a str>,
    /// A header by name.
    pub header: Option<&'a str>,
    /// The request was HEAD: the reply has no body, whatever its
    /// Content-Length says.
    pub head_request: bool,
}

impl Keep<'_> {
    pub const NOTHING: Keep<'static> = Keep {
        body: false,
        cookie: None,
        header: None,
        head_request: false,
    };
}

/// The `name=value` pair of a `Set-Cookie` value when it sets the cookie
/// `name` (which also names `__Host-name` and `__Secure-name`).
pub(crate) fn cookie_pair(set_cookie: &str, name: &str) -> Option<String> {
    let pair = set_cookie.split(';').next()?.trim();
    let (n, _) = pair.split_once('=')?;
    let n = n.trim();
    let named = n == name
        || n.strip_prefix("__Host-") == Some(name)
        || n.strip_prefix("__Secure-") == Some(name);
    named.then(|| pair.to_owned())
}
