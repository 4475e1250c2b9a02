//! The WebSocket side of the app: one file per module, a folder per module's controllers.

pub mod chat;
pub mod chat_module;
pub mod echo;
pub mod echo_module;
pub mod raw_module;
