//! What a load run does, validated once before any traffic is sent.

use std::net::SocketAddr;
use std::time::Duration;

/// Where the load goes: `http://host:port` or `https://host:port`,
/// resolved once (by the load generator's `resolve_target`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Target {
    /// As given, for reports.
    pub url: String,
    /// The `Host` header to send.
    pub host: String,
    pub addr: SocketAddr,
    /// How an `https://` target is reached; `None` for `http://`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
}

/// TLS to the target: whom the certificate must name, whom to trust, and
/// whether to offer HTTP/2.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Tls {
    /// The name the server's certificate must carry (the URL's host).
    pub server_name: String,
    /// PEM certificates to trust instead of the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<std::path::PathBuf>,
    /// No certificate check at all (a measurement of a test service only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// Offer HTTP/2 by ALPN; used when the server picks it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub http2: bool,
}

/// The credential virtual users hold (`AuthMode::credential`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UserAuth {
    /// No credential: only the protected route is requested.
    None,
    /// Log in for a session cookie and send it like a browser.
    Session,
    /// Log in for a bearer token and send it like an API client.
    Token,
}

/// Closed loop (each connection sends when its previous answer arrives) or
/// open loop (requests intended at a constant rate).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum LoopMode {
    Closed,
    Open { rate: f64 },
}

/// The virtual users' behaviour.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ScenarioConfig {
    pub auth: UserAuth,
    /// Virtual users, `user{first_user}` onwards.
    pub users: u64,
    pub first_user: u64,
    /// Seed of the nodes' directory, to derive passwords.
    pub seed: u64,
    /// Protected requests between a login and the logout (or next login).
    pub requests_per_login: u64,
    /// After K requests: log out (true) or just log in again (false).
    pub logout: bool,
    /// Send a stable `uid=N` cookie on every request, as a browser carries
    /// one (a cookie-hash balancer pins users by it).
    #[serde(default)]
    pub client_cookie: bool,
    /// The requests, from a scenario file; absent: authscale's node, as
    /// `auth` says (`Scenario::builtin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<super::Scenario>,
}

impl ScenarioConfig {
    /// The requests the users make.
    pub fn script(&self) -> super::Scenario {
        self.file
            .clone()
            .unwrap_or_else(|| super::Scenario::builtin(self.auth))
    }

    /// Whether the users log in.
    pub fn logs_in(&self) -> bool {
        match &self.file {
            Some(file) => file.login.is_some(),
            None => self.auth != UserAuth::None,
        }
    }
}

/// A complete, validated load run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LoadConfig {
    pub target: Target,
    /// Client-side balancing: more targets, and connection `c` goes to
    /// `[target, spread..]` at `c` modulo their count (as DNS round-robin,
    /// a gRPC client or a service mesh's sidecar spreads connections).
    /// Empty: every connection goes to `target`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spread: Vec<Target>,
    pub mode: LoopMode,
    pub connections: u64,
    pub scenario: ScenarioConfig,
    /// Excluded from the statistics.
    #[serde(with = "secs")]
    pub warmup: Duration,
    /// Measured time after the warm-up.
    #[serde(with = "secs")]
    pub duration: Duration,
    /// Hard cap on requests sent, warm-up included.
    pub max_requests: u64,
    /// Bound on one request, connect included.
    #[serde(with = "secs")]
    pub timeout: Duration,
    /// Keep per-second counts and p99 for the whole run (warm-up included).
    #[serde(default)]
    pub timeline: bool,
}

impl LoadConfig {
    /// A closed-loop, anonymous run with defaults for everything else.
    pub fn new(target: Target) -> LoadConfig {
        LoadConfig {
            target,
            spread: Vec::new(),
            mode: LoopMode::Closed,
            connections: 64,
            scenario: ScenarioConfig {
                auth: UserAuth::None,
                users: 64,
                first_user: 0,
                seed: 1,
                requests_per_login: 20,
                logout: true,
                client_cookie: false,
                file: None,
            },
            warmup: Duration::ZERO,
            duration: Duration::from_secs(10),
            max_requests: 100_000_000,
            timeout: Duration::from_secs(10),
            timeline: false,
        }
    }

    /// Checks the configuration; every load run starts with this.
    pub fn validate(&self) -> Result<(), LoadError> {
        let invalid = |m: &str| Err(LoadError::Invalid(m.to_owned()));
        if self.connections == 0 {
            return invalid("--connections must be at least 1");
        }
        if self.connections > 100_000 {
            return invalid("--connections above 100000 is not supported");
        }
        if let LoopMode::Open { rate } = self.mode
            && !(rate.is_finite() && rate > 0.0 && rate <= 10_000_000.0)
        {
            return invalid(
                "--rate must be a positive number of requests per second (at most 10 million)",
            );
        }
        if self.duration.is_zero() {
            return invalid("--duration must be greater than zero");
        }
        if self.duration + self.warmup > Duration::from_secs(24 * 3600) {
            return invalid("a run is bounded to 24 hours (warm-up plus duration)");
        }
        if self.max_requests == 0 {
            return invalid("--max-requests must be at least 1");
        }
        let targets = 1 + self.spread.len() as u64;
        if self.connections < targets {
            return Err(LoadError::Invalid(format!(
                "{} connections cannot reach {targets} targets: give at least one connection per target",
                self.connections
            )));
        }
        if self.spread.iter().any(|t| t.tls != self.target.tls) {
            return invalid(
                "every target of one load must be reached the same way (all http://, or https:// with the same TLS options)",
            );
        }
        if self.timeout.is_zero() {
            return invalid("--timeout must be greater than zero");
        }
        if self.scenario.logs_in() {
            if self.scenario.users == 0 {
                return invalid("--users must be at least 1");
            }
            if self.scenario.requests_per_login == 0 {
                return invalid("--requests-per-login must be at least 1");
            }
        }
        Ok(())
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Invalid(String),
    #[error(
        "refusing to send load to {0}: it is not a loopback address. \
         authscale only loads machines you run; pass --allow-remote if this one is yours"
    )]
    Remote(String),
    #[error("cannot resolve {0}: {1}")]
    Resolve(String, String),
    #[error("{0}")]
    Tls(String),
}

/// Durations as seconds (floating point) in JSON.
mod secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs: f64 = serde::Deserialize::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}
