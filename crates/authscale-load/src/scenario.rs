//! A virtual user: logs in, makes K protected requests with its credential
//! (a cookie like a browser, a bearer token like an API client), then logs
//! out or logs in again. A 401 drops the credential, as a client would.

use crate::conn::Reply;
use crate::{Action, Outcome, ScenarioConfig, UserAuth};

pub(crate) struct VirtualUser {
    login_body: String,
    /// A stable client cookie (`uid=N`) sent from the first request on, as
    /// a browser carries one: what a cookie-hash balancer can pin by.
    client_cookie: Option<String>,
    /// The session cookie pair (`sid=…`).
    session: Option<String>,
    /// A complete `Authorization: Bearer …` header line.
    bearer: Option<String>,
    done: u64,
}

impl VirtualUser {
    pub fn new(index: u64, scenario: &ScenarioConfig) -> VirtualUser {
        let directory = authscale_schema::directory::Directory::new(scenario.seed, u64::MAX);
        let body = serde_json::json!({
            "user": authscale_schema::directory::Directory::name(index),
            "password": directory.password(index),
        });
        VirtualUser {
            login_body: body.to_string(),
            client_cookie: scenario.client_cookie.then(|| format!("uid={index}")),
            session: None,
            bearer: None,
            done: 0,
        }
    }

    fn has_credential(&self) -> bool {
        self.session.is_some() || self.bearer.is_some()
    }

    fn forget_credential(&mut self) {
        self.session = None;
        self.bearer = None;
        self.done = 0;
    }

    /// Writes this user's next request into `out` and names its step.
    pub fn next(&self, scenario: &ScenarioConfig, host: &str, out: &mut Vec<u8>) -> Action {
        let step = match (scenario.auth, self.has_credential()) {
            (UserAuth::None, _) => Action::Api,
            (_, false) => Action::Login,
            (_, true) if self.done < scenario.requests_per_login => Action::Api,
            (_, true) if scenario.logout => Action::Logout,
            (_, true) => Action::Login,
        };
        out.clear();
        let line: &[u8] = match step {
            Action::Login => b"POST /login HTTP/1.1\r\nHost: ",
            Action::Api => b"GET /api/me HTTP/1.1\r\nHost: ",
            Action::Logout => b"POST /logout HTTP/1.1\r\nHost: ",
        };
        out.extend_from_slice(line);
        out.extend_from_slice(host.as_bytes());
        out.extend_from_slice(b"\r\n");
        // A re-login carries the old cookie, as a browser would.
        let cookies: Vec<&str> = [&self.client_cookie, &self.session]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        if !cookies.is_empty() {
            out.extend_from_slice(b"Cookie: ");
            out.extend_from_slice(cookies.join("; ").as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if let Some(bearer) = &self.bearer {
            out.extend_from_slice(bearer.as_bytes());
        }
        match step {
            Action::Login => {
                out.extend_from_slice(b"Content-Type: application/json\r\nContent-Length: ");
                out.extend_from_slice(self.login_body.len().to_string().as_bytes());
                out.extend_from_slice(b"\r\n\r\n");
                out.extend_from_slice(self.login_body.as_bytes());
            }
            Action::Logout => out.extend_from_slice(b"Content-Length: 0\r\n\r\n"),
            Action::Api => out.extend_from_slice(b"\r\n"),
        }
        step
    }

    /// Updates the user's state from the reply to `step`.
    pub fn apply(&mut self, step: Action, auth: UserAuth, reply: Reply) -> Outcome {
        let outcome = Outcome::from_status(reply.status);
        match (step, outcome) {
            (Action::Login, Outcome::Success) => {
                self.forget_credential();
                match auth {
                    UserAuth::Session => self.session = reply.cookie,
                    UserAuth::Token => {
                        self.bearer = bearer(&reply.body)
                            .map(|token| format!("Authorization: Bearer {token}\r\n"));
                    }
                    UserAuth::None => {}
                }
                if !self.has_credential() && auth != UserAuth::None {
                    // A 2xx without the credential the mode needs.
                    return Outcome::OtherStatus;
                }
            }
            (Action::Api, Outcome::Success) => self.done += 1,
            (Action::Logout, _) | (_, Outcome::Unauthorized) => self.forget_credential(),
            _ => {}
        }
        outcome
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
            || (step == Action::Api && !scenario.logout && self.done >= scenario.requests_per_login)
    }

    /// Whether the reply to `step` needs its body kept (a token login).
    pub fn wants_body(step: Action, auth: UserAuth) -> bool {
        step == Action::Login && auth == UserAuth::Token
    }
}

fn bearer(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Issued {
        access_token: String,
    }
    let issued: Issued = serde_json::from_slice(body).ok()?;
    // Only token68 characters may go into the header line.
    let token68 = |b: u8| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b);
    issued
        .access_token
        .bytes()
        .all(token68)
        .then_some(issued.access_token)
}
