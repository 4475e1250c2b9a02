//! The registry: what the macros register, and how the app's lookup tables are built from it.
//!
//! Each `#[ws_module]`, `#[ws_controller]` and hook block submits a `const` record (a
//! [`ModuleDef`], [`ControllerDef`] or [`HooksDef`]) to a global [`inventory`] list; nothing
//! runs at registration time. [`AppBuilder::build`](crate::AppBuilder::build) reads the records
//! once, checks them all, and builds immutable tables (command → handler per module) that the
//! message path only reads.
//!
//! # Limits of discovery
//!
//! - Modules and controllers defined in a **library crate** are registered only if the final
//!   binary links that crate: name something from it (or `use my_modules as _;`).
//! - Each test file, example and doctest is its own binary with its own registry. Tests should
//!   build apps from explicit modules ([`AppBuilder::module`](crate::AppBuilder::module)).
//! - Two versions of swoft-ws in one build have two registries (`cargo tree -d` shows them).

mod error;
mod records;

pub use self::error::{BuildError, Problem};
pub(crate) use self::records::registered_modules;
pub use self::records::{
    Controller, ControllerDef, ControllerEntry, Hook, HooksDef, HooksEntry, Location, Module,
    ModuleDef, ModuleEntry, RouteDef,
};
pub use crate::runtime::handler::Instance;
pub(crate) use crate::runtime::handler::MakeFn;

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use crate::runtime::metrics::{CommandMetrics, ModuleMetrics};
use crate::runtime::middleware::{Chain, Middleware, MiddlewareRef};
use crate::runtime::module::{Hooks, ModuleRuntime, Route};

/// Builds the tables of `modules`; `discovered` adds the checks that only make sense when every
/// registered item is meant to be in the app (controllers no module lists).
pub(crate) fn build(
    modules: &[&'static ModuleDef],
    discovered: bool,
    instances: &HashMap<TypeId, Instance>,
    global: &[Arc<dyn Middleware>],
) -> Result<Vec<(&'static ModuleDef, ModuleRuntime)>, BuildError> {
    // One instance per middleware type across the app.
    let mut mw_instances: HashMap<TypeId, Arc<dyn Middleware>> = HashMap::new();
    let mut chain_of = |base: &[Arc<dyn Middleware>], refs: &[&'static [MiddlewareRef]]| -> Chain {
        let mut chain = base.to_vec();
        for r in refs.iter().flat_map(|l| l.iter()) {
            let m = mw_instances
                .entry((r.type_id)())
                .or_insert_with(r.make)
                .clone();
            chain.push(m);
        }
        chain.into()
    };
    let mut problems = Vec::new();
    if modules.is_empty() {
        problems.push(Problem::NoModules);
    }

    let mut sorted: Vec<&'static ModuleDef> = modules.to_vec();
    sorted.sort_by_key(|m| (m.path, m.location));
    sorted.dedup_by_key(|m| (m.type_id)());

    let mut by_path: HashMap<&str, &ModuleDef> = HashMap::new();
    for m in &sorted {
        if !m.path.starts_with('/') {
            problems.push(Problem::InvalidPath {
                module: m.name.into(),
                path: m.path.into(),
                at: m.location,
            });
        }
        if let Some(first) = by_path.insert(m.path, m) {
            problems.push(Problem::DuplicatePath {
                path: m.path.into(),
                first: first.name.into(),
                first_at: first.location,
                second: m.name.into(),
                second_at: m.location,
            });
        }
    }

    let mut hook_blocks: Vec<&'static HooksDef> = inventory::iter::<HooksEntry>
        .into_iter()
        .map(|e| e.0)
        .collect();
    hook_blocks.sort_by_key(|h| first_hook_location(h));

    // One instance per controller type across the app.
    let mut controller_instances: HashMap<TypeId, Instance> = HashMap::new();
    let mut built = Vec::with_capacity(sorted.len());
    for m in &sorted {
        let module_instance = instance_of(instances, m.type_id, m.make);
        let module_chain = chain_of(global, &[m.middleware]);
        let mut routes: HashMap<Box<str>, (Route, Location)> = HashMap::new();
        let mut add = |cmd: String, route: Route, at: Location, problems: &mut Vec<Problem>| {
            if let Some((_, first_at)) = routes.get(cmd.as_str()) {
                problems.push(Problem::DuplicateCommand {
                    module: m.name.into(),
                    command: cmd,
                    first_at: *first_at,
                    second_at: at,
                });
            } else {
                routes.insert(cmd.into_boxed_str(), (route, at));
            }
        };
        let mut listed: Vec<TypeId> = Vec::with_capacity(m.controllers.len());
        for c in m.controllers {
            // One controller named twice (through two paths to one type) serves its commands
            // once; the macro already refuses the same path twice.
            if listed.contains(&(c.type_id)()) {
                continue;
            }
            listed.push((c.type_id)());
            let instance = controller_instances
                .entry((c.type_id)())
                .or_insert_with(|| instance_of(instances, c.type_id, c.make))
                .clone();
            for r in c.routes {
                let command = full_command(c.prefix, r.action);
                let route = Route {
                    command: Arc::from(command.as_str()),
                    dispatch: c.dispatch,
                    instance: instance.clone(),
                    index: r.index,
                    chain: chain_of(&module_chain, &[c.middleware, r.middleware]),
                    metrics: Arc::new(CommandMetrics::new(m.path, &command)),
                };
                add(command, route, r.location, &mut problems);
            }
        }
        // Commands without a `.` take the module's default prefix: register the short form
        // beside the full one, unless a handler maps the short form itself.
        if let Some(prefix) = m.default_prefix {
            let dotted = format!("{prefix}.");
            let aliases: Vec<(Box<str>, Route)> = routes
                .iter()
                .filter_map(|(k, (r, _))| {
                    let short = k.strip_prefix(&dotted)?;
                    (!short.contains('.') && !routes.contains_key(short))
                        .then(|| (Box::from(short), r.clone()))
                })
                .collect();
            for (k, r) in aliases {
                routes.insert(k, (r, m.location));
            }
        }

        let mut hooks = Hooks::default();
        let mut seen: [Option<Location>; 4] = [None; 4];
        for h in hook_blocks.iter().filter(|h| (h.module)() == (m.type_id)()) {
            merge_hook(
                m,
                "on_handshake",
                h.handshake,
                &mut hooks.handshake,
                &mut seen[0],
                &mut problems,
            );
            merge_hook(
                m,
                "on_open",
                h.open,
                &mut hooks.open,
                &mut seen[1],
                &mut problems,
            );
            merge_hook(
                m,
                "on_message",
                h.message,
                &mut hooks.message,
                &mut seen[2],
                &mut problems,
            );
            merge_hook(
                m,
                "on_close",
                h.close,
                &mut hooks.close,
                &mut seen[3],
                &mut problems,
            );
        }

        let routes: HashMap<Box<str>, Route> =
            routes.into_iter().map(|(k, (r, _))| (k, r)).collect();
        let default_route = match m.default_command {
            None => None,
            Some(cmd) => match routes.get(cmd) {
                Some(r) => Some(r.clone()),
                None if hooks.message.is_some() => None,
                None => {
                    problems.push(Problem::UnknownDefaultCommand {
                        module: m.name.into(),
                        command: cmd.into(),
                        at: m.location,
                    });
                    None
                }
            },
        };
        built.push((
            *m,
            ModuleRuntime {
                name: m.name,
                path: m.path,
                concurrency: m.concurrency,
                live: AtomicUsize::new(0),
                parser: (m.parser)(),
                instance: module_instance,
                routes,
                default_route,
                hooks,
                chain: module_chain,
                metrics: ModuleMetrics::new(m.path),
                limits: crate::config::Limits::default(),
            },
        ));
    }

    if discovered {
        let listed: Vec<TypeId> = sorted
            .iter()
            .flat_map(|m| m.controllers.iter().map(|c| (c.type_id)()))
            .collect();
        let mut orphans: Vec<&ControllerDef> = inventory::iter::<ControllerEntry>
            .into_iter()
            .map(|e| e.0)
            .filter(|c| !listed.contains(&(c.type_id)()))
            .collect();
        orphans.sort_by_key(|c| c.location);
        for c in orphans {
            problems.push(Problem::OrphanController {
                controller: c.name.into(),
                at: c.location,
            });
        }
        let modules: Vec<TypeId> = sorted.iter().map(|m| (m.type_id)()).collect();
        for h in hook_blocks
            .iter()
            .filter(|h| !modules.contains(&(h.module)()))
        {
            problems.push(Problem::OrphanHooks {
                module: h.module_name.into(),
                at: first_hook_location(h),
            });
        }
    }

    if problems.is_empty() {
        Ok(built)
    } else {
        Err(BuildError::new(problems))
    }
}

fn first_hook_location(h: &HooksDef) -> Location {
    [
        h.handshake.map(|x| x.location),
        h.open.map(|x| x.location),
        h.message.map(|x| x.location),
        h.close.map(|x| x.location),
    ]
    .into_iter()
    .flatten()
    .min()
    .unwrap_or(Location { file: "", line: 0 })
}

fn merge_hook<F: Copy>(
    m: &ModuleDef,
    kind: &'static str,
    new: Option<Hook<F>>,
    slot: &mut Option<F>,
    seen: &mut Option<Location>,
    problems: &mut Vec<Problem>,
) {
    let Some(new) = new else { return };
    match seen {
        Some(first_at) => problems.push(Problem::DuplicateHook {
            module: m.name.into(),
            hook: kind,
            first_at: *first_at,
            second_at: new.location,
        }),
        None => {
            *seen = Some(new.location);
            *slot = Some(new.call);
        }
    }
}

fn instance_of(
    instances: &HashMap<TypeId, Instance>,
    type_id: fn() -> TypeId,
    make: MakeFn,
) -> Instance {
    instances.get(&type_id()).cloned().unwrap_or_else(make)
}

/// `prefix.action`, or the action alone when it is already a full command or there is no
/// prefix.
pub(crate) fn full_command(prefix: &str, action: &str) -> String {
    if prefix.is_empty() || action.contains('.') {
        action.to_owned()
    } else {
        format!("{prefix}.{action}")
    }
}
