//! `chat.*`: whispers to connections by name.

use swoft_ws::prelude::*;

use super::{ChatName, Delivered, Directory, Whisper, WhisperArg, check_text, push_failed};

/// Messages to people rather than rooms.
#[derive(Debug, Default)]
pub struct ChatController;

#[ws_controller(prefix = "chat")]
impl ChatController {
    /// `chat.whisper {"to": NAME, "text": T}` → `{"delivered": N}`; every connection named NAME
    /// gets `chat.whisper {"from": SENDER, "text": T}`. Nobody by that name → `not_found`.
    #[message_mapping("whisper")]
    fn whisper(
        Data(arg): Data<WhisperArg>,
        Session(name): Session<ChatName>,
        State(dir): State<Directory>,
        server: &Server,
    ) -> Result<Delivered, WsError> {
        check_text(&arg.text)?;
        let fds = dir.fds(&arg.to);
        if fds.is_empty() {
            return Err(WsError::not_found(format!("nobody is named `{}`", arg.to)));
        }
        let whisper = Whisper {
            from: &name.0,
            text: &arg.text,
        };
        let d = server
            .to_fds(&fds)
            .push("chat.whisper", &whisper)
            .map_err(|e| push_failed(&e))?;
        Ok(Delivered {
            delivered: d.delivered,
        })
    }
}
