//! One connection, driven from the HTTP upgrade to the close.
//!
//! - [`accept`]: the upgrade gate — draining, origin, admission (the connection limits), the
//!   `#[on_handshake]` hook, the fd, the `101` response — and the spawn of the task.
//! - [`admission`]: a slot among the live connections, given back when the task ends.
//! - [`task`]: the connection's task — the session and its clean-up, the open and close hooks,
//!   the close sequence.
//! - [`read`]: the read loop — frames in, messages handled in order (or up to the module's
//!   `concurrency`), replies written in batches, pings answered, the rate limit applied.
//! - [`message`]: one message — decode, route, middleware, handler under its timeout, reply.
//! - [`rate`]: the per-connection token bucket the read loop applies.
//! - [`backlog`]: what is read while the handlers are busy — answers to the server's requests
//!   (`$ack`) routed at once, other messages held in order (at most 16).
//!
//! The task starts at `task::drive`, given a [`crate::ws::transport::Transport`]: over an
//! upgraded socket in production, over an in-memory stream in the unit tests (`tests/`).

mod accept;
mod admission;
mod backlog;
mod message;
mod rate;
mod read;
mod task;

use std::any::Any;

pub(crate) use accept::upgrade;
#[cfg(feature = "__bench")]
pub(crate) use message::handle_message;

/// The text of a caught panic, for the log.
pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests;
