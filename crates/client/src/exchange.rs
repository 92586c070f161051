//! One request and its answer: plain (unauthenticated) calls, and
//! authenticated ones with their response checks and the single retry on
//! an expired session.
//!
//! Rules of an authenticated exchange:
//! 1. the body (JSON, or empty) goes through `ClientSession::prepare_request`
//!    (sealed when the options say so);
//! 2. a response with `Peer-Auth` must verify (and a sealed body open):
//!    otherwise [`ClientError::TamperedResponse`], whatever its status;
//! 3. a response without `Peer-Auth` is accepted only as one of the errors
//!    a node sends before it can authenticate ([`unauthenticated_codes`]),
//!    reported with `authenticated: false`; anything else is
//!    [`ClientError::TamperedResponse`];
//! 4. `session_expired` (and only that code) drops the session, makes a new
//!    one, and sends the request once more; a second `session_expired` is
//!    returned.

use std::time::Duration;

use http::Method;
use peer_crypto::ClientSession;
use peer_crypto::request::{AUTH_HEADER, SEALED_CONTENT_TYPE};
use peer_http::client::{BaseUrl, HttpClient, Request, SseStream};
use peer_proto::{ErrorBody, ErrorCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::client::Client;
use crate::error::{ClientError, Result};

const JSON: &str = "application/json";

/// Error codes a node may answer without a response authenticator: the
/// request never reached an authenticated handler (unknown or expired
/// session, refused authenticator, limits checked first, a route or store
/// failure before authentication).
pub fn unauthenticated_codes() -> &'static [ErrorCode] {
    &[
        ErrorCode::Unauthenticated,
        ErrorCode::SessionExpired,
        ErrorCode::BadAuthenticator,
        ErrorCode::ReplayedRequest,
        ErrorCode::InvalidToken,
        ErrorCode::InvalidHeader,
        ErrorCode::InvalidBody,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::BodyTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::RateLimited,
        ErrorCode::TooManyStreams,
        ErrorCode::HeadersTooLarge,
        ErrorCode::Internal,
        ErrorCode::StoreUnavailable,
        ErrorCode::MainPeerUnavailable,
    ]
}

/// The API error in an error response's body (or `InvalidResponse`).
fn api_error(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
    authenticated: bool,
) -> ClientError {
    // The HTTP parser itself refuses a head far above the limits with a bare
    // 431 before any handler runs: no JSON to read, the status says it all.
    if status == ErrorCode::HeadersTooLarge.status() && body.is_empty() {
        return ClientError::Api {
            code: ErrorCode::HeadersTooLarge,
            message: "request headers too large".into(),
            status,
            retry_after,
            authenticated,
        };
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => ClientError::Api {
            code: error.code,
            message: error.message,
            status,
            retry_after,
            authenticated,
        },
        Err(_) => ClientError::InvalidResponse("an error response without an error body"),
    }
}

fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Parses a successful response body.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body)
        .map_err(|_| ClientError::InvalidResponse("the body is not the JSON this endpoint returns"))
}

fn json_bytes<B: Serialize + ?Sized>(body: &B) -> Result<Zeroizing<Vec<u8>>> {
    serde_json::to_vec(body)
        .map(Zeroizing::new)
        .map_err(|_| ClientError::InvalidArgument("the request body cannot be encoded".into()))
}

/// An unauthenticated call's answer: 2xx parses as `T`; anything else is an
/// API error (`authenticated: false`).
async fn plain<T: DeserializeOwned>(http: &HttpClient, req: Request) -> Result<T> {
    let resp = http.send(req).await?;
    if (200..300).contains(&resp.status) {
        parse(&resp.body)
    } else {
        Err(api_error(
            resp.status,
            &resp.body,
            retry_after(&resp.headers),
            false,
        ))
    }
}

/// `GET` without authentication (node info, health).
pub(crate) async fn plain_get<T: DeserializeOwned>(
    http: &HttpClient,
    base: &BaseUrl,
    target: &str,
) -> Result<T> {
    plain(http, Request::new(Method::GET, base.join(target)?)).await
}

/// `POST` of JSON without authentication (registration, handshake).
pub(crate) async fn plain_post<T: DeserializeOwned, B: Serialize + ?Sized>(
    http: &HttpClient,
    base: &BaseUrl,
    target: &str,
    body: &B,
) -> Result<T> {
    let body = json_bytes(body)?;
    let req = Request::new(Method::POST, base.join(target)?)
        .header("content-type", JSON)
        .body(body.to_vec());
    plain(http, req).await
}

/// What to send in one authenticated exchange.
struct Call<'a> {
    method: Method,
    target: &'a str,
    body: &'a [u8],
    timeout: Option<Duration>,
}

impl Call<'_> {
    fn path(&self) -> String {
        self.target
            .split_once('?')
            .map_or(self.target, |(p, _)| p)
            .to_owned()
    }

    fn tampered(&self, status: u16) -> ClientError {
        ClientError::TamperedResponse {
            method: self.method.to_string(),
            path: self.path(),
            status,
        }
    }
}

impl Client {
    /// An authenticated call answering JSON.
    pub(crate) async fn authed<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        target: String,
        body: Option<&B>,
    ) -> Result<T> {
        let bytes = self.authed_raw(method, &target, body, None).await?;
        parse(&bytes)
    }

    /// An authenticated call whose answer carries nothing of interest.
    pub(crate) async fn authed_unit<B: Serialize + ?Sized>(
        &self,
        method: Method,
        target: String,
        body: Option<&B>,
    ) -> Result<()> {
        self.authed_raw(method, &target, body, None).await?;
        Ok(())
    }

    /// An authenticated call; returns the verified (and opened) body.
    pub(crate) async fn authed_raw<B: Serialize + ?Sized>(
        &self,
        method: Method,
        target: &str,
        body: Option<&B>,
        timeout: Option<Duration>,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let body = match body {
            Some(b) => json_bytes(b)?,
            None => Zeroizing::new(Vec::new()),
        };
        let call = Call {
            method,
            target,
            body: &body,
            timeout,
        };
        let mut retried = false;
        loop {
            let session = self.session().await?;
            match self.exchange_once(&session, &call).await {
                Err(e) if e.is_api(ErrorCode::SessionExpired) && !retried => {
                    tracing::debug!(path = %call.path(), "session expired; handshaking again");
                    retried = true;
                    self.forget_session(session.session_id());
                }
                other => return other,
            }
        }
    }

    async fn exchange_once(
        &self,
        session: &ClientSession,
        call: &Call<'_>,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let mut rng = peer_crypto::rng::system_rng();
        let sealed = self.inner.options.sealed;
        let prepared = session.prepare_request(
            &mut rng,
            call.method.as_str(),
            call.target,
            call.body,
            sealed,
        )?;
        let mut req = Request::new(call.method.clone(), self.inner.base.join(call.target)?);
        for (name, value) in prepared.headers.pairs() {
            req = req.header(name, value);
        }
        if let Some(ct) = prepared.content_type {
            req = req.header("content-type", ct);
        } else if !call.body.is_empty() {
            req = req.header("content-type", JSON);
        }
        if let Some(t) = call.timeout {
            req = req.timeout(t);
        }
        let resp = self.inner.http.send(req.body(prepared.body)).await?;
        let peer_auth = resp.header(AUTH_HEADER);
        let status = resp.status;
        let Some(tag) = peer_auth else {
            return Err(unauthenticated_answer(
                call,
                status,
                &resp.body,
                &resp.headers,
            ));
        };
        let body = prepared
            .verifier
            .verify(status, Some(tag), &resp.body)
            .map(Zeroizing::new)
            .map_err(|_| call.tampered(status))?;
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(api_error(status, &body, retry_after(&resp.headers), true))
        }
    }

    /// Opens an authenticated event stream (`GET` of `target`, never
    /// sealed: the stream's events are hints, its status is authenticated
    /// by `Peer-Auth` over the status and an empty body). Retries once on
    /// `session_expired`.
    pub(crate) async fn authed_stream(
        &self,
        target: &str,
        extra: &[(&'static str, String)],
    ) -> Result<SseStream> {
        let call = Call {
            method: Method::GET,
            target,
            body: &[],
            timeout: None,
        };
        let mut retried = false;
        loop {
            let session = self.session().await?;
            match self.stream_once(&session, &call, extra).await {
                Err(e) if e.is_api(ErrorCode::SessionExpired) && !retried => {
                    retried = true;
                    self.forget_session(session.session_id());
                }
                other => return other,
            }
        }
    }

    async fn stream_once(
        &self,
        session: &ClientSession,
        call: &Call<'_>,
        extra: &[(&'static str, String)],
    ) -> Result<SseStream> {
        let mut rng = peer_crypto::rng::system_rng();
        let prepared =
            session.prepare_request(&mut rng, call.method.as_str(), call.target, &[], false)?;
        let mut req = Request::new(call.method.clone(), self.inner.base.join(call.target)?)
            .header("accept", "text/event-stream");
        for (name, value) in prepared.headers.pairs() {
            req = req.header(name, value);
        }
        for (name, value) in extra {
            req = req.header(*name, value.clone());
        }
        let resp = self.inner.http.stream(req).await?;
        let status = resp.status;
        let Some(tag) = resp.header(AUTH_HEADER).map(str::to_owned) else {
            let headers = resp.headers.clone();
            let body = resp.into_body().await?;
            return Err(unauthenticated_answer(call, status, &body, &headers));
        };
        if status == 200 {
            prepared
                .verifier
                .verify(status, Some(&tag), &[])
                .map_err(|_| call.tampered(status))?;
            return Ok(resp.into_events());
        }
        let headers = resp.headers.clone();
        let body = resp.into_body().await?;
        let body = prepared
            .verifier
            .verify(status, Some(&tag), &body)
            .map_err(|_| call.tampered(status))?;
        Err(api_error(status, &body, retry_after(&headers), true))
    }
}

/// A response without `Peer-Auth`: an error a node sends before it can
/// authenticate, or a tampered answer.
fn unauthenticated_answer(
    call: &Call<'_>,
    status: u16,
    body: &[u8],
    headers: &http::HeaderMap,
) -> ClientError {
    if status >= 400 {
        // A sealed request's pre-authentication errors are plain JSON.
        let is_sealed = headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes() == SEALED_CONTENT_TYPE.as_bytes());
        if !is_sealed
            && let ClientError::Api {
                code,
                message,
                status,
                retry_after,
                ..
            } = api_error(status, body, retry_after(headers), false)
            && unauthenticated_codes().contains(&code)
            && code.status() == status
        {
            return ClientError::Api {
                code,
                message,
                status,
                retry_after,
                authenticated: false,
            };
        }
    }
    call.tampered(status)
}
