//! The running app's object graph: the one folder whose files may import each other in a cycle.

pub(crate) mod broadcast;
pub mod connection;
pub mod context;
pub mod fd;
pub(crate) mod handler;
pub mod metrics;
pub mod middleware;
pub(crate) mod module;
pub(crate) mod remote;
pub mod rooms;
pub(crate) mod server;
pub(crate) mod shutdown;
