//! Passwords out of anything printed: a store URL may carry credentials
//! (`redis://user:secret@host`), and it reaches error messages and logs.

/// `text` with the password of every URL in it replaced by `***`:
/// `redis://user:secret@host` → `redis://user:***@host`, and a lone
/// userinfo (`redis://token@host`, which Redis may take as a password)
/// → `redis://***@host`. Text without `://` is returned unchanged.
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        // A URL ends at whitespace or at a delimiter around it in prose or
        // in `{:?}` output; credentials are everything up to its last '@'
        // (a password may hold a raw '@' or '/').
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>'))
            .unwrap_or(after.len());
        let (url, tail) = after.split_at(end);
        match url.rfind('@') {
            Some(at) => {
                let userinfo = &url[..at];
                match userinfo.split_once(':') {
                    Some((user, _)) => {
                        out.push_str(user);
                        out.push_str(":***");
                    }
                    None => out.push_str("***"),
                }
                out.push_str(&url[at..]);
            }
            None => out.push_str(url),
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// A store URL as an error message may quote it: only when it parses as
/// a URL, and then with its password (or lone user name, which Redis may
/// take as one) and any `pass`/`password` query value replaced by `***`.
/// A URL that does not parse is not shown at all: where its password
/// starts and ends cannot be known.
pub fn shown_url(url: &str) -> String {
    const NOT_SHOWN: &str =
        "(the store URL, not shown: it does not parse as a URL and may hold a password)";
    let Ok(mut parsed) = url::Url::parse(url.trim()) else {
        return NOT_SHOWN.to_owned();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    } else if !parsed.username().is_empty() {
        let _ = parsed.set_username("***");
    }
    let secret = |k: &str| matches!(k.to_ascii_lowercase().as_str(), "pass" | "password");
    if parsed.query_pairs().any(|(k, _)| secret(&k)) {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret(&k) {
                    "***".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    let text = parsed.as_str();
    // Belt and braces: a parser's idea of userinfo may differ from Redis's.
    if text.contains(
        url.split_once("://")
            .map_or("", |(_, rest)| rest)
            .split('@')
            .next()
            .unwrap_or(""),
    ) && url.contains('@')
    {
        return NOT_SHOWN.to_owned();
    }
    format!("{text:?}")
}

#[cfg(test)]
mod tests {
    use super::{redact_urls, shown_url};

    #[test]
    fn a_store_url_in_a_message_never_shows_a_password() {
        for url in [
            "redis://user:secret",
            "redis://user:secret/127.0.0.1",
            "user:secret@127.0.0.1:6379",
            "redis:user:secret@127.0.0.1:6379",
            "redis:/user:secret@127.0.0.1:x",
            "redis+unix:///tmp/x?pass=secret&db=abc",
            "unix:///tmp/x?password=secret&db=x",
            "redis://user:secret@127.0.0.1:notaport/0?password=secret",
            "redis://secret@127.0.0.1:6379",
            "redis-cluster://u:secret@a:1,b:2",
        ] {
            let shown = shown_url(url);
            assert!(!shown.contains("secret"), "{url} → {shown}");
        }
        assert_eq!(
            shown_url("redis://127.0.0.1:6379/0"),
            "\"redis://127.0.0.1:6379/0\""
        );
        assert_eq!(
            shown_url("redis://u:pw@127.0.0.1:6379"),
            "\"redis://u:***@127.0.0.1:6379\""
        );
    }

    #[test]
    fn passwords_are_replaced_and_the_rest_is_kept() {
        let cases = [
            (
                "redis://user:secret@host:6379/0",
                "redis://user:***@host:6379/0",
            ),
            ("rediss://:secret@host", "rediss://:***@host"),
            ("redis://token@host", "redis://***@host"),
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            ("redis://u:p@ss/w@rd@h:1", "redis://u:***@h:1"),
            (
                "redis-cluster://u:pw@a:1,b:2",
                "redis-cluster://u:***@a:1,b:2",
            ),
            (
                "invalid redis URL \"redis://u:hunter2@h:x\": bad port",
                "invalid redis URL \"redis://u:***@h:x\": bad port",
            ),
            (
                "two: redis://a:one@h and rediss://b:two@k.",
                "two: redis://a:***@h and rediss://b:***@k.",
            ),
            ("no url here", "no url here"),
        ];
        for (input, expected) in cases {
            let redacted = redact_urls(input);
            assert_eq!(redacted, expected, "{input}");
            for secret in ["secret", "hunter2", "pw@", "one@", "two@", "token"] {
                assert!(!redacted.contains(secret), "{redacted}");
            }
        }
    }
}
