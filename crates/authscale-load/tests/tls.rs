//! The load generator over TLS against an HTTPS service of the test's own
//! (hyper's server behind rustls, a CA made for the test): trust by
//! `--ca-file`, refusal of an untrusted certificate with a message that
//! says what to do, `--insecure`, and HTTP/2 by ALPN with a cookie login
//! and a bearer-token login declared in scenario files.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use authscale_load::{LoadConfig, LoadError, LoadResult, Scenario, Target, TlsOptions, UserAuth};
use authscale_testkit::TlsServer;

async fn target(server: &TlsServer, options: TlsOptions) -> Target {
    let mut target = authscale_load::resolve_target(
        &format!("https://localhost:{}", server.addr().port()),
        false,
    )
    .await
    .expect("loopback target");
    options.apply(&mut target).expect("TLS options");
    target
}

fn trusting(server: &TlsServer) -> TlsOptions {
    TlsOptions {
        ca_file: Some(server.ca_file()),
        ..TlsOptions::default()
    }
}

fn bounded(target: Target) -> LoadConfig {
    let mut config = LoadConfig::new(target);
    config.connections = 4;
    config.duration = Duration::from_secs(1);
    config.max_requests = 400;
    config.timeout = Duration::from_secs(5);
    config
}

async fn run(config: LoadConfig) -> Result<LoadResult, LoadError> {
    authscale_load::run(config, std::future::pending(), None).await
}

/// A bounded run against `server` trusting its CA, every answer of which
/// must be a 2xx.
async fn trusted_run(server: &TlsServer) -> LoadResult {
    let result = run(bounded(target(server, trusting(server)).await))
        .await
        .expect("the server's CA is trusted");
    assert!(all_ok(&result), "{:?}", result.by_step);
    result
}

fn scenario(text: &str) -> Scenario {
    let dir = std::env::temp_dir().join(format!("authscale-tls-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("folder");
    let path = dir.join(format!(
        "{:x}.toml",
        text.len() * 31 + text.as_bytes()[20] as usize
    ));
    std::fs::write(&path, text).expect("write scenario");
    let scenario = Scenario::from_file(&path).expect("valid scenario");
    let _ = std::fs::remove_file(path);
    scenario
}

fn protected_ok(result: &LoadResult) -> u64 {
    result
        .by_step
        .get("api")
        .and_then(|c| c.get("2xx"))
        .copied()
        .unwrap_or(0)
}

/// Every answer of every step was a 2xx.
fn all_ok(result: &LoadResult) -> bool {
    result.requests > 0
        && result
            .by_step
            .values()
            .all(|outcomes| outcomes.keys().all(|outcome| outcome == "2xx"))
}

#[tokio::test]
async fn https_with_the_service_ca_is_trusted_and_speaks_http1() {
    let server = TlsServer::start().await;
    let result = trusted_run(&server).await;
    assert!(server.seen().http1.load(Relaxed) > 0);
    assert_eq!(result.protocol.as_deref(), Some("HTTP/1.1 over TLS"));
    assert_eq!(
        server.seen().http2.load(Relaxed),
        0,
        "HTTP/2 was not asked for"
    );
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_naming_ca_file() {
    let server = TlsServer::start().await;
    let err = run(bounded(target(&server, TlsOptions::default()).await))
        .await
        .expect_err("a CA made by the test is in no system root store");
    let said = err.to_string();
    assert!(matches!(err, LoadError::Tls(_)), "{said}");
    assert!(
        said.contains("not trusted") && said.contains("--ca-file"),
        "{said}"
    );
    assert_eq!(
        server.seen().http1.load(Relaxed) + server.seen().http2.load(Relaxed),
        0,
        "no request may reach an untrusted server"
    );
    // A CA that did not sign it is no better, and the message names the file.
    let other = std::env::temp_dir().join(format!("authscale-other-ca-{}.pem", std::process::id()));
    std::fs::write(&other, authscale_testkit::unrelated_ca_pem()).expect("write");
    let err = run(bounded(
        target(
            &server,
            TlsOptions {
                ca_file: Some(other.clone()),
                ..TlsOptions::default()
            },
        )
        .await,
    ))
    .await
    .expect_err("wrong CA");
    let _ = std::fs::remove_file(&other);
    assert!(
        err.to_string().contains(&other.display().to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn insecure_accepts_the_certificate() {
    let server = TlsServer::start().await;
    let insecure = TlsOptions {
        insecure: true,
        ..TlsOptions::default()
    };
    let result = run(bounded(target(&server, insecure).await))
        .await
        .expect("insecure run");
    assert!(all_ok(&result), "{:?}", result.by_step);
}

#[tokio::test]
async fn http2_is_used_when_offered_and_credentials_travel_over_it() {
    let server = TlsServer::start().await;
    let h2 = || TlsOptions {
        http2: true,
        ..trusting(&server)
    };
    // A cookie session.
    let mut config = bounded(target(&server, h2()).await);
    config.scenario.auth = UserAuth::Session;
    config.scenario.users = 4;
    config.scenario.requests_per_login = 5;
    config.scenario.file = Some(scenario(
        "[login]\nmethod = \"POST\"\npath = \"/login\"\nbody = { json = { user = \"{user}\" } }\n\
         [credential]\ncookie = \"sid\"\n[[request]]\npath = \"/api/me\"\n\
         [logout]\nmethod = \"POST\"\npath = \"/logout\"\n",
    ));
    let result = run(config).await.expect("h2 cookie run");
    assert!(protected_ok(&result) > 0, "{:?}", result.by_step);
    assert!(all_ok(&result), "{:?}", result.by_step);
    assert_eq!(server.seen().http1.load(Relaxed), 0, "ALPN picked h2");
    assert_eq!(result.protocol.as_deref(), Some("HTTP/2 over TLS"));
    let after_cookie = server.seen().authorized.load(Relaxed);
    assert!(after_cookie > 0);
    // A bearer token from the login's JSON.
    let mut config = bounded(target(&server, h2()).await);
    config.scenario.auth = UserAuth::Token;
    config.scenario.users = 4;
    config.scenario.file = Some(scenario(
        "[login]\nmethod = \"POST\"\npath = \"/login\"\nbody = { form = { u = \"{user}\" } }\n\
         [credential]\njson-pointer = \"/token\"\n[[request]]\npath = \"/api/me\"\n",
    ));
    let result = run(config).await.expect("h2 token run");
    assert!(all_ok(&result), "{:?}", result.by_step);
    assert!(server.seen().authorized.load(Relaxed) > after_cookie);
}

#[tokio::test]
async fn a_self_signed_certificate_given_as_ca_file_is_trusted_for_its_names() {
    let server = TlsServer::start_self_signed().await;
    trusted_run(&server).await;
    // The same certificate does not vouch for a name it does not carry.
    let mut elsewhere = authscale_load::resolve_target(
        &format!("https://127.0.0.2:{}", server.addr().port()),
        false,
    )
    .await
    .expect("target");
    trusting(&server).apply(&mut elsewhere).expect("options");
    elsewhere.addr = server.addr();
    let err = run(bounded(elsewhere)).await.expect_err("wrong name");
    assert!(
        err.to_string().contains("refused") || err.to_string().contains("not trusted"),
        "{err}"
    );
}
