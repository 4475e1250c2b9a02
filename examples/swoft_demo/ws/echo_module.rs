//! `/echo` (Swoft's `EchoModule`): raw text, one `#[on_message]` for every frame.

use swoft_ws::prelude::*;

/// Written `"echo"` as in the demo: a path without its leading `/` means `/echo`.
#[ws_module(path = "echo", parser = raw)]
pub(crate) struct EchoModule;

#[ws_module]
impl EchoModule {
    /// `Opened, welcome #FD!`
    #[on_open]
    fn open(conn: &Connection) {
        let _ = conn.send(RawMessage::text(format!("Opened, welcome #{}!", conn.fd())));
    }

    /// `abc` → `Recv: abc`.
    #[on_message]
    fn message(cx: &Context) -> RawMessage {
        let text = String::from_utf8_lossy(cx.message().as_bytes());
        RawMessage::text(format!("Recv: {text}"))
    }
}
