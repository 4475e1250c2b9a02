//! A slot among the live connections, server-wide and per module: taken by the upgrade gate,
//! held by the connection's task, given back on drop whatever way the connection ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::runtime::module::ModuleRuntime;
use crate::runtime::server::Server;

/// A slot among the live connections (server-wide and of one module), given back on drop.
#[derive(Debug)]
pub(crate) struct Admission {
    server: Server,
    module: Arc<ModuleRuntime>,
}

/// Which limit refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Full {
    Server,
    Module,
}

impl Admission {
    /// Takes a slot, or says which limit is reached.
    pub(crate) fn try_new(server: &Server, module: &Arc<ModuleRuntime>) -> Result<Self, Full> {
        let global = server.config().max_connections;
        if !try_inc(server.admitted(), global) {
            return Err(Full::Server);
        }
        if !try_inc(&module.live, module.limits.max_connections) {
            server.admitted().fetch_sub(1, Ordering::AcqRel);
            return Err(Full::Module);
        }
        Ok(Admission {
            server: server.clone(),
            module: module.clone(),
        })
    }
}

fn try_inc(counter: &AtomicUsize, max: Option<usize>) -> bool {
    match max {
        None => {
            counter.fetch_add(1, Ordering::AcqRel);
            true
        }
        Some(max) => counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok(),
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.server.admitted().fetch_sub(1, Ordering::AcqRel);
        self.module.live.fetch_sub(1, Ordering::AcqRel);
    }
}
