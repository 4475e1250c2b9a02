// With `crate = path`, the generated code reaches the runtime through `path::__private`: at
// the root the runtime is renamed with `extern crate ... as ws`, and in a module it is
// imported as `sw`.
extern crate swoft_ws as ws;

use ws::prelude::*;

#[ws_module(path = "/renamed", controllers = [Echo, inner::Shout], crate = ws)]
pub struct RenamedModule;

#[ws_module(crate = ws)]
impl RenamedModule {
    #[on_open]
    fn open(&self, conn: &Connection) {
        let _ = conn.fd();
    }
}

#[derive(Default)]
pub struct Echo;

#[ws_controller(prefix = "echo", crate = ws)]
impl Echo {
    #[message_mapping("say")]
    async fn say(Data(v): Data<serde_json::Value>) -> Result<serde_json::Value, WsError> {
        Ok(v)
    }
}

mod inner {
    use ::swoft_ws as sw;
    use sw::prelude::*;

    #[derive(Default)]
    pub struct Shout;

    #[ws_controller(prefix = "shout", crate = sw)]
    impl Shout {
        #[message_mapping("say")]
        fn say(&self, Data(v): Data<String>) -> String {
            v.to_uppercase()
        }
    }
}

fn main() {
    let app = ws::App::builder().module::<RenamedModule>().build();
    assert!(app.is_ok(), "{:?}", app.err());
}
