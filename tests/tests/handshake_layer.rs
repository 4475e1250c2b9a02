//! Handshake-time middleware is an ordinary tower layer on the app's router: here, auth by
//! token. The layer refuses before any module code runs, and hands the authenticated user to
//! the module's `#[on_handshake]` through the request's extensions.

use serde_json::json;
use swoft_ws::axum::extract::Request;
use swoft_ws::axum::middleware::{Next, from_fn};
use swoft_ws::axum::response::{IntoResponse, Response};
use swoft_ws::http::StatusCode;
use swoft_ws::prelude::*;
use swoft_ws_tests::TestServer;

#[derive(Clone, Debug)]
struct User(String);

/// `Authorization: Bearer <name>-token` → `User(name)`; anything else → 401.
async fn auth(mut req: Request, next: Next) -> Response {
    let user = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| t.strip_suffix("-token"))
        .map(|name| User(name.to_owned()));
    match user {
        Some(user) => {
            req.extensions_mut().insert(user);
            next.run(req).await
        }
        None => (StatusCode::UNAUTHORIZED, "missing or bad token").into_response(),
    }
}

#[ws_module(path = "/secure", controllers = [MeController])]
pub struct SecureModule;

#[ws_module]
impl SecureModule {
    #[on_handshake]
    fn handshake(req: &HandshakeRequest) -> Result<Accept, Reject> {
        let user = req
            .extension::<User>()
            .ok_or_else(|| Reject::unauthorized("no user"))?;
        Ok(Accept::new().with(user.clone()))
    }
}

#[derive(Default)]
pub struct MeController;

#[ws_controller(prefix = "me")]
impl MeController {
    #[message_mapping("whoami")]
    fn whoami(Session(user): Session<User>) -> String {
        user.0
    }
}

#[tokio::test]
async fn a_tower_auth_layer_refuses_bad_tokens_before_the_upgrade_and_hands_the_user_to_the_module()
{
    let app = App::builder().module::<SecureModule>().build().unwrap();
    let server = TestServer::start_with(app, |router| router.layer(from_fn(auth))).await;

    let refused = server.connect("/secure").await.unwrap_err();
    assert_eq!(refused.status, Some(401));
    assert_eq!(refused.body, "missing or bad token");
    assert_eq!(server.server().stats().fds, 0, "nothing was allocated");

    let mut c = server
        .connect_with("/secure", &[("authorization", "Bearer carol-token")])
        .await
        .unwrap();
    assert_eq!(c.request("me.whoami", json!(null)).await["data"], "carol");
}
