//! A virtual user: logs in, makes K protected requests with its credential
//! (a cookie like a browser, a bearer token like an API client), then logs
//! out or logs in again. A 401 drops the credential, as a client would.

use crate::conn::Reply;
use crate::{Outcome, ScenarioConfig, Step, UserAuth};

pub(crate) struct VirtualUser {
    login_body: String,
    /// A complete header line (`Cookie: …` or `Authorization: …`).
    credential: Option<String>,
    done: u64,
}

impl VirtualUser {
    pub fn new(index: u64, scenario: &ScenarioConfig) -> VirtualUser {
        let directory = authscale_auth::Directory::new(scenario.seed, u64::MAX);
        let body = serde_json::json!({
            "user": authscale_auth::Directory::name(index),
            "password": directory.password(index),
        });
        VirtualUser {
            login_body: body.to_string(),
            credential: None,
            done: 0,
        }
    }

    /// Writes this user's next request into `out` and names its step.
    pub fn next(&self, scenario: &ScenarioConfig, host: &str, out: &mut Vec<u8>) -> Step {
        let step = match (scenario.auth, &self.credential) {
            (UserAuth::None, _) => Step::Api,
            (_, None) => Step::Login,
            (_, Some(_)) if self.done < scenario.requests_per_login => Step::Api,
            (_, Some(_)) if scenario.logout => Step::Logout,
            (_, Some(_)) => Step::Login,
        };
        out.clear();
        let line: &[u8] = match step {
            Step::Login => b"POST /login HTTP/1.1\r\nHost: ",
            Step::Api => b"GET /api/me HTTP/1.1\r\nHost: ",
            Step::Logout => b"POST /logout HTTP/1.1\r\nHost: ",
        };
        out.extend_from_slice(line);
        out.extend_from_slice(host.as_bytes());
        out.extend_from_slice(b"\r\n");
        // A re-login carries the old cookie, as a browser would.
        if let Some(credential) = &self.credential {
            out.extend_from_slice(credential.as_bytes());
        }
        match step {
            Step::Login => {
                out.extend_from_slice(b"Content-Type: application/json\r\nContent-Length: ");
                out.extend_from_slice(self.login_body.len().to_string().as_bytes());
                out.extend_from_slice(b"\r\n\r\n");
                out.extend_from_slice(self.login_body.as_bytes());
            }
            Step::Logout => out.extend_from_slice(b"Content-Length: 0\r\n\r\n"),
            Step::Api => out.extend_from_slice(b"\r\n"),
        }
        step
    }

    /// Updates the user's state from the reply to `step`.
    pub fn apply(&mut self, step: Step, auth: UserAuth, reply: Reply) -> Outcome {
        let outcome = Outcome::from_status(reply.status);
        match (step, outcome) {
            (Step::Login, Outcome::Success) => {
                self.done = 0;
                self.credential = match auth {
                    UserAuth::Session => reply.cookie.map(|pair| format!("Cookie: {pair}\r\n")),
                    UserAuth::Token => bearer(&reply.body)
                        .map(|token| format!("Authorization: Bearer {token}\r\n")),
                    UserAuth::None => None,
                };
                if self.credential.is_none() && auth != UserAuth::None {
                    // A 2xx without the credential the mode needs.
                    return Outcome::OtherStatus;
                }
            }
            (Step::Api, Outcome::Success) => self.done += 1,
            (Step::Logout, _) | (_, Outcome::Unauthorized) => {
                self.credential = None;
                self.done = 0;
            }
            _ => {}
        }
        outcome
    }

    /// Whether this user's visit ended with `step`: after its logout, after
    /// its K-th request when it logs in again instead, or on any failure
    /// (the next user gets its turn rather than one user retrying at once).
    pub fn visit_over(&self, step: Step, outcome: Outcome, scenario: &ScenarioConfig) -> bool {
        outcome.is_error()
            || step == Step::Logout
            || (step == Step::Api && !scenario.logout && self.done >= scenario.requests_per_login)
    }

    /// Whether the reply to `step` needs its body kept (a token login).
    pub fn wants_body(step: Step, auth: UserAuth) -> bool {
        step == Step::Login && auth == UserAuth::Token
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
