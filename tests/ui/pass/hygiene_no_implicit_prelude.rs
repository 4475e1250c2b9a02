// The expansion names nothing through the prelude: a crate without it (every path written in
// full) declares a module with hooks and a controller with sync and async handlers, `Data<T>`
// extraction and a `Result` reply, and builds an app.
//
// Known limit: the hooks here take none of the arguments the runtime lends (`req`, `conn`,
// `info`). For those the expansion emits a local trait under `#[diagnostic::on_unimplemented]`,
// and rustc does not resolve tool attributes (`diagnostic::`, `rustfmt::`) in a
// `#![no_implicit_prelude]` module, so such a hook does not compile here yet.
#![no_implicit_prelude]

use ::swoft_ws::prelude::*;

#[ws_module(path = "/hygiene", controllers = [Room], default_prefix = "room")]
pub struct HygieneModule;

#[ws_module]
impl HygieneModule {
    #[on_handshake]
    async fn handshake(&self) -> ::std::result::Result<Accept, Reject> {
        ::std::result::Result::Ok(Accept::new())
    }

    #[on_open]
    fn open() {}

    #[on_message]
    async fn message(Data(v): Data<::serde_json::Value>) -> ::serde_json::Value {
        v
    }

    #[on_close]
    async fn close(&self) {}
}

#[derive(::std::default::Default)]
pub struct Room;

#[derive(::serde::Deserialize, ::serde::Serialize)]
pub struct Join {
    room: ::std::string::String,
}

#[ws_controller(prefix = "room")]
impl Room {
    #[message_mapping("join")]
    async fn join(&self, Data(j): Data<Join>) -> ::std::result::Result<Join, WsError> {
        if j.room.is_empty() {
            return ::std::result::Result::Err(WsError::invalid_data("no room"));
        }
        ::std::result::Result::Ok(j)
    }

    #[message_mapping("leave")]
    fn leave(fd: Fd) -> u32 {
        fd.get()
    }

    #[message_mapping]
    fn list(&self, _cx: &Context) -> ::std::vec::Vec<::std::string::String> {
        ::std::vec::Vec::new()
    }
}

fn main() {
    let app = App::builder().module::<HygieneModule>().build();
    ::std::assert!(app.is_ok(), "{:?}", app.err());
}
