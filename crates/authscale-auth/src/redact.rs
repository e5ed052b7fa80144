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

#[cfg(test)]
mod tests {
    use super::redact_urls;

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
