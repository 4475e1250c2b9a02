//! The construction half of a build: the checked records become each module's runtime tables
//! (command → route, hooks, middleware chains, metrics handles), built once and only read
//! from then on.

use std::any::TypeId;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use crate::app::registry::check::controllers;
use crate::app::registry::paths;
use crate::app::registry::records::{HooksDef, ModuleDef, full_command};
use crate::config::Limits;
use crate::runtime::handler::{Instance, MakeFn};
use crate::runtime::metrics::{CommandMetrics, ModuleMetrics};
use crate::runtime::middleware::{Chain, Middleware, MiddlewareRef};
use crate::runtime::module::{Hooks, ModuleRuntime, Route};

/// What the modules of one app share: one instance per middleware type and per controller
/// type, whatever the number of modules that name it.
pub(super) struct Tables<'a> {
    instances: &'a HashMap<TypeId, Instance>,
    global: &'a [Arc<dyn Middleware>],
    middleware: HashMap<TypeId, Arc<dyn Middleware>>,
    controllers: HashMap<TypeId, Instance>,
}

impl<'a> Tables<'a> {
    pub(super) fn new(
        instances: &'a HashMap<TypeId, Instance>,
        global: &'a [Arc<dyn Middleware>],
    ) -> Self {
        Tables {
            instances,
            global,
            middleware: HashMap::new(),
            controllers: HashMap::new(),
        }
    }

    /// `base` followed by the middleware of `refs`, in order.
    fn chain(&mut self, base: &[Arc<dyn Middleware>], refs: &[&'static [MiddlewareRef]]) -> Chain {
        let mut chain = base.to_vec();
        for r in refs.iter().flat_map(|l| l.iter()) {
            let m = self
                .middleware
                .entry((r.type_id)())
                .or_insert_with(r.make)
                .clone();
            chain.push(m);
        }
        chain.into()
    }

    /// The module's runtime (its limits are resolved by the caller, which knows the config).
    pub(super) fn module(
        &mut self,
        m: &'static ModuleDef,
        hook_blocks: &[&'static HooksDef],
    ) -> ModuleRuntime {
        let global = self.global;
        let chain = self.chain(global, &[m.middleware]);
        let routes = self.routes(m, &chain);
        let hooks = hooks(m, hook_blocks);
        let default_route = m.default_command.and_then(|cmd| routes.get(cmd).cloned());
        let path = match paths::normal(m.path) {
            Cow::Borrowed(p) => p,
            // Only a record written by hand: the macro writes the `/`. Once per build.
            Cow::Owned(p) => Box::leak(p.into_boxed_str()),
        };
        ModuleRuntime {
            name: m.name,
            label: m.label.unwrap_or(m.name),
            protocols: m.protocols,
            opcode: m.opcode,
            path,
            // Checked by `check`: every constraint compiles.
            path_params: paths::constraints(m).unwrap_or_default(),
            concurrency: m.concurrency,
            live: AtomicUsize::new(0),
            parser: (m.parser)(),
            instance: instance_of(self.instances, m.type_id, m.make),
            routes,
            default_route,
            hooks,
            chain,
            metrics: ModuleMetrics::new(path, m.label.unwrap_or(m.name)),
            limits: Limits::default(),
            deflate: None,
        }
    }

    /// Command → route, with the short forms of the default prefix: a command without a `.`
    /// maps to `prefix.command` unless a handler maps the short form itself.
    fn routes(&mut self, m: &ModuleDef, module_chain: &Chain) -> HashMap<Box<str>, Route> {
        let mut routes: HashMap<Box<str>, Route> = HashMap::new();
        for c in controllers(m) {
            let instance = match self.controllers.get(&(c.type_id)()) {
                Some(i) => i.clone(),
                None => {
                    let i = instance_of(self.instances, c.type_id, c.make);
                    self.controllers.insert((c.type_id)(), i.clone());
                    i
                }
            };
            for r in c.routes {
                let command = full_command(c.prefix, r);
                if routes.contains_key(command.as_str()) {
                    continue;
                }
                let route = Route {
                    command: Arc::from(command.as_str()),
                    dispatch: c.dispatch,
                    instance: instance.clone(),
                    index: r.index,
                    chain: self.chain(module_chain, &[c.middleware, r.middleware]),
                    metrics: Arc::new(CommandMetrics::new(m.path, &command)),
                    opcode: r.opcode.unwrap_or(m.opcode),
                };
                routes.insert(command.into_boxed_str(), route);
            }
        }
        if let Some(prefix) = m.default_prefix {
            let dotted = format!("{prefix}.");
            let aliases: Vec<(Box<str>, Route)> = routes
                .iter()
                .filter_map(|(k, r)| {
                    let short = k.strip_prefix(&dotted)?;
                    (!short.contains('.') && !routes.contains_key(short))
                        .then(|| (Box::from(short), r.clone()))
                })
                .collect();
            routes.extend(aliases);
        }
        routes
    }
}

/// The module's hooks, merged from all its hook blocks (the checks made sure each kind is
/// given once).
fn hooks(m: &ModuleDef, hook_blocks: &[&'static HooksDef]) -> Hooks {
    let mut hooks = Hooks::default();
    for h in hook_blocks.iter().filter(|h| (h.module)() == (m.type_id)()) {
        hooks.handshake = hooks.handshake.or(h.handshake.map(|x| x.call));
        hooks.open = hooks.open.or(h.open.map(|x| x.call));
        hooks.message = hooks.message.or(h.message.map(|x| x.call));
        hooks.close = hooks.close.or(h.close.map(|x| x.call));
    }
    hooks
}

fn instance_of(
    instances: &HashMap<TypeId, Instance>,
    type_id: fn() -> TypeId,
    make: MakeFn,
) -> Instance {
    instances.get(&type_id()).cloned().unwrap_or_else(make)
}
