//! `/chat` (Swoft's `ChatModule`): JSON commands, served by `chat/HomeController`.

use swoft_ws::prelude::*;

use crate::ws::chat::home_controller::HomeController;

#[ws_module(path = "/chat", parser = json, controllers = [HomeController])]
pub(crate) struct ChatModule;

#[ws_module]
impl ChatModule {
    /// A welcome with the fd, then how to talk to this module.
    #[on_open]
    fn open(conn: &Connection) {
        let fd = conn.fd();
        let _ = conn.send(RawMessage::text(format!("Opened, welcome!(FD: {fd})")));
        let help = "This module speaks JSON. Send for example:\n\
                    {\"cmd\": \"home.index\", \"data\": \"hello\"}\n\
                    Commands:\n\
                    - home.index: a greeting\n\
                    - home.echo: your data back, as text\n\
                    - home.ar: your data back, as a JSON reply\n\
                    - help: the same, as a root command";
        let _ = conn.send(RawMessage::text(help));
    }
}
