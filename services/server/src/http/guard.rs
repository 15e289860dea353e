//! What every `/v1` request passes before its handler: the API key and the role
//! its route needs, the key's rate limit and the request deadline; and the gate
//! that bounds how much generation work may wait.

use crate::error_codes as codes;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{ApiError, AppState};
use folio_app::keys::{Caller, Role};

/// The role a route needs. Reads need a viewer, writes an editor, key
/// management an admin; searching and asking are reads even though they POST.
pub fn required_role(method: &Method, route: &str) -> Role {
    if route.starts_with("/v1/keys") {
        return Role::Admin;
    }
    let reads_by_post = ["/v1/search", "/v1/ask", "/v1/chat/completions"];
    if method == Method::GET || method == Method::HEAD || reads_by_post.contains(&route) {
        Role::Viewer
    } else {
        Role::Editor
    }
}

/// The key on a request: `Authorization: Bearer <key>` or `X-Api-Key: <key>`.
fn presented_key(request: &Request) -> Option<&str> {
    let headers = request.headers();
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        return value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim);
    }
    headers.get("x-api-key")?.to_str().ok().map(str::trim)
}

/// Middleware of every `/v1` route: authenticates, checks the route's role,
/// applies the key's rate limit, and hands the [`Caller`] to the handler.
pub async fn authorize(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| request.uri().path().to_string());
    let caller = if state.runtime.config.server.auth {
        let key = presented_key(&request).ok_or(folio_app::AppError::MissingApiKey)?;
        // The peer as the socket sees it: a proxy in front makes every client one
        // address, which then shares one failure budget (proven keys are exempt).
        let client = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        state.keys.verify(key, client).await?
    } else {
        Caller {
            tenant_id: state.runtime.tenant.id.clone(),
            role: Role::Admin,
            key_id: None,
        }
    };
    let needed = required_role(request.method(), &route);
    if caller.role < needed {
        return Err(ApiError::new(
            &codes::INSUFFICIENT_ROLE,
            format!(
                "this route needs the {} role; the key has {}",
                needed.as_str(),
                caller.role.as_str()
            ),
        ));
    }
    if let Some(key_id) = &caller.key_id {
        if let Err(wait) = state.limiter.admit(key_id) {
            return Err(ApiError::new(
                &codes::RATE_LIMITED,
                format!(
                    "this key made too many requests; retry in {} s",
                    retry_after_secs(wait)
                ),
            )
            .retry_after(wait));
        }
    }
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

/// Middleware bounding the time to a response (a stream's first bytes count).
pub async fn deadline(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let secs = state.runtime.config.server.request_timeout_secs;
    if secs == 0 {
        return next.run(request).await;
    }
    match tokio::time::timeout(Duration::from_secs(secs), next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            &codes::REQUEST_TIMEOUT,
            format!("the request took longer than {secs} s"),
        )
        .into_response(),
    }
}

/// Middleware giving each request an id (the client's `x-request-id`, or a new
/// one), a log span carrying it, a log line, and its latency metric by route.
pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_string);
    let span = tracing::info_span!("request", id = %request_id, method = %method, route = %route);
    let mut response = tracing::Instrument::instrument(next.run(request), span.clone()).await;
    let status = response.status().as_u16();
    let took = started.elapsed();
    span.in_scope(|| {
        tracing::info!(status, ms = took.as_secs_f64() * 1000.0, "request");
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    state.metrics.observe_http(
        crate::metrics::HttpLabels {
            method,
            route,
            status,
        },
        took,
    );
    response
}

/// A generation slot for a request of `tenant`, with its wait recorded. The
/// tenant's own share is taken first, so one tenant cannot fill the queue.
pub async fn generation_slot(state: &AppState, tenant: &str) -> Result<LlmSlot, ApiError> {
    let tenant_slot = state.tenant_asks.enter(tenant)?;
    let started = Instant::now();
    let mut slot = state.llm_gate.enter().await?;
    slot._tenant = Some(tenant_slot);
    state
        .metrics
        .observe_llm_wait(started.elapsed(), state.llm_gate.waiting());
    Ok(slot)
}

/// Whole seconds a client should wait (at least 1).
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

impl ApiError {
    /// Adds a `Retry-After` header to the response.
    pub fn retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = HeaderValue::from_str(&retry_after_secs(wait).to_string()).ok();
        self
    }
}

/// Per-key token buckets: `per_minute` requests a minute, bursts of `burst`.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// A limiter; `per_minute == 0` admits everything.
    pub fn new(per_minute: u32) -> Self {
        RateLimiter {
            per_minute,
            burst: (f64::from(per_minute) / 6.0).max(10.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token of `key`'s bucket, or says how long until one is there.
    pub fn admit(&self, key: &str) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let rate = f64::from(self.per_minute) / 60.0;
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let (tokens, last) = buckets.entry(key.to_string()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / rate))
        }
    }
}

/// Bounds generation: `concurrency` answers at once, `queue` more waiting; a
/// request beyond that is refused at once instead of piling up.
#[derive(Debug)]
pub struct LlmGate {
    slots: Arc<Semaphore>,
    concurrency: usize,
    waiting: AtomicUsize,
    queue: usize,
}

/// A generation slot, held until the answer (or its stream) is finished.
#[derive(Debug)]
pub struct LlmSlot {
    _permit: OwnedSemaphorePermit,
    _tenant: Option<TenantSlot>,
}

impl LlmGate {
    /// A gate with `concurrency` slots (at least 1) and room for `queue` waiters.
    pub fn new(concurrency: usize, queue: usize) -> Self {
        LlmGate {
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            concurrency: concurrency.max(1),
            waiting: AtomicUsize::new(0),
            queue,
        }
    }

    /// Requests waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Waits for a slot, or refuses with 503 and Retry-After when the queue is full.
    pub async fn enter(&self) -> Result<LlmSlot, ApiError> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(LlmSlot {
                _permit: permit,
                _tenant: None,
            });
        }
        let queued = self.waiting.fetch_add(1, Ordering::SeqCst);
        if queued >= self.queue {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError::new(
                &codes::LLM_BUSY,
                format!(
                    "{} answers are being generated and {queued} are waiting; retry shortly",
                    self.concurrency
                ),
            )
            .retry_after(Duration::from_secs(5)));
        }
        // Counted out however the wait ends: a request dropped while it waits
        // (deadline, client gone) must give its place in the queue back.
        let _waiting = CountedWaiter(&self.waiting);
        let permit = self.slots.clone().acquire_owned().await;
        let permit = permit
            .map_err(|_| ApiError::new(&codes::SHUTTING_DOWN, "the server is shutting down"))?;
        Ok(LlmSlot {
            _permit: permit,
            _tenant: None,
        })
    }
}

/// A request's place in a wait counter, given back when dropped.
struct CountedWaiter<'a>(&'a AtomicUsize);

impl Drop for CountedWaiter<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Bounds the requests of one kind (searches, answers) each tenant runs at once,
/// so that one tenant's flood takes its own share of the cores and the
/// generation queue and leaves the rest to the others. A request over the share
/// is refused at once with 429 and Retry-After rather than queued: waiting
/// requests would hold their connections and memory all the same.
#[derive(Debug)]
pub struct TenantGate {
    limit: usize,
    what: &'static str,
    running: Mutex<HashMap<String, usize>>,
}

/// One tenant's place in a [`TenantGate`], given back when dropped.
#[derive(Debug)]
pub struct TenantSlot {
    gate: Arc<TenantGate>,
    tenant: String,
}

impl TenantGate {
    /// A gate admitting `limit` requests per tenant (0 = no limit); `what` names
    /// them in the refusal ("searches").
    pub fn new(limit: usize, what: &'static str) -> Arc<Self> {
        Arc::new(TenantGate {
            limit,
            what,
            running: Mutex::new(HashMap::new()),
        })
    }

    /// Requests of `tenant` running now.
    pub fn running(&self, tenant: &str) -> usize {
        self.running
            .lock()
            .map_or(0, |running| running.get(tenant).copied().unwrap_or(0))
    }

    /// Takes a place for `tenant`, or refuses with 429 `tenant_busy`.
    pub fn enter(self: &Arc<Self>, tenant: &str) -> Result<TenantSlot, ApiError> {
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = running.entry(tenant.to_string()).or_insert(0);
        if self.limit > 0 && *count >= self.limit {
            let wait = Duration::from_secs(1);
            return Err(ApiError::new(
                &codes::TENANT_BUSY,
                format!(
                    "this tenant already runs {} {} at once; retry in {} s",
                    *count,
                    self.what,
                    retry_after_secs(wait)
                ),
            )
            .retry_after(wait));
        }
        *count += 1;
        Ok(TenantSlot {
            gate: Arc::clone(self),
            tenant: tenant.to_string(),
        })
    }
}

impl Drop for TenantSlot {
    fn drop(&mut self) {
        let mut running = self
            .gate
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = running.get_mut(&self.tenant) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(&self.tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiter_dropped_in_the_queue_gives_its_place_back() {
        let gate = LlmGate::new(1, 2);
        let running = gate.enter().await.ok();
        assert!(running.is_some());
        for _ in 0..5 {
            // Waits, then is dropped (as a request at its deadline is).
            let waited = tokio::time::timeout(Duration::from_millis(20), gate.enter()).await;
            assert!(waited.is_err(), "no slot is free");
        }
        assert_eq!(gate.waiting(), 0);
        drop(running);
        assert!(gate.enter().await.is_ok(), "the queue is not left full");
    }

    #[test]
    fn writes_need_an_editor_and_keys_an_admin() {
        assert_eq!(required_role(&Method::GET, "/v1/documents"), Role::Viewer);
        assert_eq!(required_role(&Method::POST, "/v1/search"), Role::Viewer);
        assert_eq!(required_role(&Method::POST, "/v1/ask"), Role::Viewer);
        assert_eq!(required_role(&Method::POST, "/v1/documents"), Role::Editor);
        assert_eq!(
            required_role(&Method::DELETE, "/v1/documents/{id}"),
            Role::Editor
        );
        assert_eq!(required_role(&Method::GET, "/v1/keys"), Role::Admin);
        // A route nobody classified is a write: the safe side.
        assert_eq!(required_role(&Method::PATCH, "/v1/new"), Role::Editor);
    }

    #[test]
    fn a_key_gets_its_burst_then_waits() {
        let limiter = RateLimiter::new(60);
        for _ in 0..10 {
            assert!(limiter.admit("k").is_ok());
        }
        let wait = limiter.admit("k").expect_err("the burst is spent");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        // Another key has its own bucket.
        assert!(limiter.admit("other").is_ok());
        assert!(RateLimiter::new(0).admit("k").is_ok());
    }

    #[tokio::test]
    async fn a_full_queue_refuses_instead_of_waiting() {
        let gate = Arc::new(LlmGate::new(1, 1));
        let first = gate.enter().await.expect("a free slot");
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.enter().await.map(|_| ()) })
        };
        while gate.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        let refused = gate.enter().await.expect_err("slot taken, queue full");
        assert_eq!(
            refused.status(),
            axum::http::StatusCode::SERVICE_UNAVAILABLE
        );
        assert!(refused.retry_after.is_some());
        assert!(
            refused
                .message
                .starts_with("1 answers are being generated and 1 are waiting"),
            "{}",
            refused.message
        );
        drop(first);
        waiter
            .await
            .expect("the waiter ran")
            .expect("the waiter got the freed slot");
    }

    #[test]
    fn a_tenant_over_its_share_is_refused_and_others_are_not() {
        let gate = TenantGate::new(2, "searches");
        let first = gate.enter("a").expect("1 of 2");
        let _second = gate.enter("a").expect("2 of 2");
        let refused = gate.enter("a").expect_err("3 of 2");
        assert_eq!(refused.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.code.name, "tenant_busy");
        assert!(refused.retry_after.is_some());
        assert!(gate.enter("b").is_ok(), "another tenant has its own share");
        drop(first);
        assert_eq!(gate.running("a"), 1);
        let _third = gate.enter("a").expect("a place was given back");
        assert!(TenantGate::new(0, "searches").enter("a").is_ok());
    }
}
