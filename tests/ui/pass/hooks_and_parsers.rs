// Hooks in every accepted shape (sync and async, with fewer arguments, with and without
// `&self`), the raw parser, a parser named by path, a default command, concurrency.
use swoft_ws::prelude::*;

#[ws_module(path = "/raw", parser = raw)]
pub struct RawModule;

#[ws_module]
impl RawModule {
    #[on_handshake]
    async fn handshake(&self, req: &HandshakeRequest) -> Result<Accept, Reject> {
        if req.query_param("deny").is_some() {
            return Err(Reject::bad_request("denied"));
        }
        Ok(Accept::new())
    }

    #[on_open]
    fn open() {}

    #[on_message]
    fn message(msg: RawMessage) -> RawMessage {
        msg
    }

    #[on_close]
    async fn close(&self, _conn: &Connection, info: &CloseInfo) {
        let _ = info.code;
    }
}

#[ws_module(
    path = "/json/v1",
    parser = swoft_ws::protocol::JsonParser,
    controllers = [Echo],
    default_command = "echo.say",
    concurrency = 4,
)]
pub struct JsonModule;

#[derive(Default)]
pub struct Echo;

#[ws_controller("echo")] // the short form of `prefix = "echo"`
impl Echo {
    #[message_mapping("say")]
    fn say(Data(v): Data<serde_json::Value>) -> serde_json::Value {
        v
    }
}

#[ws_module]
impl JsonModule {
    #[on_handshake]
    fn handshake(_req: &HandshakeRequest) -> bool {
        true
    }
}

fn main() {
    let app = App::builder()
        .module::<RawModule>()
        .module::<JsonModule>()
        .build();
    assert!(app.is_ok(), "{:?}", app.err());
}
