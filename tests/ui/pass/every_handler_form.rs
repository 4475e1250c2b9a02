// Every accepted form of a controller and its handlers compiles, and the app builds.
use serde::{Deserialize, Serialize};
use swoft_ws::prelude::*;

#[ws_module(path = "/chat", controllers = [Room, NoPrefix], default_prefix = "room")]
pub struct ChatModule;

#[derive(Default)]
pub struct Room;

#[derive(Deserialize, Serialize)]
pub struct Join {
    room: String,
}

#[ws_controller(prefix = "room")]
impl Room {
    #[message_mapping("join")]
    async fn join(&self, Data(j): Data<Join>, conn: &Connection) -> Result<Join, WsError> {
        let _ = conn.fd();
        Ok(j)
    }

    #[message_mapping("room.leave")] // a full command
    fn leave(fd: Fd) -> u32 {
        fd.get()
    }

    #[message_mapping] // the method's name is the action: `room.list`
    fn list(&self, _cx: &Context, _server: Server) -> Vec<String> {
        Vec::new()
    }

    #[message_mapping("raw")]
    fn raw(msg: RawMessage) -> RawMessage {
        msg
    }

    #[message_mapping("maybe")]
    fn maybe(data: Option<Data<Join>>) {
        let _ = data;
    }

    fn not_a_handler(&self) {}
}

#[derive(Default)]
pub struct NoPrefix;

#[ws_controller]
impl NoPrefix {
    #[message_mapping("ping")]
    fn ping() -> &'static str {
        "pong"
    }
}

fn main() {
    let app = App::builder().module::<ChatModule>().build();
    assert!(app.is_ok(), "{:?}", app.err());
}

#[ws_module(path = "rooms/{id}/{name}", params(id = r"\d+"))]
pub struct PathVariablesModule;
