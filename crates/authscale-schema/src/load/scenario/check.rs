//! What `Scenario::from_file` checks beyond the TOML's shape, and how a
//! refusal finds its line in the file.

use super::{RequestSpec, Scenario, Source};

const PLACEHOLDERS: [&str; 3] = ["user", "password", "index"];

/// Why a scenario cannot run, with the texts to find its line by (all on
/// one line of the file, the first one alone when no line has them all).
#[derive(Debug)]
pub struct Refusal {
    pub message: String,
    pub near: Vec<String>,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

pub(super) fn refuse(near: &[&str], message: String) -> anyhow::Error {
    anyhow::Error::new(Refusal {
        message,
        near: near.iter().map(|n| (*n).to_owned()).collect(),
    })
}

/// The 1-based line of `text` that holds every needle, else the first
/// that holds the first needle.
pub(super) fn line_of(text: &str, near: &[String]) -> Option<usize> {
    let first = near.first()?;
    let lines = || text.lines().enumerate();
    lines()
        .find(|(_, line)| near.iter().all(|n| line.contains(n.as_str())))
        .or_else(|| lines().find(|(_, line)| line.contains(first.as_str())))
        .map(|(i, _)| i + 1)
}

impl Scenario {
    /// Everything `from_file` checks beyond the TOML's shape.
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(think) = self.think
            && think.0 > std::time::Duration::from_secs(60)
        {
            return Err(refuse(
                &["think"],
                format!("think = \"{think}\": at most 60s between a user's requests"),
            ));
        }
        if self.requests.is_empty() {
            return Err(refuse(
                &[],
                "give at least one protected request ([[request]] with a path)".into(),
            ));
        }
        let carrier = self.carrier()?;
        if carrier.is_some() != self.login.is_some() {
            let given = if self.login.is_some() {
                "login"
            } else {
                "credential"
            };
            return Err(refuse(
                &[given],
                "a [login] and a [credential] go together: give both, or neither for anonymous users"
                    .into(),
            ));
        }
        if let Some((Source::JsonPointer(p), _)) = &carrier
            && !p.starts_with('/')
        {
            return Err(refuse(
                &["json-pointer", p],
                format!(
                    "credential.json-pointer = {p:?}: a JSON pointer starts with / (for example \"/access_token\")"
                ),
            ));
        }
        let named = |what: &str, r: &RequestSpec| -> anyhow::Result<()> {
            let standard = [
                "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE",
            ];
            let upper = r.method.to_ascii_uppercase();
            if upper != r.method && standard.contains(&upper.as_str()) {
                return Err(refuse(
                    &["method", &r.method],
                    format!(
                        "{what}.method = {:?}: methods are case-sensitive (RFC 9110 §9.1); write {upper:?}",
                        r.method
                    ),
                ));
            }
            if !token(&r.method) {
                return Err(refuse(
                    &["method", &r.method],
                    format!("{what}.method = {:?} is not an HTTP method", r.method),
                ));
            }
            if !r.path.starts_with('/') || r.path.bytes().any(|b| b <= b' ' || b == 0x7f) {
                return Err(refuse(
                    &["path", &r.path],
                    format!(
                        "{what}.path = {:?}: a path starts with / and has no spaces or control characters",
                        r.path
                    ),
                ));
            }
            for (name, value) in &r.headers {
                if !token(name) || value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                    return Err(refuse(
                        &[name],
                        format!(
                            "{what}.headers: {name:?} is not a header name, or its value holds a line break"
                        ),
                    ));
                }
            }
            for name in r.headers.keys() {
                let reserved = [
                    "host",
                    "content-length",
                    "transfer-encoding",
                    "connection",
                    "cookie",
                ];
                if reserved.contains(&name.to_ascii_lowercase().as_str()) {
                    return Err(refuse(
                        &[name],
                        format!(
                            "{what}.headers: {name} is the load generator's to send (Host, the body's length and framing, the connection; cookies come from [credential])"
                        ),
                    ));
                }
            }
            if r.body.is_some() && matches!(r.method.as_str(), "GET" | "HEAD") {
                return Err(refuse(
                    &["body"],
                    format!(
                        "{what}: a {} with a body (the method is GET unless given): write method = \"POST\" (or the one the service expects)",
                        r.method
                    ),
                ));
            }
            if !(1..=1000).contains(&r.weight) {
                return Err(refuse(
                    &["weight", &r.weight.to_string()],
                    format!("{what}.weight must be from 1 to 1000"),
                ));
            }
            for text in r.texts() {
                placeholders(what, text)?;
            }
            Ok(())
        };
        if let Some(login) = &self.login {
            named("login", login)?;
        }
        for (i, r) in self.requests.iter().enumerate() {
            named(&format!("request[{i}]"), r)?;
        }
        if let Some(logout) = &self.logout {
            named("logout", logout)?;
        }
        Ok(())
    }
}

pub(super) fn json_strings<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match value {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(items) => items.iter().for_each(|v| json_strings(v, out)),
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                out.push(k);
                json_strings(v, out);
            }
        }
        _ => {}
    }
}

/// Refuses `{name}` where name is not a placeholder; `{{` is a literal `{`.
fn placeholders(what: &str, text: &str) -> anyhow::Result<()> {
    let mut rest = text;
    while let Some(at) = rest.find('{') {
        let after = &rest[at + 1..];
        if let Some(literal) = after.strip_prefix('{') {
            rest = literal;
            continue;
        }
        let Some(end) = after.find('}') else {
            return Err(refuse(
                &[text],
                format!(
                    "{what}: {text:?} opens a placeholder with {{ and does not close it (write {{{{ for a literal {{)"
                ),
            ));
        };
        let name = &after[..end];
        if !PLACEHOLDERS.contains(&name) {
            return Err(refuse(
                &[&format!("{{{name}}}")],
                format!(
                    "{what}: unknown placeholder {{{name}}} in {text:?} (known: {{user}}, {{password}}, {{index}})"
                ),
            ));
        }
        rest = &after[end + 1..];
    }
    Ok(())
}

/// An HTTP token (a method or a header name).
pub(super) fn token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
