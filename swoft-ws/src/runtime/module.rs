//! A module ready to serve: its routes, hooks, parser and limits, built once at start-up and
//! only read from then on.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use crate::config::Limits;
use crate::protocol::Parser;
use crate::runtime::handler::{CloseFn, DispatchFn, HandshakeFn, Instance, OpenFn};
use crate::runtime::metrics::{CommandMetrics, ModuleMetrics};
use crate::runtime::middleware::Chain;

/// A handler, resolved at build time.
#[derive(Clone)]
pub(crate) struct Route {
    /// The full command (`room.join`): replies carry it.
    pub(crate) command: Arc<str>,
    pub(crate) dispatch: DispatchFn,
    pub(crate) instance: Instance,
    pub(crate) index: u16,
    /// global → module → controller → method; empty when no middleware applies.
    pub(crate) chain: Chain,
    pub(crate) metrics: Arc<CommandMetrics>,
    /// The frame its replies go out in (the mapping's `opcode`, else the module's).
    pub(crate) opcode: crate::ws::Opcode,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field("command", &self.command)
            .finish_non_exhaustive()
    }
}

/// A module's hooks, merged from all its hook blocks.
#[derive(Debug, Default, Clone)]
pub(crate) struct Hooks {
    pub(crate) handshake: Option<HandshakeFn>,
    pub(crate) open: Option<OpenFn>,
    pub(crate) message: Option<DispatchFn>,
    pub(crate) close: Option<CloseFn>,
}

impl ModuleRuntime {
    /// Whether the values of the path's variables pass their constraints.
    pub(crate) fn accepts(&self, params: &crate::handshake::PathParams) -> bool {
        self.path_params
            .iter()
            .all(|(name, re)| params.get(name).is_some_and(|v| re.is_match(v)))
    }
}

/// A module, ready to serve: its tables are built and only read from here on.
#[derive(Debug)]
pub(crate) struct ModuleRuntime {
    /// The module type's name.
    pub(crate) name: &'static str,
    /// `name = ".."` of the module, else the type's name: logs, metrics, stats.
    pub(crate) label: &'static str,
    /// `protocols = [..]`, preferred first.
    pub(crate) protocols: &'static [&'static str],
    /// `opcode = ..`: the frame of replies without a mapping's own, and of error replies.
    pub(crate) opcode: crate::ws::Opcode,
    pub(crate) path: &'static str,
    /// The constraints of the path's variables (`params(id = r"\d+")`), compiled at build and
    /// anchored to the whole value; a variable without one takes any segment.
    pub(crate) path_params: Vec<(&'static str, regex::Regex)>,
    /// How many messages of one connection may be handled at once (1: in order).
    pub(crate) concurrency: u16,
    /// Live connections of the module (admitted, not yet ended).
    pub(crate) live: AtomicUsize,
    pub(crate) parser: Arc<dyn Parser>,
    pub(crate) instance: Instance,
    pub(crate) routes: HashMap<Box<str>, Route>,
    pub(crate) default_route: Option<Route>,
    pub(crate) hooks: Hooks,
    /// global → module: for messages no handler maps, or that fail to decode.
    pub(crate) chain: Chain,
    pub(crate) metrics: ModuleMetrics,
    /// Resolved by `AppBuilder::build` from the config and the module's overrides.
    pub(crate) limits: Limits,
    /// permessage-deflate's terms, if the module negotiates it (resolved with the limits).
    pub(crate) deflate: Option<crate::ws::deflate::Params>,
}

/// The terms a module offers permessage-deflate on, from its settings; `None` when off (also
/// without the `deflate` feature, with a warning at build).
pub(crate) fn deflate_params(
    path: &str,
    c: &crate::config::Compression,
) -> Option<crate::ws::deflate::Params> {
    if !c.enabled {
        return None;
    }
    if !cfg!(feature = "deflate") {
        tracing::warn!(
            path,
            "compression is on but swoft-ws was built without its `deflate` feature: offers are declined"
        );
        return None;
    }
    Some(crate::ws::deflate::Params {
        level: c.level,
        min_size: c.min_size,
        server_no_context_takeover: c.server_no_context_takeover,
        client_no_context_takeover: c.client_no_context_takeover,
        server_max_window_bits: c.server_max_window_bits,
        client_max_window_bits: c.client_max_window_bits,
    })
}
