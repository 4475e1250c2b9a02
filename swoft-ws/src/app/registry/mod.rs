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

mod check;
mod error;
pub(crate) mod paths;
mod records;
mod tables;

pub use self::error::{BuildError, Problem};
pub use self::records::{
    Controller, ControllerDef, ControllerEntry, Hook, HooksDef, HooksEntry, ListenerDef,
    ListenerEntry, Location, Module, ModuleDef, ModuleEntry, NeedsFn, PushDef, PushEntry, RouteDef,
    no_needs,
};
pub(crate) use self::records::{
    full_command, registered_listeners, registered_modules, registered_pushes,
};
pub use crate::runtime::handler::Instance;

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::Arc;

use crate::runtime::middleware::Middleware;
use crate::runtime::module::ModuleRuntime;

/// Builds the tables of `modules`; `discovered` adds the checks that only make sense when every
/// registered item is meant to be in the app (controllers no module lists).
///
/// Two halves: [`check`] finds every problem from the records alone (all are reported
/// together, in a stable order); only when there is none does [`tables`] build the runtime's
/// tables.
pub(crate) fn build(
    modules: &[&'static ModuleDef],
    discovered: bool,
    instances: &HashMap<TypeId, Instance>,
    global: &[Arc<dyn Middleware>],
    has_state: &dyn Fn(TypeId) -> bool,
) -> Result<Vec<(&'static ModuleDef, ModuleRuntime)>, BuildError> {
    let mut sorted: Vec<&'static ModuleDef> = modules.to_vec();
    sorted.sort_by_key(|m| (m.path, m.location));
    sorted.dedup_by_key(|m| (m.type_id)());

    let mut hook_blocks: Vec<&'static HooksDef> = inventory::iter::<HooksEntry>
        .into_iter()
        .map(|e| e.0)
        .collect();
    hook_blocks.sort_by_key(|h| check::first_hook_location(h));

    let problems = check::problems(&sorted, &hook_blocks, discovered, has_state);
    if !problems.is_empty() {
        return Err(BuildError::new(problems));
    }
    let mut tables = tables::Tables::new(instances, global);
    Ok(sorted
        .iter()
        .map(|m| (*m, tables.module(m, &hook_blocks)))
        .collect())
}
