//! Running a load: one task per connection, each serving its share of the
//! virtual users. Closed loop: a connection sends when its previous answer
//! arrives. Open loop: request i is intended at `start + i/rate`; an idle
//! connection claims the next intended request (a lock-free global queue),
//! so when every connection is busy requests wait, and the wait counts.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::conn::Conn;
use crate::result::{RunFacts, build};
use crate::scenario::{Script, VirtualUser};
use crate::stats::Stats;
use crate::transport::{Protocol, Transport};
use crate::{Action, LoadConfig, LoadError, LoadResult, LoopMode, Outcome};
use authscale_schema::process_cpu_seconds;

/// Live counters, for a progress display.
#[derive(Debug, Default)]
pub struct Progress {
    pub completed: AtomicU64,
    pub errors: AtomicU64,
}

struct Shared {
    config: LoadConfig,
    stats: Mutex<Stats>,
    /// Requests claimed (open loop: tickets, in intended-time order).
    claimed: AtomicU64,
    /// Requests actually sent.
    issued: AtomicU64,
    /// Requests that reached an outcome, warm-up included.
    finished: AtomicU64,
    start: Instant,
    measure_from: Instant,
    deadline: Instant,
    progress: Arc<Progress>,
    logins: Logins,
}

/// Whether users can log in at all: a scenario whose login is answered
/// but never yields the credential stops after its first failures, and
/// says what the login got.
#[derive(Debug, Default)]
struct Logins {
    ok: AtomicU64,
    failed: AtomicU64,
    first_failure: Mutex<Option<String>>,
}

/// Answered logins that failed, none succeeding, before a run gives up.
const HOPELESS_LOGINS: u64 = 20;

impl Logins {
    fn record(&self, outcome: Outcome, answer: String) {
        if outcome == Outcome::Success {
            self.ok.fetch_add(1, Relaxed);
        } else {
            self.failed.fetch_add(1, Relaxed);
            if let Ok(mut first) = self.first_failure.lock() {
                first.get_or_insert(answer);
            }
        }
    }

    /// No login has worked yet.
    fn undecided(&self) -> bool {
        self.ok.load(Relaxed) == 0
    }

    fn hopeless(&self) -> bool {
        self.ok.load(Relaxed) == 0 && self.failed.load(Relaxed) >= HOPELESS_LOGINS
    }

    /// `credential_at`: where the scenario file names the credential.
    fn error(&self, credential_at: Option<&str>) -> LoadError {
        let first = self
            .first_failure
            .lock()
            .ok()
            .and_then(|f| f.clone())
            .unwrap_or_default();
        let at = credential_at
            .map(|at| format!("{at}: "))
            .unwrap_or_default();
        LoadError::Invalid(format!(
            "{at}the first {} logins were answered but none gave the credential the scenario names; the first got {first}",
            self.failed.load(Relaxed)
        ))
    }
}

/// A login's answer, for the error of a run that cannot log in.
fn answer(reply: &crate::reply::Reply) -> String {
    let head: String = String::from_utf8_lossy(&reply.body[..reply.body.len().min(120)]).into();
    format!("status {} and a body starting {head:?}", reply.status)
}

/// Runs `config` until its duration is over, its request cap is reached, or
/// `stop` resolves (then the result says it was interrupted).
pub async fn run(
    config: LoadConfig,
    stop: impl Future<Output = ()>,
    progress: Option<Arc<Progress>>,
) -> Result<LoadResult, LoadError> {
    config.validate()?;
    let scenario = &config.scenario;
    let script = Arc::new(Script::new(scenario).map_err(LoadError::Invalid)?);
    if scenario.logs_in() && scenario.users < config.connections {
        return Err(LoadError::Invalid(format!(
            "--users ({}) must be at least --connections ({}): each connection serves its own users",
            scenario.users, config.connections
        )));
    }
    let think = scenario.file.as_ref().and_then(|file| file.think);
    if think.is_some() && matches!(config.mode, LoopMode::Open { .. }) {
        return Err(LoadError::Invalid(
            "the scenario's think time applies to a closed loop; with --rate the schedule \
             decides when requests go (remove think or --rate)"
                .into(),
        ));
    }
    let targets: Vec<&crate::Target> = std::iter::once(&config.target)
        .chain(&config.spread)
        .collect();
    let mut routes = Vec::with_capacity(targets.len());
    let mut protocol = None;
    for target in targets {
        let host = target.host.clone();
        if !host.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(LoadError::Invalid(format!(
                "{host:?} is not a valid Host header"
            )));
        }
        let transport = Arc::new(Transport::new(target)?);
        let spoken = transport.check(target, config.timeout).await?;
        if routes.is_empty() {
            protocol = spoken;
        } else if spoken != protocol {
            return Err(LoadError::Invalid(format!(
                "{} speaks another protocol than {}: one load speaks one",
                target.url, config.target.url
            )));
        }
        routes.push(Route { host, transport });
    }
    let cpu_before = process_cpu_seconds(std::process::id());
    let started_at = authscale_schema::unix_now();
    let start = Instant::now();
    let shared = Arc::new(Shared {
        stats: Mutex::new(Stats::default()),
        claimed: AtomicU64::new(0),
        issued: AtomicU64::new(0),
        finished: AtomicU64::new(0),
        start,
        measure_from: start + config.warmup,
        deadline: start + config.warmup + config.duration,
        progress: progress.unwrap_or_default(),
        logins: Logins::default(),
        config,
    });

    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..shared.config.connections {
        let users = users_of(&shared.config, &script, c);
        let route = routes[c as usize % routes.len()].clone();
        tasks.spawn(connection(shared.clone(), route, users));
    }
    let all_done = async { while tasks.join_next().await.is_some() {} };
    let interrupted = tokio::select! {
        () = all_done => false,
        () = tokio::time::sleep_until(shared.deadline.into()) => false,
        () = stop => true,
    };
    // An open loop whose schedule ran out before the deadline (a low rate)
    // was still measuring until then: its window is the whole duration.
    // One stopped by its request cap or by the caller ends where it ended.
    let schedule_done = matches!(shared.config.mode, LoopMode::Open { .. })
        && !interrupted
        && shared.issued.load(Relaxed) < shared.config.max_requests;
    let end = if schedule_done {
        shared.deadline
    } else {
        Instant::now().min(shared.deadline)
    };
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    // A scenario file's login that never works is a mistake in the file:
    // said at once. (authscale's own node refusing logins is a result the
    // lab and `ab` judge themselves.)
    if shared.config.scenario.file.is_some() && shared.logins.hopeless() {
        let at = shared.config.scenario.file.as_ref();
        return Err(shared
            .logins
            .error(at.and_then(|file| file.credential_at.as_deref())));
    }

    let issued = shared.issued.load(Relaxed);
    let in_flight_at_end = issued.saturating_sub(shared.finished.load(Relaxed));
    let queued_at_end = match shared.config.mode {
        LoopMode::Open { rate } => {
            let due = ((end - shared.start).as_secs_f64() * rate).floor() as u64;
            due.min(shared.config.max_requests).saturating_sub(issued)
        }
        LoopMode::Closed => 0,
    };
    let facts = RunFacts {
        started_at,
        measured_seconds: end
            .saturating_duration_since(shared.measure_from)
            .as_secs_f64(),
        queued_at_end,
        in_flight_at_end,
        interrupted,
        cpu_seconds: process_cpu_seconds(std::process::id()) - cpu_before,
        protocol: protocol.map(|p| {
            match p {
                Protocol::Http1 => "HTTP/1.1 over TLS",
                Protocol::Http2 => "HTTP/2 over TLS",
            }
            .to_owned()
        }),
    };
    let stats = shared.stats.lock().map(|s| s.clone()).unwrap_or_default();
    Ok(build(shared.config.clone(), &stats, facts))
}

/// The virtual users connection `c` serves: every C-th user from the first.
fn users_of(config: &LoadConfig, script: &Arc<Script>, c: u64) -> Vec<VirtualUser> {
    let scenario = &config.scenario;
    if !script.logs_in() {
        return vec![VirtualUser::new(scenario.first_user + c, script, scenario)];
    }
    (c..scenario.users)
        .step_by(config.connections as usize)
        .map(|i| VirtualUser::new(scenario.first_user + i, script, scenario))
        .collect()
}

/// Where one connection sends: its target's `Host` and transport.
#[derive(Clone)]
struct Route {
    host: String,
    transport: Arc<Transport>,
}

async fn connection(shared: Arc<Shared>, route: Route, mut users: Vec<VirtualUser>) {
    let Route { host, transport } = route;
    let config = &shared.config;
    let mut conn = Conn::new();
    let mut request = Vec::with_capacity(1024);
    let think = config.scenario.file.as_ref().and_then(|f| f.think);
    let mut turn = 0;
    loop {
        let ticket = shared.claimed.fetch_add(1, Relaxed);
        if ticket >= config.max_requests {
            return;
        }
        let now = Instant::now();
        let intended = match config.mode {
            LoopMode::Closed => now,
            LoopMode::Open { rate } => shared.start + Duration::from_secs_f64(ticket as f64 / rate),
        };
        if intended >= shared.deadline {
            return;
        }
        // A connection that claims its request early is idle until the
        // intended time: nothing queued, so latency starts at the actual
        // send (the timer's ~1 ms granularity is the generator's own delay,
        // not the server's). A request claimed late waited for a busy
        // connection: its latency starts at the intended time.
        let (sent, latency_from) = if intended > now {
            tokio::time::sleep_until(intended.into()).await;
            let sent = Instant::now();
            (sent, sent)
        } else {
            (now, intended)
        };
        let count = users.len();
        let user = &mut users[turn];
        let step = user.next(&config.scenario, &host, &mut request);
        shared.issued.fetch_add(1, Relaxed);
        let keep = user.keep(step);
        let outcome = match conn
            .exchange(&transport, &request, keep, sent + config.timeout)
            .await
        {
            Ok(reply) => {
                // Until one login of a scenario file has worked, each
                // login's answer is kept for the error that would say why.
                let watched = step == Action::Login
                    && config.scenario.file.is_some()
                    && shared.logins.undecided();
                let answer = watched.then(|| answer(&reply));
                let outcome = user.apply(step, reply);
                if let Some(answer) = answer {
                    shared.logins.record(outcome, answer);
                }
                outcome
            }
            Err(outcome) => outcome,
        };
        if config.scenario.file.is_some() && shared.logins.hopeless() {
            return;
        }
        // A connection serves one user's whole visit (login, K requests,
        // logout) before the next user's, as real clients arrive: the mix
        // of steps is the steady one from the first request on.
        if user.visit_over(step, outcome, &config.scenario) {
            turn = (turn + 1) % count;
        }
        let done = Instant::now();
        if let Ok(mut stats) = shared.stats.lock() {
            if intended >= shared.measure_from {
                stats.record(step, outcome, done - latency_from, done - sent);
            }
            if config.timeline {
                let second = (done - shared.start).as_secs() as usize;
                stats.record_second(second, outcome, done - latency_from);
            }
        }
        shared.finished.fetch_add(1, Relaxed);
        shared.progress.completed.fetch_add(1, Relaxed);
        if outcome.is_error() {
            shared.progress.errors.fetch_add(1, Relaxed);
        }
        if outcome == Outcome::ConnectError && config.mode == LoopMode::Closed {
            // Nothing listens: do not spin; the next attempt retries.
            tokio::time::sleep(Duration::from_millis(10)).await;
        } else if let Some(think) = think {
            // The user reads the answer (closed loop: the next request's
            // latency starts when it is sent).
            let until = (Instant::now() + think.0).min(shared.deadline);
            tokio::time::sleep_until(until.into()).await;
        }
    }
}
