//! `chat.*`: whispers to connections by name.

use swoft_ws::prelude::*;

use super::{ChatName, Delivered, Whisper, WhisperArg, check_text, push_failed};

/// Messages to people rather than rooms.
#[derive(Debug, Default)]
pub struct ChatController;

#[ws_controller(prefix = "chat")]
impl ChatController {
    /// `chat.whisper {"to": NAME, "text": T}` → `{"delivered": N}`; every connection named NAME,
    /// on every node, gets `chat.whisper {"from": SENDER, "text": T}`. Nobody by that name
    /// anywhere → `not_found`.
    ///
    /// Names are connection labels (set by `#[on_open]`): this node finds its own in an index,
    /// in O(1), and asks the other nodes for theirs.
    #[message_mapping("whisper", errors = ["not_found"])]
    async fn whisper(
        Data(arg): Data<WhisperArg>,
        Session(name): Session<ChatName>,
        server: &Server,
    ) -> Result<Delivered, WsError> {
        check_text(&arg.text)?;
        let addrs = server.rooms().find_label(&arg.to).await;
        if addrs.is_empty() {
            return Err(WsError::not_found(format!("nobody is named `{}`", arg.to)));
        }
        let whisper = Whisper {
            from: &name.0,
            text: &arg.text,
        };
        let d = server
            .to_addrs(&addrs)
            .push("chat.whisper", &whisper)
            .map_err(|e| push_failed(&e))?;
        // Here: those whose queue took it; elsewhere: those found.
        let remote = addrs.iter().filter(|a| !server.is_local(a)).count();
        Ok(Delivered {
            delivered: d.delivered + remote,
        })
    }
}
