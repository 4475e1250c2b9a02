//! The upgrade gate: a module's HTTP handler, which refuses a handshake while the server
//! drains, from an origin not allowed, or past the connection limits ([`Admission`]), runs the
//! module's `#[on_handshake]` hook, allocates the fd, answers `101 Switching Protocols` and
//! spawns the connection's task ([`super::task`]).

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::extract::Request;
use axum::extract::connect_info::ConnectInfo;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use http::StatusCode;

use crate::driver::admission::{Admission, Full};
use crate::driver::panic_message;
use crate::driver::task::run;
use crate::handshake::{Accept, HandshakeRequest, PathParams};
use crate::runtime::connection::ConnParts;
use crate::runtime::events::{Event, Listeners, WsEvent};
use crate::runtime::module::ModuleRuntime;
use crate::runtime::server::Server;
use crate::ws::{extensions, upgrade};

/// The axum handler of a module's path: the handshake, then the connection's task.
pub(crate) async fn upgrade(
    server: Server,
    module: Arc<ModuleRuntime>,
    params: PathParams,
    req: Request,
) -> Response {
    // Swoft: a value that fails its variable's constraint matches no module.
    if !module.accepts(&params) {
        tracing::debug!(module = module.label, path = module.path, values = ?params, "no module: a path variable fails its constraint");
        return StatusCode::NOT_FOUND.into_response();
    }
    let (mut parts, _body) = req.into_parts();
    let upgrade = match checked(&module, &mut parts) {
        Ok(u) => u,
        Err(refused) => return *refused,
    };
    let deflate = negotiate(&module, &parts.headers);
    if let Some(agreed) = &deflate {
        // The connection's task reads the terms from its request (no field of its own).
        parts.extensions.insert(agreed.params);
    }
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let admission = match admit(&server, &module, &parts.headers, peer) {
        Ok(a) => a,
        Err(refused) => return *refused,
    };
    let request = Arc::new(
        HandshakeRequest::new(parts.uri, parts.headers, peer)
            .with_extensions(parts.extensions)
            .with_path_params(params),
    );
    let listeners = server.listeners();
    if listeners.wants(WsEvent::HandshakeBefore) {
        listeners.emit(&Event::new(WsEvent::HandshakeBefore, &request));
    }
    let accept = match on_handshake(&module, listeners, &request, peer).await {
        Ok(accept) => accept,
        Err(refused) => return *refused,
    };
    if listeners.wants(WsEvent::HandshakeAfter) {
        listeners.emit(&Event::new(WsEvent::HandshakeAfter, &request));
    }
    // A resume of a session another node kept: its record, fetched from the cluster's store.
    crate::runtime::recovery::shared::prefetch(&server, &module, &request).await;
    let fd = match server.fds_arc().allocate_guarded() {
        Ok(fd) => fd,
        Err(e) => {
            module.metrics.full.increment(1);
            tracing::warn!(error = %e, "handshake refused: no free fd");
            return (StatusCode::SERVICE_UNAVAILABLE, "server is full").into_response();
        }
    };

    let Accept {
        headers,
        protocol,
        session,
    } = accept;
    // The hook's choice first; else the first of the module's `protocols` the client offers.
    let protocol = offered(protocol, &request).or_else(|| {
        module
            .protocols
            .iter()
            .find(|p| request.protocols().iter().any(|o| o == *p))
            .map(|p| (*p).to_owned())
    });
    module.metrics.accepted.increment(1);
    let mut response = upgrade.response(protocol.as_deref(), deflate.map(|a| a.header));
    tokio::spawn(run(
        upgrade.on_upgrade,
        ConnParts {
            fd: fd.fd(),
            request,
            module,
            server,
            protocol,
            session,
        },
        fd,
        admission,
    ));
    response.headers_mut().extend(headers);
    response
}

/// The request's own checks, before any policy: its head within the module's
/// `max_handshake_head` (431 past it), then every MUST of the opening handshake
/// ([`upgrade::check`]); each refusal counted as a bad request and logged.
fn checked(
    module: &ModuleRuntime,
    parts: &mut http::request::Parts,
) -> Result<upgrade::Upgrade, Box<Response>> {
    let head = head_len(parts);
    if head > module.limits.max_handshake_head {
        module.metrics.bad_request.increment(1);
        tracing::debug!(
            path = module.path,
            head,
            limit = module.limits.max_handshake_head,
            "handshake refused: request head too large"
        );
        return Err(Box::new(
            (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "request head too large",
            )
                .into_response(),
        ));
    }
    upgrade::check(&parts.method, &parts.headers, &mut parts.extensions).map_err(|refused| {
        module.metrics.bad_request.increment(1);
        tracing::debug!(
            module = module.label, path = module.path, status = %refused.status, reason = refused.reason,
            "handshake refused: not a valid WebSocket request"
        );
        Box::new(refused.response())
    })
}

/// permessage-deflate (RFC 7692 §5): the first offer the module's settings allow, if it
/// negotiates compression; each offer declined (malformed, or not allowed) is logged at debug
/// and counted, and never fails the handshake.
fn negotiate(module: &ModuleRuntime, headers: &http::HeaderMap) -> Option<extensions::Agreement> {
    let settings = module.deflate.as_ref()?;
    let agreed = extensions::negotiate(headers, settings, |offer, reason| {
        module.metrics.deflate_declined.increment(1);
        tracing::debug!(
            module = module.label, path = module.path, offer = %String::from_utf8_lossy(offer), reason,
            "permessage-deflate offer declined"
        );
    });
    if agreed.is_some() {
        module.metrics.deflate_accepted.increment(1);
    }
    agreed
}

/// The size of the request head as sent, near enough: the request target and each header
/// line (`name: value` and its line end). What the snapshot keeps is less than this.
fn head_len(parts: &http::request::Parts) -> usize {
    let target = parts.uri.path_and_query().map_or(1, |pq| pq.as_str().len())
        + parts.uri.authority().map_or(0, |a| a.as_str().len());
    let lines: usize = parts
        .headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    target + lines
}

/// The gate before the hook: a slot among the live connections, unless the server drains
/// (503), the origin is not allowed (403) or a connection limit is reached (503); the error is
/// the response to give instead.
fn admit(
    server: &Server,
    module: &Arc<ModuleRuntime>,
    headers: &http::HeaderMap,
    peer: Option<SocketAddr>,
) -> Result<Admission, Box<Response>> {
    if server.shutdown_state().draining.is_cancelled() {
        module.metrics.refused_busy.increment(1);
        return Err(Box::new(
            (StatusCode::SERVICE_UNAVAILABLE, "server shutting down").into_response(),
        ));
    }
    if !module.limits.origins.allows(headers) {
        module.metrics.refused_origin.increment(1);
        tracing::info!(
            module = module.label, path = module.path, peer = ?peer, origin = ?headers.get(http::header::ORIGIN),
            "handshake refused: origin not allowed"
        );
        return Err(Box::new(
            (StatusCode::FORBIDDEN, "origin not allowed").into_response(),
        ));
    }
    Admission::try_new(server, module).map_err(|full| {
        module.metrics.full.increment(1);
        let reason = match full {
            Full::Server => "server is full",
            Full::Module => "module is full",
        };
        tracing::warn!(module = module.label, path = module.path, peer = ?peer, "handshake refused: {reason}");
        Box::new((StatusCode::SERVICE_UNAVAILABLE, reason).into_response())
    })
}

/// The module's `#[on_handshake]` hook (an `Accept` with nothing set when it has none); a
/// rejection, or a panic (500), is the response to give instead.
async fn on_handshake(
    module: &ModuleRuntime,
    listeners: &Listeners,
    request: &Arc<HandshakeRequest>,
    peer: Option<SocketAddr>,
) -> Result<Accept, Box<Response>> {
    let Some(hook) = &module.hooks.handshake else {
        return Ok(Accept::new());
    };
    // Called inside the future: a plain `fn` hook panics when called, not when polled.
    let fut = async { hook(&*module.instance, request).await };
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(Ok(accept)) => Ok(accept),
        Ok(Err(reject)) => {
            module.metrics.rejected.increment(1);
            tracing::info!(
                module = module.label, path = module.path, peer = ?peer, status = %reject.status,
                reason = %reject.reason, "handshake rejected"
            );
            Err(Box::new(
                (
                    reject.status,
                    reject.headers.map(|h| *h).unwrap_or_default(),
                    reject.reason,
                )
                    .into_response(),
            ))
        }
        Err(panic) => {
            module.metrics.failed.increment(1);
            let panic = panic_message(&*panic);
            tracing::error!(
                module = module.label,
                path = module.path,
                panic = %panic,
                "#[on_handshake] panicked; answering 500"
            );
            if listeners.wants(WsEvent::HandshakeError) {
                listeners.emit(&Event::new(WsEvent::HandshakeError, request).with_error(&panic));
            }
            Err(Box::new(
                (StatusCode::INTERNAL_SERVER_ERROR, "handshake failed").into_response(),
            ))
        }
    }
}

/// The subprotocol the hook chose, if the client offered it (else left out, with a warning).
fn offered(protocol: Option<String>, request: &HandshakeRequest) -> Option<String> {
    protocol.filter(|p| {
        let offered = request.protocols().iter().any(|o| o == p);
        if !offered {
            tracing::warn!(protocol = %p, "chosen subprotocol was not offered by the client; left out");
        }
        offered
    })
}
