//! `/raw`: every frame comes back as it was sent, text as text, binary as binary.

use swoft_ws::prelude::*;

/// Serves `/raw` with the raw parser: no commands, just frames. Messages up to 16 MiB (the
/// largest that Autobahn|Testsuite's conformance cases send; `scripts/autobahn.sh` runs them
/// against this module), where the server-wide default is 64 KiB.
///
/// permessage-deflate (RFC 7692) is on, keeping each side's window across messages unless the
/// client asks otherwise: an echo is one connection's own traffic, and this is the setting
/// Autobahn's compression cases (12.*, 13.*) exercise the per-connection compressor and
/// inflater with (`/chat` uses the defaults, which let a broadcast compress once).
#[ws_module(
    path = "/raw",
    parser = raw,
    max_message_size = 16777216,
    compression = deflate(server_no_context_takeover = false, client_no_context_takeover = false)
)]
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
