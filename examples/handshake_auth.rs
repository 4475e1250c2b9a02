//! Handshake authentication: `#[on_handshake]` accepts a token or refuses the upgrade with an
//! HTTP status, and keeps the user as session data for the handlers.
//!
//! Run with `cargo run -p swoft-ws-examples --example handshake_auth` (listens on
//! `127.0.0.1:8084`, or on `$SWOFT_WS_ADDR`; prints `listening on ws://ADDR`). Connect to
//! `ws://127.0.0.1:8084/private` with `Authorization: Bearer alice-token` (or, from a browser,
//! which cannot set headers, `ws://127.0.0.1:8084/private?token=alice-token`) and send
//! `{"cmd":"me.whoami","id":1}`: the reply is `{"user":"alice"}`. Without a token the handshake
//! gets HTTP 401 (with `WWW-Authenticate: Bearer`); with an unknown one, 403.
//!
//! It also shows the two defaults of the macros: `#[ws_controller]` without a prefix takes it
//! from the type (`MeController` → `me`), and `#[message_mapping]` without a command takes the
//! method's name (`whoami` → `me.whoami`).

use std::sync::Arc;

use serde::Serialize;
use swoft_ws::prelude::*;

/// Serves `/private` to authenticated users only.
#[ws_module(path = "/private", controllers = [MeController])]
struct PrivateModule;

/// Session data: who the connection belongs to, set once at the handshake.
#[derive(Clone)]
struct User(Arc<str>);

/// The tokens this example knows (a real app asks its session store or checks a JWT).
fn user_of(token: &str) -> Option<&'static str> {
    match token {
        "alice-token" => Some("alice"),
        "bob-token" => Some("bob"),
        _ => None,
    }
}

#[ws_module]
impl PrivateModule {
    /// Runs before the upgrade: an `Err` is the HTTP response, and no connection is made.
    #[on_handshake]
    fn handshake(req: &HandshakeRequest) -> Result<Accept, Reject> {
        let bearer = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::to_owned);
        let token = bearer.or_else(|| req.query_param("token").map(|t| t.into_owned()));
        let Some(token) = token else {
            return Err(
                Reject::unauthorized("a token is required").header("WWW-Authenticate", "Bearer")
            );
        };
        let user = user_of(&token).ok_or_else(|| Reject::forbidden("unknown token"))?;
        Ok(Accept::new().with(User(Arc::from(user))))
    }
}

/// The `me.*` commands (the prefix comes from the type's name).
#[derive(Default)]
struct MeController;

/// The reply of `me.whoami`.
#[derive(Serialize)]
struct WhoAmI {
    user: String,
}

#[ws_controller]
impl MeController {
    /// `me.whoami` (the command comes from the method's name): the handshake's user.
    #[message_mapping]
    fn whoami(Session(user): Session<User>) -> WhoAmI {
        WhoAmI {
            user: user.0.to_string(),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt::init();
    let app = App::builder().module::<PrivateModule>().build()?;
    let addr = std::env::var("SWOFT_WS_ADDR").unwrap_or_else(|_| "127.0.0.1:8084".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on ws://{}", listener.local_addr()?);
    app.serve_listener(listener).await?;
    Ok(())
}
