//! The WebSocket side, in layout B: modules side by side, all controllers in `controller/`.

pub(crate) mod controller;
pub(crate) mod ticker_module;
