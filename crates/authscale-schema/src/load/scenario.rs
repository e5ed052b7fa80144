//! A virtual user's requests, declared: how it logs in, where its
//! credential comes from and how it sends it, the protected requests it
//! makes (weighted), how it logs out, and who the users are. The load
//! generator runs any service this way; authscale's own node is one such
//! file (`experiments/scenarios/node-session.toml`, `node-token.toml`) and
//! the built-in scenarios below say the same.
//!
//! ```toml
//! [login]
//! method = "POST"
//! path = "/login"
//! body = { json = { user = "{user}", password = "{password}" } }
//!
//! [credential]
//! cookie = "sid"              # or json-pointer = "/access_token", or header = "X-Token"
//! # send = "bearer"           # the default for a token; or "header:X-Api-Key", "cookie:NAME"
//!
//! [[request]]
//! path = "/api/me"
//!
//! [logout]
//! method = "POST"
//! path = "/logout"
//! ```
//!
//! Placeholders in paths, header values and bodies: `{user}`, `{password}`
//! (the user's, from the built-in directory or `users.csv`) and `{index}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::UserAuth;

mod check;

pub use check::Refusal;
use check::{json_strings, line_of, refuse, token};

/// One declared request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RequestSpec {
    #[serde(default = "get")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<Body>,
    /// How often among the protected requests [default: 1].
    #[serde(default = "one")]
    pub weight: u32,
    /// The statuses that mean success [default: any 2xx].
    #[serde(default)]
    pub success: Vec<u16>,
}

fn get() -> String {
    "GET".into()
}

fn one() -> u32 {
    1
}

/// A request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Body {
    /// A JSON document (`Content-Type: application/json`); placeholders in
    /// its strings.
    Json(serde_json::Value),
    /// `application/x-www-form-urlencoded` fields.
    Form(BTreeMap<String, String>),
    /// Bytes as written; give `Content-Type` in `headers`.
    Raw(String),
}

/// Where the credential comes from in the login's response, and how the
/// user sends it back.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Credential {
    /// A cookie by name (`Set-Cookie`).
    #[serde(default)]
    pub cookie: Option<String>,
    /// A JSON pointer into the response body (`/access_token`).
    #[serde(default)]
    pub json_pointer: Option<String>,
    /// A response header by name.
    #[serde(default)]
    pub header: Option<String>,
    /// `bearer` (`Authorization: Bearer …`), `header:NAME` or
    /// `cookie:NAME` [default: a cookie goes back as itself, anything else
    /// as a bearer token].
    #[serde(default)]
    pub send: Option<String>,
}

/// Who the virtual users are.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Users {
    /// `user,password` lines (a first line `user,password` is a header);
    /// absent: the built-in directory (`authscale users`).
    #[serde(default)]
    pub csv: Option<String>,
}

/// A whole scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Scenario {
    /// Absent: anonymous users, only the protected requests.
    #[serde(default)]
    pub login: Option<RequestSpec>,
    #[serde(default)]
    pub credential: Option<Credential>,
    /// The protected requests (`[[request]]`), chosen by weight.
    #[serde(rename = "request")]
    pub requests: Vec<RequestSpec>,
    #[serde(default)]
    pub logout: Option<RequestSpec>,
    #[serde(default)]
    pub users: Users,
    /// A pause after each answer before the user's next request (closed
    /// loop only), as a person reading a page: `think = "500ms"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think: Option<crate::duration::Dur>,
    /// `FILE:LINE` of the credential's source, for a run whose logins
    /// never yield it (set by `from_file`; not part of the record).
    #[serde(skip)]
    pub credential_at: Option<String>,
}

/// Two scenarios are equal when they send the same requests, wherever
/// they were read from.
impl PartialEq for Scenario {
    fn eq(&self, other: &Scenario) -> bool {
        (
            &self.login,
            &self.credential,
            &self.requests,
            &self.logout,
            &self.users,
            &self.think,
        ) == (
            &other.login,
            &other.credential,
            &other.requests,
            &other.logout,
            &other.users,
            &other.think,
        )
    }
}

/// How the credential goes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendAs {
    Bearer,
    Header(String),
    Cookie(String),
}

/// Where the credential is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Cookie(String),
    JsonPointer(String),
    Header(String),
}

impl Scenario {
    /// authscale's own node: `/login` with a JSON body, the session cookie
    /// `sid` or a bearer token from `access_token`, `GET /api/me`, `POST
    /// /logout` (the files in experiments/scenarios/ say the same).
    pub fn builtin(auth: UserAuth) -> Scenario {
        let request = |method: &str, path: &str| RequestSpec {
            method: method.into(),
            path: path.into(),
            headers: BTreeMap::new(),
            body: None,
            weight: 1,
            success: Vec::new(),
        };
        let login = RequestSpec {
            body: Some(Body::Json(serde_json::json!({
                "user": "{user}",
                "password": "{password}",
            }))),
            ..request("POST", "/login")
        };
        let credential = match auth {
            UserAuth::None => None,
            UserAuth::Session => Some(Credential {
                cookie: Some("sid".into()),
                ..Credential::default()
            }),
            UserAuth::Token => Some(Credential {
                json_pointer: Some("/access_token".into()),
                ..Credential::default()
            }),
        };
        Scenario {
            login: credential.as_ref().map(|_| login),
            credential,
            requests: vec![request("GET", "/api/me")],
            logout: (auth != UserAuth::None).then(|| request("POST", "/logout")),
            users: Users::default(),
            think: None,
            credential_at: None,
        }
    }

    /// Reads and checks a scenario file; errors name the file, the line
    /// and the field.
    pub fn from_file(path: &std::path::Path) -> anyhow::Result<Scenario> {
        let shown = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the scenario {shown}: {e}"))?;
        let mut scenario: Scenario = toml::from_str(&text).map_err(|e| match e.span() {
            Some(span) => {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                anyhow::anyhow!("{shown}:{line}: {}", e.message().trim_end())
            }
            None => anyhow::anyhow!("{shown}: {}", e.to_string().trim_end()),
        })?;
        // users.csv is found beside the scenario file.
        if let Some(csv) = &mut scenario.users.csv
            && std::path::Path::new(csv.as_str()).is_relative()
        {
            let dir = path.parent().unwrap_or(std::path::Path::new("."));
            *csv = dir.join(csv.as_str()).display().to_string();
        }
        scenario.check().map_err(|e| {
            let line = e
                .downcast_ref::<Refusal>()
                .and_then(|refusal| line_of(&text, &refusal.near));
            match line {
                Some(line) => anyhow::anyhow!("{shown}:{line}: {e}"),
                None => anyhow::anyhow!("{shown}: {e}"),
            }
        })?;
        if let Ok(Some((source, _))) = scenario.carrier() {
            let key = match source {
                Source::Cookie(_) => "cookie",
                Source::JsonPointer(_) => "json-pointer",
                Source::Header(_) => "header",
            };
            // The key's line below [credential] (or an inline table's line).
            let below = text
                .lines()
                .position(|l| l.trim_start().starts_with("[credential]"))
                .unwrap_or(0);
            let line = text
                .lines()
                .enumerate()
                .skip(below)
                .find(|(_, l)| l.contains(key))
                .map(|(i, _)| i + 1);
            scenario.credential_at = Some(match line {
                Some(line) => format!("{shown}:{line}"),
                None => shown.to_string(),
            });
        }
        Ok(scenario)
    }

    /// The credential's source and how it is sent; None for anonymous users.
    pub fn carrier(&self) -> anyhow::Result<Option<(Source, SendAs)>> {
        let Some(c) = &self.credential else {
            return Ok(None);
        };
        let sources: Vec<Source> = [
            c.cookie.clone().map(Source::Cookie),
            c.json_pointer.clone().map(Source::JsonPointer),
            c.header.clone().map(Source::Header),
        ]
        .into_iter()
        .flatten()
        .collect();
        let [source] = sources.as_slice() else {
            return Err(refuse(
                &["credential"],
                format!(
                    "credential: give exactly one of cookie, json-pointer and header (found {})",
                    sources.len()
                ),
            ));
        };
        let send = match c.send.as_deref() {
            None => match source {
                Source::Cookie(name) => SendAs::Cookie(name.clone()),
                _ => SendAs::Bearer,
            },
            Some("bearer") => SendAs::Bearer,
            Some(other) => match other.split_once(':') {
                Some(("header", name)) if token(name) => SendAs::Header(name.to_owned()),
                Some(("cookie", name)) if token(name) => SendAs::Cookie(name.to_owned()),
                _ => {
                    return Err(refuse(
                        &["send", other],
                        format!(
                            "credential.send = {other:?}: give \"bearer\", \"header:NAME\" or \"cookie:NAME\""
                        ),
                    ));
                }
            },
        };
        Ok(Some((source.clone(), send)))
    }
}

impl RequestSpec {
    /// Every text a placeholder may stand in: path, header values, body strings.
    pub fn texts(&self) -> Vec<&str> {
        let mut texts = vec![self.path.as_str()];
        texts.extend(self.headers.values().map(String::as_str));
        match &self.body {
            Some(Body::Json(value)) => json_strings(value, &mut texts),
            Some(Body::Form(fields)) => {
                texts.extend(fields.keys().map(String::as_str));
                texts.extend(fields.values().map(String::as_str));
            }
            Some(Body::Raw(text)) => texts.push(text),
            None => {}
        }
        texts
    }

    /// Whether `status` counts as success.
    pub fn succeeded(&self, status: u16) -> bool {
        if self.success.is_empty() {
            (200..300).contains(&status)
        } else {
            self.success.contains(&status)
        }
    }
}

/// `text` with the user's placeholders filled in; `{{` is a literal `{`.
pub fn fill(text: &str, user: &str, password: &str, index: u64) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(literal) = after.strip_prefix('{') {
            out.push('{');
            rest = literal;
            continue;
        }
        match after
            .find('}')
            .map(|end| (&after[..end], &after[end + 1..]))
        {
            Some((name @ ("user" | "password" | "index"), tail)) => {
                match name {
                    "user" => out.push_str(user),
                    "password" => out.push_str(password),
                    _ => out.push_str(&index.to_string()),
                }
                rest = tail;
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_files_say_what_the_builtin_scenarios_say() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/scenarios");
        for (file, auth) in [
            ("node-session.toml", UserAuth::Session),
            ("node-token.toml", UserAuth::Token),
        ] {
            let scenario = Scenario::from_file(&dir.join(file)).expect("a valid scenario");
            assert_eq!(scenario, Scenario::builtin(auth), "{file}");
        }
    }

    #[test]
    fn placeholders_fill_and_unknown_ones_are_refused() {
        assert_eq!(
            fill("/u/{user}/{index}?p={password}&x={{y}", "ann", "pw", 7),
            "/u/ann/7?p=pw&x={y}"
        );
        let bad = |toml: &str| {
            toml::from_str::<Scenario>(toml)
                .map_err(anyhow::Error::from)
                .and_then(|s| s.check())
                .expect_err(toml)
                .to_string()
        };
        assert!(bad("[[request]]\npath = \"/x/{usr}\"\n").contains("unknown placeholder {usr}"));
        assert!(bad("[[request]]\npath = \"/x\"\nverb = \"GET\"\n").contains("unknown field"));
        assert!(bad("[[request]]\npath = \"x\"\n").contains("starts with /"));
        assert!(bad("think = \"2m\"\n[[request]]\npath = \"/x\"\n").contains("at most 60s"));
        assert!(
            bad("[login]\npath = \"/l\"\nbody = { raw = \"x\" }\n[credential]\ncookie = \"a\"\n[[request]]\npath = \"/x\"\n")
                .contains("a GET with a body")
        );
        assert!(bad("[login]\npath = \"/l\"\n[credential]\ncookie = \"a\"\nheader = \"b\"\n[[request]]\npath = \"/x\"\n").contains("exactly one"));
        assert!(
            bad("[login]\npath = \"/l\"\n[[request]]\npath = \"/x\"\n").contains("go together")
        );
        assert!(bad("[login]\npath = \"/l\"\n[credential]\njson-pointer = \"token\"\n[[request]]\npath = \"/x\"\n").contains("starts with /"));
        assert!(bad("[login]\npath = \"/l\"\n[credential]\nheader = \"X-T\"\nsend = \"query\"\n[[request]]\npath = \"/x\"\n").contains("credential.send"));
        // The generator's own headers and runaway weights.
        assert!(
            bad("[[request]]\npath = \"/x\"\nheaders = { Content-Length = \"3\" }\n")
                .contains("load generator's to send")
        );
        assert!(
            bad("[[request]]\npath = \"/x\"\nheaders = { host = \"h\" }\n")
                .contains("load generator's to send")
        );
        assert!(
            bad("[[request]]\npath = \"/x\"\nweight = 4294967295\n").contains("from 1 to 1000")
        );
    }
}
