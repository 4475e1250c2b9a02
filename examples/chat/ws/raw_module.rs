//! `/raw`: every frame comes back as it was sent, text as text, binary as binary.

use swoft_ws::prelude::*;

/// Serves `/raw` with the raw parser: no commands, just frames.
#[ws_module(path = "/raw", parser = raw)]
#[derive(Debug)]
pub struct RawModule;

#[ws_module]
impl RawModule {
    /// Every frame, back to its sender untouched.
    #[on_message]
    fn echo(frame: RawMessage) -> RawMessage {
        frame
    }
}
