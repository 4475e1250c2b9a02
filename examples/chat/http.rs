//! The chat app's HTTP side, around its WebSocket routes: the browser page at `/`, a push into a
//! room from an ordinary HTTP route, and the Prometheus metrics.

use metrics_exporter_prometheus::PrometheusHandle;
use swoft_ws::axum::Router;
use swoft_ws::axum::extract::Path;
use swoft_ws::axum::response::{Html, IntoResponse, Response};
use swoft_ws::axum::routing::{get, post};
use swoft_ws::http::{StatusCode, header};
use swoft_ws::{App, Server};

use super::ws::chat::{RoomMessage, check_room, check_text, delivered_in_cluster, room_key};

/// The browser page served at `/`.
pub const INDEX_HTML: &str = include_str!("static/index.html");

/// The `swoft-ws-client` npm package's ESM build (`clients/typescript`, committed: no npm at
/// run time), served at `/swoft-ws-client.js` for the page. The client's tests check that it
/// is the fresh build of its source.
pub const CLIENT_JS: &str = include_str!("static/swoft-ws-client.js");

/// The app's WebSocket routes plus its HTTP routes ([`with_http`]).
pub fn router(app: App, metrics: Option<PrometheusHandle>) -> Router {
    let server = app.server().clone();
    with_http(app.into_router(), &server, metrics)
}

/// Adds the HTTP routes to `router` (the app's WebSocket routes):
///
/// - `GET /`: the browser page ([`INDEX_HTML`]); `GET /swoft-ws-client.js`: the client it loads
///   ([`CLIENT_JS`]).
/// - `POST /rooms/{room}/messages` with the text as the body: pushes
///   `room.message {"room": R, "from": "server", "text": T}` to every member of the chat room
///   `R` and answers `{"delivered": N}` (`application/json`); a room name that is not 1–64
///   characters or a text over 4096 characters is answered with 400.
/// - `GET /metrics`: the Prometheus text format, when given a handle.
pub fn with_http(router: Router, server: &Server, metrics: Option<PrometheusHandle>) -> Router {
    let push_server = server.clone();
    let router = router
        .route("/", get(|| async { Html(INDEX_HTML) }))
        .route(
            "/swoft-ws-client.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    CLIENT_JS,
                )
            }),
        )
        .route(
            "/rooms/{room}/messages",
            post(move |Path(room): Path<String>, text: String| {
                let server = push_server.clone();
                async move { push_to_room(&server, &room, &text).await }
            }),
        );
    match metrics {
        Some(handle) => router.route(
            "/metrics",
            get(move || {
                let handle = handle.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                        handle.render(),
                    )
                }
            }),
        ),
        None => router,
    }
}

/// Pushes `text` from `"server"` into the chat room `room` (on every node).
async fn push_to_room(server: &Server, room: &str, text: &str) -> Response {
    if let Err(e) = check_room(room).and_then(|()| check_text(text)) {
        return (StatusCode::BAD_REQUEST, e.message().to_owned()).into_response();
    }
    let msg = RoomMessage {
        room,
        from: "server",
        text,
    };
    let key = room_key(room);
    let pushed = server.room(&key).push("room.message", &msg);
    match pushed {
        Ok(d) => (
            [(header::CONTENT_TYPE, "application/json")],
            format!(
                r#"{{"delivered":{}}}"#,
                delivered_in_cluster(server, &key, d.delivered).await
            ),
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
