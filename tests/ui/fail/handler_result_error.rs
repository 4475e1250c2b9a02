// A `Result` whose error is not `Into<WsError>`: refused at the return type, never serialized
// as `{"Ok": ..}` / `{"Err": ..}` data, in a sync and an async handler.
use serde::Serialize;
use swoft_ws::prelude::*;

#[derive(Default)]
pub struct Ctl;

#[derive(Serialize)]
pub struct MyError {
    pub why: String,
}

#[ws_controller(prefix = "ctl")]
impl Ctl {
    #[message_mapping("sync")]
    fn sync() -> Result<u32, MyError> {
        Ok(7)
    }

    #[message_mapping("async")]
    async fn later() -> Result<u32, u8> {
        Err(1)
    }
}

fn main() {}
