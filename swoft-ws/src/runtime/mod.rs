//! The running app's object graph: the one folder whose files may import each other in a cycle.

pub(crate) mod ack;
pub(crate) mod broadcast;
pub(crate) mod connection;
pub(crate) mod context;
pub mod events;
pub(crate) mod fd;
pub(crate) mod handler;
pub mod metrics;
pub mod middleware;
pub(crate) mod module;
pub(crate) mod recovery;
pub(crate) mod remote;
pub(crate) mod rooms;
pub(crate) mod server;
pub(crate) mod sessions;
pub(crate) mod shutdown;
pub(crate) mod signal;
