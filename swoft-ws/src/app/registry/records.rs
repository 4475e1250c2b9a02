//! The macro ABI: the `const` records `#[ws_module]`, `#[ws_controller]` and hook blocks
//! submit, and the inventory lists they are collected in. Generated code reaches them only
//! through `__private`.

use std::any::TypeId;
use std::fmt;
use std::sync::Arc;

use crate::protocol::Parser;
use crate::runtime::handler::{CloseFn, DispatchFn, HandshakeFn, MakeFn, OpenFn};
use crate::runtime::middleware::MiddlewareRef;

/// Where something was declared in the user's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// The file, as `file!()` gives it.
    pub file: &'static str,
    /// The line, as `line!()` gives it (1-based).
    pub line: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One `#[message_mapping]`.
#[derive(Debug)]
pub struct RouteDef {
    /// The mapped action (`join`) or full command (`room.join`).
    pub action: &'static str,
    /// `root = true`: the action is served as written, without the controller's prefix
    /// (Swoft's `@MessageMapping(root=true)`).
    pub root: bool,
    /// `opcode = binary`: the frame its replies go out in (Swoft's mapping `opcode`); the
    /// module's without it.
    pub opcode: Option<crate::ws::Opcode>,
    /// The handler's index in its controller's dispatch function.
    pub index: u16,
    /// `#[middleware(..)]` on the method.
    pub middleware: &'static [MiddlewareRef],
    /// Where the mapping is.
    pub location: Location,
    /// Reports the state its arguments need ([`FromContext::required_state`](crate::FromContext::required_state)
    /// of each), checked by `build`.
    pub needs: NeedsFn,
    /// Its payload and reply types and declared error codes, for [`App::describe`](crate::App::describe).
    pub contract: crate::contract::RouteContract,
}

/// Calls `need` with the state a handler's arguments need.
pub type NeedsFn = fn(&mut dyn FnMut(crate::extract::RequiredState));

/// A `NeedsFn` that needs nothing (hooks without extractors).
pub fn no_needs(need: &mut dyn FnMut(crate::extract::RequiredState)) {
    let _ = need;
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
    /// The path it serves (`/chat`, `/rooms/{id}`); without a leading `/` it means the path
    /// with one (Swoft's `@WsModule("echo")` is `/echo`).
    pub path: &'static str,
    /// `params(id = r"\d+")`: a regular expression each value of a path variable must match
    /// whole (Swoft's `params={"id": "\d+"}`); a variable without one takes any segment.
    pub params: &'static [(&'static str, &'static str)],
    /// `name = "chat"` (Swoft's `@WsModule(name="chat")`): the module's name in logs, the
    /// `swoft_ws_module_info` series and [`Server::module_stats`](crate::Server::module_stats);
    /// the type's name without it.
    pub label: Option<&'static str>,
    /// `protocols = ["v2", "v1"]`: the subprotocols it speaks, preferred first; the server
    /// answers with the first of them the client offers (unless the handshake hook chose).
    pub protocols: &'static [&'static str],
    /// `opcode = binary`: the frame its replies go out in, unless a mapping says otherwise
    /// (Swoft's `defaultOpcode`).
    pub opcode: crate::ws::Opcode,
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
    pub limits: crate::config::ModuleLimits,
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
    /// The state its arguments need (`#[on_message]`; [`no_needs`] for the others).
    pub needs: NeedsFn,
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

/// A `#[ws_listener(event = "...")]` fn.
#[derive(Debug)]
pub struct ListenerDef {
    /// The event it listens to.
    pub event: crate::runtime::events::WsEvent,
    /// The fn.
    pub call: crate::runtime::events::ListenerFn,
    /// Where the fn is.
    pub location: Location,
}

/// A registered listener (inventory record).
#[derive(Debug)]
pub struct ListenerEntry(pub &'static ListenerDef);

inventory::collect!(ListenerEntry);

/// A `#[push("room.message", module = ChatModule)]` type: a push the contract declares (a
/// request, with `reply = T`).
#[derive(Debug)]
pub struct PushDef {
    /// The commands it is pushed as.
    pub commands: &'static [&'static str],
    /// The module it belongs to; `None`: every JSON module.
    pub module: Option<fn() -> TypeId>,
    /// The pushed type.
    pub payload: crate::contract::TypeFn,
    /// `reply = T`: the push is a request and `T` the answer's type.
    pub reply: Option<crate::contract::TypeFn>,
    /// Where the type is.
    pub location: Location,
}

/// A declared push (inventory record).
#[derive(Debug)]
pub struct PushEntry(pub &'static PushDef);

inventory::collect!(PushEntry);

/// Every push declared in this binary, in source order (file, line).
pub(crate) fn registered_pushes() -> Vec<&'static PushDef> {
    let mut v: Vec<&PushDef> = inventory::iter::<PushEntry>
        .into_iter()
        .map(|e| e.0)
        .collect();
    v.sort_by_key(|p| p.location);
    v
}

/// Every listener registered in this binary, in source order (file, line).
pub(crate) fn registered_listeners() -> Vec<(
    crate::runtime::events::WsEvent,
    crate::runtime::events::ListenerFn,
)> {
    let mut v: Vec<&ListenerDef> = inventory::iter::<ListenerEntry>
        .into_iter()
        .map(|e| e.0)
        .collect();
    v.sort_by_key(|l| l.location);
    v.into_iter().map(|l| (l.event, l.call)).collect()
}

/// Every module registered in this binary, sorted by path.
pub(crate) fn registered_modules() -> Vec<&'static ModuleDef> {
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
    /// The module's record (generated; not API).
    #[doc(hidden)]
    const DEF: &'static ModuleDef;
}

/// Implemented by `#[ws_controller]` for the controller type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a ws controller",
    label = "listed as a controller but not annotated with #[ws_controller]",
    note = "add `#[ws_controller(prefix = \"...\")]` to an `impl {Self}` block"
)]
pub trait Controller: 'static {
    /// The controller's record (generated; not API).
    #[doc(hidden)]
    const DEF: &'static ControllerDef;
}

/// `prefix.action`, or the action alone when it is already a full command, a root one, or
/// there is no prefix.
pub(crate) fn full_command(prefix: &str, route: &RouteDef) -> String {
    let action = route.action;
    if prefix.is_empty() || route.root || action.contains('.') {
        action.to_owned()
    } else {
        format!("{prefix}.{action}")
    }
}
