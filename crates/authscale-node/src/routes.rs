//! The routes of a node and the auth scheme behind them.

use std::time::Instant;

use authscale_auth::{
    AuthError, CachedStore, Claims, Directory, LoginThrottle, MemoryStore, Reason, RedisStore,
    SessionScheme, SessionStore, TokenScheme, User, bearer_token,
};
use bytes::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::config::{AuthMode, NodeConfig, NodeError};
use crate::metrics::{Metrics, Route};
use crate::parts::{cookie_header, no_store, read_login, too_many_failures, user_body};
use crate::sessions::Sessions;
use crate::work::Work;
use authscale_http::framing;
use authscale_http::respond::{self, Body};

impl authscale_http::Handler for Node {
    type Body = Body;
    type BodyError = std::convert::Infallible;

    async fn handle(
        &self,
        req: Request<hyper::body::Incoming>,
        _peer: std::net::SocketAddr,
    ) -> Response<Body> {
        self.handle(req).await
    }
}

enum Auth {
    None,
    Session(SessionScheme<Sessions>),
    /// token, and token-denylist with its store.
    Token {
        scheme: Box<TokenScheme>,
        denylist: Option<RedisStore>,
    },
}

/// A node's state, shared by all its connections.
pub struct Node {
    mode: AuthMode,
    auth: Auth,
    directory: Directory,
    throttle: LoginThrottle,
    /// The session modes' challenge, naming the cookie actually in use.
    cookie_challenge: HeaderValue,
    work: Work,
    work_us: u64,
    node_id: String,
    body_timeout: std::time::Duration,
    metrics: Metrics,
    info: Vec<(&'static str, String)>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("mode", &self.mode)
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Validates the configuration and prepares the auth scheme; calibrates
    /// the CPU work loop. Does not contact the store.
    pub fn new(config: NodeConfig) -> Result<Node, NodeError> {
        let mut info = vec![("auth", config.auth.as_str().to_owned())];
        let store = || {
            let store_config = config.store.as_ref().ok_or_else(|| {
                NodeError::Invalid(format!(
                    "{} mode needs a store: pass --redis-url",
                    config.auth.as_str()
                ))
            })?;
            Ok::<_, NodeError>(RedisStore::new(store_config)?)
        };
        let sessions = |backend| Auth::Session(SessionScheme::new(backend, config.session.clone()));
        let auth = match config.auth {
            AuthMode::None => Auth::None,
            AuthMode::Session => sessions(Sessions::Shared(store()?)),
            AuthMode::SessionCached => {
                info.push((
                    "session_cache_ttl_ms",
                    config.session_cache_ttl.as_millis().to_string(),
                ));
                sessions(Sessions::Cached(CachedStore::new(
                    store()?,
                    config.session_cache_ttl,
                    config.session_capacity,
                )))
            }
            AuthMode::Sticky => {
                sessions(Sessions::Local(MemoryStore::new(config.session_capacity)))
            }
            AuthMode::Token | AuthMode::TokenDenylist => {
                let token_config = config.token.clone().ok_or_else(|| {
                    NodeError::Invalid("token mode needs a token configuration".into())
                })?;
                let scheme = TokenScheme::new(token_config)?;
                info.push(("alg", format!("{:?}", scheme.algorithm())));
                info.push(("backend", scheme.backend().to_owned()));
                let denylist = if config.auth == AuthMode::TokenDenylist {
                    Some(store()?)
                } else {
                    None
                };
                Auth::Token {
                    scheme: Box::new(scheme),
                    denylist,
                }
            }
        };
        if config.users == 0 {
            return Err(NodeError::Invalid(
                "the user directory needs at least one user".into(),
            ));
        }
        let cookie_challenge = match &auth {
            Auth::Session(scheme) => HeaderValue::from_str(&format!(
                r#"Cookie realm="authscale", cookie-name="{}""#,
                scheme.cookie_name()
            ))
            .map_err(|e| NodeError::Invalid(format!("cookie challenge: {e}")))?,
            _ => HeaderValue::from_static(r#"Cookie realm="authscale""#),
        };
        let work = Work::calibrate();
        info.push(("node", config.node_id.clone()));
        info.push(("work_us", config.work_us.to_string()));
        Ok(Node {
            mode: config.auth,
            auth,
            directory: Directory::new(config.directory_seed, config.users),
            throttle: LoginThrottle::new(config.login_throttle),
            cookie_challenge,
            work,
            work_us: config.work_us,
            node_id: config.node_id,
            body_timeout: config.body_timeout,
            metrics: Metrics::default(),
            info,
        })
    }

    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn work(&self) -> &Work {
        &self.work
    }

    /// Answers one request. Never fails: every outcome is a response.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: hyper::body::Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let route = Route::from_path(req.uri().path());
        // A body in a transfer coding the node cannot decode is not read.
        let coding = framing::unimplemented_transfer_coding(req.headers());
        // Only a login reads its body; any other request that carries one
        // is answered with the body unread, and its connection then closes
        // (said in the answer, so a proxy does not reuse it meanwhile).
        let reads_body = route == Route::Login && req.method() == Method::POST && coding.is_none();
        let unread_body = !reads_body
            && (req.headers().contains_key(hyper::header::TRANSFER_ENCODING)
                || req
                    .headers()
                    .get(hyper::header::CONTENT_LENGTH)
                    .is_some_and(|v| v.as_bytes() != b"0"));
        let mut response = match (route, req.method()) {
            _ if coding.is_some() => respond::error(
                StatusCode::NOT_IMPLEMENTED,
                "transfer_coding_not_implemented",
            ),
            (Route::Login, &Method::POST) => self.login(req).await,
            (Route::Me, &Method::GET) => self.me(&req).await,
            (Route::Logout, &Method::POST) => self.logout(&req).await,
            (Route::Healthz, &Method::GET | &Method::HEAD) => {
                respond::json(StatusCode::OK, r#"{"status":"ok"}"#.into())
            }
            (Route::Readyz, &Method::GET | &Method::HEAD) => self.readyz().await,
            (Route::Metrics, &Method::GET | &Method::HEAD) => self.render_metrics(),
            (Route::Other, _) => respond::error(StatusCode::NOT_FOUND, "no_such_route"),
            (route, _) => respond::method_not_allowed(route.methods()),
        };
        if route.holds_credentials() {
            // Every answer on these routes carries or concerns a credential.
            no_store(&mut response);
        }
        if unread_body {
            response
                .headers_mut()
                .insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
        }
        self.metrics.request(route, response.status().as_u16());
        response
    }

    async fn login<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: hyper::body::Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let (parts, body) = req.into_parts();
        let credentials = match read_login(&parts.headers, body, self.body_timeout).await {
            Ok(c) => c,
            Err(response) => return response,
        };
        if let Err(wait) = self.throttle.check(&credentials.user) {
            self.metrics.auth_failure(Reason::TooManyFailures);
            return too_many_failures(wait);
        }
        let Some(user) = self
            .directory
            .authenticate(&credentials.user, &credentials.password)
        else {
            self.throttle.failure(&credentials.user);
            return respond::error(StatusCode::UNAUTHORIZED, "invalid_credentials");
        };
        self.throttle.success(&credentials.user);
        match &self.auth {
            Auth::None => respond::json(StatusCode::OK, user_body(&user.name, &self.node_id)),
            Auth::Session(scheme) => {
                let started = Instant::now();
                let presented = parts
                    .headers
                    .get(header::COOKIE)
                    .and_then(|v| v.to_str().ok());
                let result = scheme.login(&user, presented).await;
                self.metrics.store_call(started.elapsed(), result.is_ok());
                match result {
                    Ok((_, cookie)) => {
                        let mut response =
                            respond::json(StatusCode::OK, user_body(&user.name, &self.node_id));
                        if let Ok(value) = HeaderValue::from_str(&cookie) {
                            response.headers_mut().insert(header::SET_COOKIE, value);
                        }
                        no_store(&mut response);
                        response
                    }
                    // The store logs its errors, at most one line a second.
                    Err(_) => {
                        self.metrics.auth_failure(Reason::StoreUnavailable);
                        respond::store_unavailable()
                    }
                }
            }
            Auth::Token { scheme, .. } => self.issue_token(scheme, &user),
        }
    }

    fn issue_token(&self, scheme: &TokenScheme, user: &User) -> Response<Body> {
        match scheme.issue(user) {
            Ok(issued) => {
                let body = serde_json::json!({
                    "access_token": issued.token,
                    "token_type": "Bearer",
                    "expires_in": issued.expires_in,
                });
                let mut response = respond::json(StatusCode::OK, body.to_string());
                no_store(&mut response);
                response
            }
            Err(e) => {
                // Keys were proven at startup; reaching this is a server bug.
                tracing::error!(error = %e, "token signing failed");
                respond::error(StatusCode::INTERNAL_SERVER_ERROR, "signing_failed")
            }
        }
    }

    async fn me<B>(&self, req: &Request<B>) -> Response<Body> {
        let user = match self.authenticate(req).await {
            Ok(user) => user,
            Err(e) => return self.refuse(&e),
        };
        self.work.run(self.work_us);
        respond::json(StatusCode::OK, user_body(&user, &self.node_id))
    }

    async fn logout<B>(&self, req: &Request<B>) -> Response<Body> {
        match &self.auth {
            Auth::None => respond::no_content(),
            Auth::Session(scheme) => {
                let started = Instant::now();
                let result = scheme.logout(cookie_header(req)).await;
                self.record_store(started, &result);
                match result {
                    Ok(clear) => {
                        let mut response = respond::no_content();
                        if let Ok(value) = HeaderValue::from_str(&clear) {
                            response.headers_mut().insert(header::SET_COOKIE, value);
                        }
                        response
                    }
                    Err(e) => self.refuse(&e),
                }
            }
            // A JWT cannot be revoked before `exp` without shared state:
            // plain token mode only tells the client to discard it; the
            // denylist mode records (iss, jti) until the token would expire.
            Auth::Token { scheme, denylist } => {
                let claims = match self.verify_token(scheme, req) {
                    Ok(claims) => claims,
                    Err(e) => return self.refuse(&e),
                };
                if let Some(store) = denylist {
                    let started = Instant::now();
                    let result = store
                        .put(
                            &claims.denylist_key(),
                            "1",
                            scheme.remaining_lifetime(&claims),
                        )
                        .await;
                    self.metrics.store_call(started.elapsed(), result.is_ok());
                    if let Err(e) = result {
                        return self.refuse(&AuthError::Store(e));
                    }
                }
                respond::no_content()
            }
        }
    }

    /// The authenticated user's name.
    async fn authenticate<B>(&self, req: &Request<B>) -> Result<String, AuthError> {
        match &self.auth {
            Auth::None => Ok("anonymous".to_owned()),
            Auth::Session(scheme) => {
                let started = Instant::now();
                let result = scheme.authenticate(cookie_header(req)).await;
                self.record_store(started, &result);
                result.map(|record| record.user)
            }
            Auth::Token { scheme, denylist } => {
                let claims = self.verify_token(scheme, req)?;
                if let Some(store) = denylist {
                    let started = Instant::now();
                    let result = store.get(&claims.denylist_key(), None).await;
                    self.metrics.store_call(started.elapsed(), result.is_ok());
                    // Fail closed: a token whose revocation cannot be checked is not accepted.
                    if result.map_err(AuthError::Store)?.is_some() {
                        return Err(AuthError::Revoked);
                    }
                }
                Ok(claims.sub)
            }
        }
    }

    fn verify_token<B>(&self, scheme: &TokenScheme, req: &Request<B>) -> Result<Claims, AuthError> {
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().map_err(|_| AuthError::Malformed))
            .transpose()?;
        let token = bearer_token(header)?;
        scheme.verify(token)
    }

    /// Counts a store call, unless the credential was refused before one.
    fn record_store<T>(&self, started: Instant, result: &Result<T, AuthError>) {
        match result {
            Err(AuthError::Missing | AuthError::Malformed) => {}
            Err(AuthError::Store(_)) => self.metrics.store_call(started.elapsed(), false),
            _ => self.metrics.store_call(started.elapsed(), true),
        }
    }

    fn refuse(&self, error: &AuthError) -> Response<Body> {
        self.metrics.auth_failure(error.kind());
        // The store logs its errors, at most one line a second.
        if let AuthError::Store(_) = error {
            return respond::store_unavailable();
        }
        let challenge = match (&self.auth, error) {
            (Auth::Token { .. }, AuthError::Missing) => {
                HeaderValue::from_static(r#"Bearer realm="authscale""#)
            }
            (Auth::Token { .. }, _) => HeaderValue::from_str(&format!(
                r#"Bearer realm="authscale", error="invalid_token", error_description="{}""#,
                error.reason()
            ))
            .unwrap_or(HeaderValue::from_static(
                r#"Bearer realm="authscale", error="invalid_token""#,
            )),
            _ => self.cookie_challenge.clone(),
        };
        respond::unauthorized(challenge, error.reason())
    }

    async fn readyz(&self) -> Response<Body> {
        let ping = match &self.auth {
            Auth::Session(scheme) => scheme.store().ping().await,
            Auth::Token {
                denylist: Some(store),
                ..
            } => store.ping().await,
            _ => Ok(()),
        };
        match ping {
            Ok(()) => respond::json(StatusCode::OK, r#"{"status":"ready"}"#.into()),
            // Unreachable, too slow, or refusing writes (out of memory):
            // the reason says which; the store logs the details.
            Err(e) => {
                let mut response = respond::error(StatusCode::SERVICE_UNAVAILABLE, e.reason());
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
        }
    }

    fn render_metrics(&self) -> Response<Body> {
        let info: Vec<(&str, &str)> = self.info.iter().map(|(k, v)| (*k, v.as_str())).collect();
        respond::text(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            self.metrics.render(&info),
        )
    }
}
