//! A virtual user: logs in, makes K protected requests with its credential
//! (a cookie like a browser, a bearer token like an API client, or
//! whatever its scenario file says), then logs out or logs in again. A 401
//! drops the credential, as a client would.
//!
//! What the requests are comes from a `Scenario`: a file the user wrote,
//! or the built-in one for authscale's node (`Scenario::builtin`). Each
//! user's requests are rendered once, with its name and password filled
//! in; a request then costs a few copies of bytes.

use std::sync::Arc;

use crate::reply::{Keep, Reply};

mod users;

use crate::{Action, Outcome, ScenarioConfig};
use authscale_schema::{Body, RequestSpec, Scenario, SendAs, Source, fill};
use users::read_users;

/// A scenario compiled for a run: what every user shares.
#[derive(Debug)]
pub(crate) struct Script {
    scenario: Scenario,
    source: Option<Source>,
    send: Option<SendAs>,
    /// Protected requests by index, each as often as its weight.
    cycle: Vec<usize>,
    /// `user,password` pairs from the scenario's CSV; empty: the directory.
    users: Vec<(String, String)>,
    seed: u64,
    /// Whether any protected request is a HEAD (its reply has no body).
    heads: bool,
    /// Whether a login's reply keeps its body: for a token in it, and for
    /// any scenario file, whose first failed login's answer is what a run
    /// that cannot log in reports.
    login_body: bool,
}

impl Script {
    pub fn new(config: &ScenarioConfig) -> Result<Script, String> {
        let scenario = config.script();
        scenario.check().map_err(|e| e.to_string())?;
        let carrier = scenario.carrier().map_err(|e| e.to_string())?;
        let cycle = scenario
            .requests
            .iter()
            .enumerate()
            .flat_map(|(i, r)| std::iter::repeat_n(i, r.weight as usize))
            .collect();
        let users = match &scenario.users.csv {
            Some(path) => read_users(path)?,
            None => Vec::new(),
        };
        let (source, send) = carrier.unzip();
        Ok(Script {
            heads: scenario.requests.iter().any(|r| r.method == "HEAD"),
            login_body: config.file.is_some() || matches!(source, Some(Source::JsonPointer(_))),
            scenario,
            source,
            send,
            cycle,
            users,
            seed: config.seed,
        })
    }

    /// Whether users log in (and so hold a credential).
    pub fn logs_in(&self) -> bool {
        self.scenario.login.is_some()
    }
}

/// One request of one user, rendered: the bytes before the `Host` value
/// and after the credential.
#[derive(Debug)]
struct Rendered {
    /// `METHOD PATH HTTP/1.1\r\nHost: `
    head: Vec<u8>,
    /// The declared headers, the body's framing headers, the blank line and
    /// the body.
    tail: Vec<u8>,
}

impl Rendered {
    fn of(spec: &RequestSpec, user: &str, password: &str, index: u64) -> Rendered {
        let f = |text: &str| fill(text, user, password, index);
        // In a path the values are percent-encoded: a space, `&` or `?` in
        // a password stays part of it.
        let in_path = fill(
            &spec.path,
            &percent_encode(user, false),
            &percent_encode(password, false),
            index,
        );
        let mut head = Vec::with_capacity(64);
        head.extend_from_slice(spec.method.as_bytes());
        head.push(b' ');
        head.extend_from_slice(in_path.as_bytes());
        head.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        let mut tail = Vec::with_capacity(128);
        for (name, value) in &spec.headers {
            tail.extend_from_slice(format!("{name}: {}\r\n", f(value)).as_bytes());
        }
        let body = match &spec.body {
            None => None,
            Some(Body::Json(value)) => Some(("application/json", fill_json(value, &f).to_string())),
            Some(Body::Form(fields)) => Some((
                "application/x-www-form-urlencoded",
                fields
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{}={}",
                            percent_encode(&f(k), true),
                            percent_encode(&f(v), true)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("&"),
            )),
            Some(Body::Raw(text)) => Some(("", f(text))),
        };
        let declared = |name: &str| spec.headers.keys().any(|k| k.eq_ignore_ascii_case(name));
        match body {
            Some((kind, body)) => {
                if !kind.is_empty() && !declared("content-type") {
                    tail.extend_from_slice(format!("Content-Type: {kind}\r\n").as_bytes());
                }
                tail.extend_from_slice(
                    format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes(),
                );
                tail.extend_from_slice(body.as_bytes());
            }
            // A POST without a body still says it has none.
            None if spec.method != "GET" && spec.method != "HEAD" => {
                tail.extend_from_slice(b"Content-Length: 0\r\n\r\n");
            }
            None => tail.extend_from_slice(b"\r\n"),
        }
        Rendered { head, tail }
    }
}

fn fill_json(value: &serde_json::Value, f: &impl Fn(&str) -> String) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(f(s)),
        Value::Array(items) => Value::Array(items.iter().map(|v| fill_json(v, f)).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (f(k), fill_json(v, f))).collect())
        }
        other => other.clone(),
    }
}

/// Percent-encoding: unreserved bytes as they are, everything else `%XX`;
/// a space as `+` in a form (`application/x-www-form-urlencoded`), as
/// `%20` in a URL path or query.
fn percent_encode(text: &str, space_as_plus: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' if space_as_plus => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub(crate) struct VirtualUser {
    script: Arc<Script>,
    login: Option<Rendered>,
    requests: Vec<Rendered>,
    logout: Option<Rendered>,
    /// A stable client cookie (`uid=N`) sent from the first request on, as
    /// a browser carries one: what a cookie-hash balancer can pin by.
    client_cookie: Option<String>,
    /// The credential as a cookie pair (`sid=…`) or a whole header line.
    cookie: Option<String>,
    header: Option<String>,
    done: u64,
    /// Position in the script's weighted cycle of protected requests.
    next_request: usize,
}

impl VirtualUser {
    pub fn new(index: u64, script: &Arc<Script>, scenario: &ScenarioConfig) -> VirtualUser {
        let (user, password) = if script.users.is_empty() {
            let directory = authscale_schema::directory::Directory::new(script.seed, u64::MAX);
            (
                authscale_schema::directory::Directory::name(index),
                directory.password(index),
            )
        } else {
            script.users[(index % script.users.len() as u64) as usize].clone()
        };
        let render = |spec: &RequestSpec| Rendered::of(spec, &user, &password, index);
        let s = &script.scenario;
        VirtualUser {
            login: s.login.as_ref().map(render),
            requests: s.requests.iter().map(render).collect(),
            logout: s.logout.as_ref().map(render),
            script: Arc::clone(script),
            client_cookie: scenario.client_cookie.then(|| format!("uid={index}")),
            cookie: None,
            header: None,
            done: 0,
            next_request: (index as usize) % script.cycle.len().max(1),
        }
    }

    fn has_credential(&self) -> bool {
        self.cookie.is_some() || self.header.is_some()
    }

    fn forget_credential(&mut self) {
        self.cookie = None;
        self.header = None;
        self.done = 0;
    }

    /// Writes this user's next request into `out` and names its step.
    pub fn next(&self, scenario: &ScenarioConfig, host: &str, out: &mut Vec<u8>) -> Action {
        let step = match (self.login.is_some(), self.has_credential()) {
            (false, _) => Action::Api,
            (true, false) => Action::Login,
            (true, true) if self.done < scenario.requests_per_login => Action::Api,
            (true, true) if scenario.logout && self.logout.is_some() => Action::Logout,
            (true, true) => Action::Login,
        };
        let rendered = match step {
            Action::Login => self.login.as_ref(),
            Action::Logout => self.logout.as_ref(),
            Action::Api => self.requests.get(
                self.script
                    .cycle
                    .get(self.next_request)
                    .copied()
                    .unwrap_or(0),
            ),
        };
        out.clear();
        let Some(rendered) = rendered else {
            return step;
        };
        out.extend_from_slice(&rendered.head);
        out.extend_from_slice(host.as_bytes());
        out.extend_from_slice(b"\r\n");
        // A re-login carries the old cookie, as a browser would.
        match (&self.client_cookie, &self.cookie) {
            (None, None) => {}
            (one, other) => {
                out.extend_from_slice(b"Cookie: ");
                if let Some(client) = one {
                    out.extend_from_slice(client.as_bytes());
                    if other.is_some() {
                        out.extend_from_slice(b"; ");
                    }
                }
                if let Some(credential) = other {
                    out.extend_from_slice(credential.as_bytes());
                }
                out.extend_from_slice(b"\r\n");
            }
        }
        // A header credential is the API client's to present where it is
        // needed; a login asks for a new one without showing the old.
        if step != Action::Login
            && let Some(header) = &self.header
        {
            out.extend_from_slice(header.as_bytes());
        }
        out.extend_from_slice(&rendered.tail);
        step
    }

    /// What the reply to `step` must keep for the credential.
    pub fn keep(&self, step: Action) -> Keep<'_> {
        let login = Keep {
            body: self.script.login_body,
            ..Keep::NOTHING
        };
        match (step, &self.script.source) {
            (Action::Login, Some(Source::Cookie(name))) => Keep {
                cookie: Some(name),
                ..login
            },
            (Action::Login, Some(Source::Header(name))) => Keep {
                header: Some(name),
                ..login
            },
            (Action::Login, _) => login,
            (Action::Api, _)
                if self.script.heads && self.api_spec().is_some_and(|r| r.method == "HEAD") =>
            {
                Keep {
                    head_request: true,
                    ..Keep::NOTHING
                }
            }
            _ => Keep::NOTHING,
        }
    }

    /// The protected request this user makes next.
    fn api_spec(&self) -> Option<&RequestSpec> {
        self.script
            .cycle
            .get(self.next_request)
            .and_then(|&i| self.script.scenario.requests.get(i))
    }

    /// Updates the user's state from the reply to `step`.
    pub fn apply(&mut self, step: Action, reply: Reply) -> Outcome {
        let spec = match step {
            Action::Login => self.script.scenario.login.as_ref(),
            Action::Logout => self.script.scenario.logout.as_ref(),
            Action::Api => self.api_spec(),
        };
        let outcome = match spec {
            // A declared success status counts as 2xx does.
            Some(spec) if spec.succeeded(reply.status) => Outcome::Success,
            Some(_) if (200..300).contains(&reply.status) => Outcome::OtherStatus,
            _ => Outcome::from_status(reply.status),
        };
        match (step, outcome) {
            (Action::Login, Outcome::Success) => {
                self.forget_credential();
                let found = match &self.script.source {
                    Some(Source::Cookie(_)) => reply.cookie,
                    Some(Source::Header(_)) => reply.header,
                    Some(Source::JsonPointer(pointer)) => json_credential(&reply.body, pointer),
                    None => None,
                };
                // A cookie arrives as its `name=value` pair: by default it
                // goes back as it came (the name with any __Host- or
                // __Secure- prefix); sent any other way, its value does.
                let as_it_came = self
                    .script
                    .scenario
                    .credential
                    .as_ref()
                    .is_some_and(|c| c.send.is_none())
                    && matches!(self.script.source, Some(Source::Cookie(_)));
                let found = match (&self.script.source, found) {
                    (Some(Source::Cookie(_)), Some(pair)) if !as_it_came => {
                        pair.split_once('=').map(|(_, v)| v.to_owned())
                    }
                    (_, found) => found,
                }
                // An empty value (`sid=` clears a cookie) is no credential.
                .filter(|v| !(v.is_empty() || (as_it_came && v.ends_with('='))));
                match (found, &self.script.send) {
                    (Some(pair), Some(SendAs::Cookie(_))) if as_it_came => {
                        self.cookie = Some(pair);
                    }
                    (Some(value), Some(SendAs::Cookie(name))) => {
                        self.cookie = Some(format!("{name}={value}"));
                    }
                    (Some(value), Some(SendAs::Bearer)) => {
                        self.header = Some(format!("Authorization: Bearer {value}\r\n"));
                    }
                    (Some(value), Some(SendAs::Header(name))) => {
                        self.header = Some(format!("{name}: {value}\r\n"));
                    }
                    _ => {}
                }
                if !self.has_credential() {
                    // A success without the credential the scenario names.
                    return Outcome::OtherStatus;
                }
            }
            (Action::Api, Outcome::Success) => {
                self.done += 1;
                self.advance();
            }
            // A failed route does not hold the user: the next one is next.
            (Action::Api, Outcome::ClientError | Outcome::ServerError | Outcome::OtherStatus) => {
                self.advance();
            }
            (Action::Logout, _) | (_, Outcome::Unauthorized) => self.forget_credential(),
            _ => {}
        }
        outcome
    }

    fn advance(&mut self) {
        self.next_request += 1;
        if self.next_request >= self.script.cycle.len() {
            self.next_request = 0;
        }
    }

    /// Whether this user's visit ended with `step`: after its logout, after
    /// its K-th request when it logs in again instead, or when its login
    /// failed (the next user gets a turn). A failed protected request does
    /// not end the visit: like a real client the user tries again with the
    /// credential it holds, which is how a fault that forgot sessions shows
    /// up (as 401s once the system answers again).
    pub fn visit_over(&self, step: Action, outcome: Outcome, scenario: &ScenarioConfig) -> bool {
        (step == Action::Login && outcome.is_error())
            || step == Action::Logout
            || (step == Action::Api
                && self.login.is_some()
                && (!scenario.logout || self.logout.is_none())
                && self.done >= scenario.requests_per_login)
    }
}

/// The string (or number) at `pointer` in a JSON body, if it can go into a
/// header line.
fn json_credential(body: &[u8], pointer: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let found = match value.pointer(pointer)? {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    // Only visible ASCII may go into a header line (token68 and more).
    (!found.is_empty() && found.bytes().all(|b| b.is_ascii_graphic())).then_some(found)
}

#[cfg(test)]
mod tests;
