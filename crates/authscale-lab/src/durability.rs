//! Durability of auth state across a fault: before it, some users log out
//! and others stay logged in; after it, every revoked credential is tried
//! again on every node and every kept one through the proxy, and what the
//! system forgot is counted. Real requests only: nothing here knows what a
//! mode should forget.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::http;
use authscale_schema::Durability;

/// How many users are probed at once (each probe is one short connection).
const CONCURRENCY: usize = 8;

/// How long probes keep retrying an answer that is neither 200 nor 401
/// (the store or a node still coming back).
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// A user's credential as a client sends it: the stable `uid` cookie (the
/// proxy pins sticky users by it) with the session cookie, or with the
/// bearer token.
#[derive(Debug, Clone)]
pub(crate) struct Credential {
    pub headers: Vec<(String, String)>,
}

impl Credential {
    pub fn headers(&self) -> Vec<(&str, &str)> {
        self.headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

/// Logs `user` of the seeded directory in through the proxy.
pub(crate) async fn login(
    proxy: SocketAddr,
    seed: u64,
    user: u64,
    deadline: Instant,
) -> anyhow::Result<Credential> {
    let password = authscale_auth::Directory::new(seed, u64::MAX).password(user);
    let body =
        serde_json::json!({ "user": authscale_auth::Directory::name(user), "password": password })
            .to_string();
    let client = format!("uid={user}");
    let headers = [("Cookie", client.as_str())];
    let answer = until_definite(deadline, || {
        http::send(proxy, "POST", "/login", &headers, &body)
    })
    .await;
    let login = match answer {
        Some(a) if a.status == 200 => a,
        other => anyhow::bail!(
            "the login of user {user} answered {:?}",
            other.map(|a| (a.status, a.body))
        ),
    };
    if let Some(pair) = login.header("set-cookie").and_then(|c| c.split(';').next()) {
        return Ok(Credential {
            headers: vec![("Cookie".into(), format!("{client}; {pair}"))],
        });
    }
    let body: serde_json::Value = serde_json::from_str(&login.body).context("login body")?;
    let mut headers = vec![("Cookie".to_owned(), client)];
    if let Some(token) = body["access_token"].as_str() {
        headers.push(("Authorization".into(), format!("Bearer {token}")));
    }
    // Neither cookie nor token (mode none): the user sends no credential.
    Ok(Credential { headers })
}

/// Retries `request` until it answers anything but a 5xx (or fails to
/// connect), or `deadline` passes; None when it never did.
async fn until_definite<F, Fut>(deadline: Instant, mut request: F) -> Option<http::Answer>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<http::Answer>>,
{
    loop {
        match request().await {
            Ok(answer) if answer.status < 500 => return Some(answer),
            _ if Instant::now() >= deadline => return None,
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The status of `GET /api/me` with `credential` at `addr`: 200 or 401,
/// or None when no such answer came by `deadline`.
async fn me(addr: SocketAddr, credential: &Credential, deadline: Instant) -> Option<u16> {
    let headers = credential.headers();
    let answer = until_definite(deadline, || {
        http::send(addr, "GET", "/api/me", &headers, "")
    })
    .await?;
    matches!(answer.status, 200 | 401).then_some(answer.status)
}

/// The durability users' state before the fault.
#[derive(Debug)]
pub(crate) struct Before {
    logged_out: u64,
    /// Credentials every node refused after their logout.
    revoked: Vec<Credential>,
    /// Credentials accepted while their users stay logged in.
    kept: Vec<Credential>,
}

/// Where the probes go.
#[derive(Debug, Clone)]
pub(crate) struct Targets {
    pub proxy: SocketAddr,
    pub nodes: Vec<SocketAddr>,
    pub seed: u64,
}

/// Runs `f` for each item, `CONCURRENCY` at a time, in order of the items.
async fn each<T, R, F, Fut>(items: Vec<T>, f: F) -> anyhow::Result<Vec<R>>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<R>> + Send + 'static,
{
    let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let f = Arc::new(f);
    let mut tasks = JoinSet::new();
    for (i, item) in items.into_iter().enumerate() {
        let (permits, f) = (permits.clone(), f.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await?;
            Ok::<_, anyhow::Error>((i, f(item).await?))
        });
    }
    let mut out = Vec::new();
    while let Some(done) = tasks.join_next().await {
        out.push(done??);
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, r)| r).collect())
}

/// Before the fault: users `first..first+count` log in and out (a
/// logout counts as a revocation once every node refuses the credential,
/// which may take up to `settle`, a node cache's lifetime); users
/// `first+count..first+2·count` log in and stay.
pub(crate) async fn before(
    targets: &Targets,
    first: u64,
    count: u64,
    settle: Duration,
) -> anyhow::Result<Before> {
    let deadline = Instant::now() + ANSWER_WITHIN;
    let t = targets.clone();
    let logged_out = each((first..first + count).collect(), move |user| {
        let t = t.clone();
        async move {
            let credential = login(t.proxy, t.seed, user, deadline).await?;
            let headers = credential.headers();
            let logout = until_definite(deadline, || {
                http::send(t.proxy, "POST", "/logout", &headers, "")
            })
            .await;
            anyhow::ensure!(
                logout.as_ref().is_some_and(|a| a.status == 204),
                "the logout of user {user} answered {:?}",
                logout.map(|a| a.status)
            );
            Ok(credential)
        }
    })
    .await?;
    let settled = Instant::now() + settle;
    let t = targets.clone();
    let refused = each(logged_out.clone(), move |credential| {
        let t = t.clone();
        async move {
            loop {
                let mut everywhere = true;
                for node in &t.nodes {
                    everywhere &= me(*node, &credential, deadline).await == Some(401);
                }
                if everywhere {
                    return Ok(Some(credential));
                }
                if Instant::now() >= settled {
                    return Ok(None);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    })
    .await?;
    let t = targets.clone();
    let kept = each((first + count..first + 2 * count).collect(), move |user| {
        let t = t.clone();
        async move {
            let credential = login(t.proxy, t.seed, user, deadline).await?;
            Ok((me(t.proxy, &credential, deadline).await == Some(200)).then_some(credential))
        }
    })
    .await?;
    Ok(Before {
        logged_out: logged_out.len() as u64,
        revoked: refused.into_iter().flatten().collect(),
        kept: kept.into_iter().flatten().collect(),
    })
}

/// After the fault: every revoked credential on every node (lost when any
/// node accepts it), every kept one through the proxy (lost when refused).
pub(crate) async fn after(targets: &Targets, before: Before) -> anyhow::Result<Durability> {
    let deadline = Instant::now() + ANSWER_WITHIN;
    let t = targets.clone();
    let revoked = each(before.revoked.clone(), move |credential| {
        let t = t.clone();
        async move {
            let mut answers = Vec::new();
            for node in &t.nodes {
                answers.push(me(*node, &credential, deadline).await);
            }
            Ok(answers)
        }
    })
    .await?;
    let t = targets.clone();
    let kept = each(before.kept.clone(), move |credential| {
        let t = t.clone();
        async move { Ok(me(t.proxy, &credential, deadline).await) }
    })
    .await?;
    let accepted_again = |a: &Vec<Option<u16>>| a.contains(&Some(200));
    Ok(Durability {
        logged_out: before.logged_out,
        revocations_checked: before.revoked.len() as u64,
        revocations_lost: revoked.iter().filter(|a| accepted_again(a)).count() as u64,
        sessions_checked: before.kept.len() as u64,
        sessions_lost: kept.iter().filter(|a| **a == Some(401)).count() as u64,
        unanswered: revoked
            .iter()
            .filter(|a| !accepted_again(a) && a.contains(&None))
            .count() as u64
            + kept.iter().filter(|a| a.is_none()).count() as u64,
    })
}
