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

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::handshake::{Accept, HandshakeRequest, Reject};
use crate::protocol::Parser;
use crate::protocol::reply::Reply;
use crate::runtime::connection::{CloseInfo, Connection};
use crate::runtime::context::Context;
use crate::runtime::handler::MaybeReady;
use crate::runtime::metrics::{CommandMetrics, ModuleMetrics};
use crate::runtime::middleware::{Chain, Middleware, MiddlewareRef};

/// Where something was declared in the user's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// The file, as `file!()` gives it.
    pub file: &'static str,
    /// The line.
    pub line: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A module or controller instance, shared by all its connections.
pub type Instance = Arc<dyn Any + Send + Sync>;
/// Builds an instance at start-up.
pub type MakeFn = fn() -> Instance;
/// Calls handler number `index` of a controller (or the `#[on_message]` hook, index 0).
pub type DispatchFn =
    for<'a> fn(&'a (dyn Any + Send + Sync), u16, &'a Context) -> MaybeReady<'a, Reply>;
/// Calls an `#[on_handshake]` hook.
pub type HandshakeFn = for<'a> fn(
    &'a (dyn Any + Send + Sync),
    &'a HandshakeRequest,
) -> MaybeReady<'a, Result<Accept, Reject>>;
/// Calls an `#[on_open]` hook.
pub type OpenFn = for<'a> fn(&'a (dyn Any + Send + Sync), &'a Connection) -> MaybeReady<'a, ()>;
/// Calls an `#[on_close]` hook.
pub type CloseFn =
    for<'a> fn(&'a (dyn Any + Send + Sync), &'a Connection, &'a CloseInfo) -> MaybeReady<'a, ()>;

/// One `#[message_mapping]`.
#[derive(Debug)]
pub struct RouteDef {
    /// The mapped action (`join`) or full command (`room.join`).
    pub action: &'static str,
    /// The handler's index in its controller's dispatch function.
    pub index: u16,
    /// `#[middleware(..)]` on the method.
    pub middleware: &'static [MiddlewareRef],
    /// Where the mapping is.
    pub location: Location,
}

/// A `#[ws_controller]` impl block.
#[derive(Debug)]
pub struct ControllerDef {
    /// The type's name.
    pub name: &'static str,
    /// The command prefix (`room`); empty for none.
    pub prefix: &'static str,
    /// The controller type's `TypeId`.
    pub type_id: fn() -> TypeId,
    /// Builds the controller (its `Default`), unless the app was given an instance.
    pub make: MakeFn,
    /// The mapped methods.
    pub routes: &'static [RouteDef],
    /// `middleware = [..]` of the controller.
    pub middleware: &'static [MiddlewareRef],
    /// Calls them.
    pub dispatch: DispatchFn,
    /// Where the impl block is.
    pub location: Location,
}

/// A `#[ws_module]` struct.
#[derive(Debug)]
pub struct ModuleDef {
    /// The type's name.
    pub name: &'static str,
    /// The path it serves (`/chat`).
    pub path: &'static str,
    /// The module type's `TypeId`.
    pub type_id: fn() -> TypeId,
    /// Builds the module instance the hooks receive as `&self`.
    pub make: MakeFn,
    /// Its controllers.
    pub controllers: &'static [&'static ControllerDef],
    /// Builds its parser.
    pub parser: fn() -> Arc<dyn Parser>,
    /// The command used when a message has none.
    pub default_command: Option<&'static str>,
    /// The prefix a command without a `.` gets.
    pub default_prefix: Option<&'static str>,
    /// `middleware = [..]` of the module.
    pub middleware: &'static [MiddlewareRef],
    /// How many messages of one connection may be handled at once (1: in order).
    pub concurrency: u16,
    /// Overrides of the server-wide limits (`max_connections`, `origins`, `rate_limit`, ...).
    pub limits: crate::config::limits::ModuleLimits,
    /// Where the struct is.
    pub location: Location,
}

/// One hook with its location.
#[derive(Debug, Clone, Copy)]
pub struct Hook<F> {
    /// The shim that calls it.
    pub call: F,
    /// Where the hook method is.
    pub location: Location,
}

/// A `#[ws_module] impl` block of lifecycle hooks.
#[derive(Debug)]
pub struct HooksDef {
    /// The module type's `TypeId`.
    pub module: fn() -> TypeId,
    /// The module type's name.
    pub module_name: &'static str,
    /// `#[on_handshake]`.
    pub handshake: Option<Hook<HandshakeFn>>,
    /// `#[on_open]`.
    pub open: Option<Hook<OpenFn>>,
    /// `#[on_message]`.
    pub message: Option<Hook<DispatchFn>>,
    /// `#[on_close]`.
    pub close: Option<Hook<CloseFn>>,
}

/// A registered module (inventory record).
#[derive(Debug)]
pub struct ModuleEntry(pub &'static ModuleDef);
/// A registered controller (inventory record).
#[derive(Debug)]
pub struct ControllerEntry(pub &'static ControllerDef);
/// A registered hook block (inventory record).
#[derive(Debug)]
pub struct HooksEntry(pub &'static HooksDef);

inventory::collect!(ModuleEntry);
inventory::collect!(ControllerEntry);
inventory::collect!(HooksEntry);

/// Every module registered in this binary, sorted by path.
pub fn registered_modules() -> Vec<&'static ModuleDef> {
    let mut v: Vec<_> = inventory::iter::<ModuleEntry>
        .into_iter()
        .map(|e| e.0)
        .collect();
    v.sort_by_key(|m| (m.path, m.location));
    v
}

/// Implemented by `#[ws_module]` for the module struct.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a ws module",
    label = "not annotated with #[ws_module(path = \"...\")]",
    note = "add `#[ws_module(path = \"/...\")]` to `struct {Self}`"
)]
pub trait Module: 'static {
    /// The module's record.
    const DEF: &'static ModuleDef;
}

/// Implemented by `#[ws_controller]` for the controller type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a ws controller",
    label = "listed as a controller but not annotated with #[ws_controller]",
    note = "add `#[ws_controller(prefix = \"...\")]` to an `impl {Self}` block"
)]
pub trait Controller: 'static {
    /// The controller's record.
    const DEF: &'static ControllerDef;
}

/// Why an app could not be built: every problem found, each with the place it comes from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.problems))]
pub struct BuildError {
    problems: Vec<Problem>,
}

impl BuildError {
    /// The problems, in a stable order.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

fn render(problems: &[Problem]) -> String {
    let mut s = format!(
        "swoft-ws: the app could not be built ({} problem{}):",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        s.push_str("\n  - ");
        s.push_str(&p.to_string());
    }
    s
}

/// One problem found while building an app.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// No modules at all.
    #[error(
        "no ws modules are registered: annotate a struct with #[ws_module(path = \"/...\")]; \
         modules in a library crate are only linked if the binary uses that crate \
         (`use my_modules as _;`), and two versions of swoft-ws have two registries \
         (`cargo tree -d`)"
    )]
    NoModules,
    /// Two modules on one path.
    #[error("two modules serve path `{path}`: {first} ({first_at}) and {second} ({second_at})")]
    DuplicatePath {
        /// The path.
        path: String,
        /// The first module's name.
        first: String,
        /// Where it is.
        first_at: Location,
        /// The second module's name.
        second: String,
        /// Where it is.
        second_at: Location,
    },
    /// A module path that does not start with `/`.
    #[error("module {module} ({at}): path `{path}` must start with `/`")]
    InvalidPath {
        /// The module.
        module: String,
        /// The path.
        path: String,
        /// Where it is.
        at: Location,
    },
    /// Two handlers for one command in one module.
    #[error("module {module} maps command `{command}` twice: {first_at} and {second_at}")]
    DuplicateCommand {
        /// The module.
        module: String,
        /// The command.
        command: String,
        /// The first mapping.
        first_at: Location,
        /// The second.
        second_at: Location,
    },
    /// Two hooks of one kind for one module.
    #[error("module {module} has two #[{hook}] hooks: {first_at} and {second_at}")]
    DuplicateHook {
        /// The module.
        module: String,
        /// The hook kind (`on_open`, ...).
        hook: &'static str,
        /// The first.
        first_at: Location,
        /// The second.
        second_at: Location,
    },
    /// A `default_command` that no handler serves.
    #[error(
        "module {module} ({at}): default_command `{command}` is mapped by no controller and \
         the module has no #[on_message]"
    )]
    UnknownDefaultCommand {
        /// The module.
        module: String,
        /// The command.
        command: String,
        /// Where the module is.
        at: Location,
    },
    /// A controller that no module lists (discovery only).
    #[error("controller {controller} ({at}) is listed in no module's `controllers = [...]`")]
    OrphanController {
        /// The controller.
        controller: String,
        /// Where it is.
        at: Location,
    },
    /// Hooks for a module that is not part of the app.
    #[error("hooks for {module} ({at}) but {module} is not a module of this app")]
    OrphanHooks {
        /// The module type's name.
        module: String,
        /// Where the hooks are.
        at: Location,
    },
}

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

/// A module, ready to serve: its tables are built and only read from here on.
#[derive(Debug)]
pub(crate) struct ModuleRuntime {
    pub(crate) def: &'static ModuleDef,
    pub(crate) path: &'static str,
    pub(crate) parser: Arc<dyn Parser>,
    pub(crate) instance: Instance,
    pub(crate) routes: HashMap<Box<str>, Route>,
    pub(crate) default_route: Option<Route>,
    pub(crate) hooks: Hooks,
    /// global → module: for messages no handler maps, or that fail to decode.
    pub(crate) chain: Chain,
    pub(crate) metrics: ModuleMetrics,
    /// Resolved by `AppBuilder::build` from the config and the module's overrides.
    pub(crate) limits: crate::config::limits::Limits,
}

/// Builds the tables of `modules`; `discovered` adds the checks that only make sense when every
/// registered item is meant to be in the app (controllers no module lists).
pub(crate) fn build(
    modules: &[&'static ModuleDef],
    discovered: bool,
    instances: &HashMap<TypeId, Instance>,
    global: &[Arc<dyn Middleware>],
) -> Result<Vec<ModuleRuntime>, BuildError> {
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
        built.push(ModuleRuntime {
            def: m,
            path: m.path,
            parser: (m.parser)(),
            instance: module_instance,
            routes,
            default_route,
            hooks,
            chain: module_chain,
            metrics: ModuleMetrics::new(m.path),
            limits: crate::config::limits::Limits::default(),
        });
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
        Err(BuildError { problems })
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
