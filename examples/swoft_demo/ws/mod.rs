//! The demo's modules, in Swoft's layout: a file per module, its controllers in a folder.

pub(crate) mod chat;
pub(crate) mod chat_module;
pub(crate) mod echo_module;
pub(crate) mod room_module;
pub(crate) mod test;
pub(crate) mod test_module;
