//! Not public API: what the macros' generated code uses. Names here are kept stable for the
//! macros of the same version; nothing else should name them.

use std::fmt::Display;
use std::marker::PhantomData;

pub use ::inventory;
pub use core::any::{Any, TypeId};
pub use core::option::Option::{self, None, Some};
pub use core::result::Result::{self, Err, Ok};
pub use std::sync::Arc;

pub use crate::app::registry::{
    Controller, ControllerDef, ControllerEntry, Hook, HooksDef, HooksEntry, Instance, ListenerDef,
    ListenerEntry, Location, Module, ModuleDef, ModuleEntry, NeedsFn, PushDef, PushEntry, RouteDef,
    no_needs,
};
pub use crate::config::{Backpressure, Compression, ModuleLimits, RateLimit, Recovery};
pub use crate::contract::{
    PayloadViaAny, PayloadViaNone, PayloadViaSchema, Probe, ReplyViaAny, ReplyViaNone,
    ReplyViaResultAny, ReplyViaResultSchema, ReplyViaSchema, RouteContract, TypeInfo, TypeViaAny,
    TypeViaSchema, no_payload,
};
pub use crate::extract::FromContext;
pub use crate::extract::RequiredState;
pub use crate::handshake::{Accept, HandshakeRequest, IntoHandshake, Reject};
pub use crate::protocol::{IntoReply, Reply, WsError};
pub use crate::protocol::{JsonParser, Parser, RawParser, TokenTextParser};
pub use crate::runtime::connection::{CloseInfo, Connection};
pub use crate::runtime::context::Context;
pub use crate::runtime::events::{Event, WsEvent};
pub use crate::runtime::handler::MaybeReady;
pub use crate::runtime::middleware::{Middleware, MiddlewareRef};
pub use crate::ws::Opcode;

/// A result already there: `Result<Accept, Reject>` for handshake shims.
pub type HandshakeOutcome = Result<Accept, Reject>;

pub fn type_id<T: 'static>() -> TypeId {
    TypeId::of::<T>()
}

/// The `TypeId` of a module type (`#[push(.., module = M)]`): not a module → a compile error
/// that says so.
pub fn module_id<M: Module>() -> TypeId {
    TypeId::of::<M>()
}

/// `#[push(.., reply = T)]`: the server decodes a client's answer into a `T` (`Connection::request`
/// asks for a `DeserializeOwned`); another type is a compile error at the user's `T`.
pub fn answer_type<T: serde::de::DeserializeOwned>() {}

impl<T> crate::contract::PayloadWrapper for crate::extract::Data<T> {
    type Payload = T;
}

impl<T> crate::contract::PayloadWrapper for Option<crate::extract::Data<T>> {
    type Payload = T;
}

#[diagnostic::on_unimplemented(
    message = "`{Self}` must implement `Default` for swoft-ws to build it",
    label = "no `Default` implementation",
    note = "add `#[derive(Default)]` to `{Self}`, or give an instance with `AppBuilder::instance`"
)]
pub trait Instantiate: Send + Sync + 'static {
    fn instantiate() -> Self;
}

impl<T: Default + Send + Sync + 'static> Instantiate for T {
    fn instantiate() -> Self {
        T::default()
    }
}

pub fn make_default<T: Instantiate>() -> Instance {
    Arc::new(T::instantiate())
}

pub fn make_middleware<M: Middleware + Instantiate>() -> Arc<dyn Middleware> {
    Arc::new(M::instantiate())
}

pub fn parser<P: Parser + Default>() -> Arc<dyn Parser> {
    Arc::new(P::default())
}

pub fn downcast<T: 'static>(this: &(dyn Any + Send + Sync)) -> &T {
    match this.downcast_ref::<T>() {
        Some(t) => t,
        None => unreachable!("swoft-ws: handler called with an instance of another type"),
    }
}

pub fn reject<'a>(e: WsError) -> MaybeReady<'a, Reply> {
    MaybeReady::ready(Reply::Error(e))
}

pub fn no_such_handler<'a>() -> MaybeReady<'a, Reply> {
    MaybeReady::ready(Reply::Error(WsError::internal("no such handler")))
}

fn stub_make() -> Instance {
    Arc::new(())
}

fn stub_dispatch<'a>(
    _: &'a (dyn Any + Send + Sync),
    _: u16,
    _: &'a Context,
) -> MaybeReady<'a, Reply> {
    no_such_handler()
}

const STUB_AT: Location = Location {
    file: "<invalid>",
    line: 0,
};

/// What a controller whose macro failed is given, so that only the real error shows.
pub const STUB_CONTROLLER: ControllerDef = ControllerDef {
    name: "<invalid controller>",
    prefix: "",
    type_id: type_id::<()>,
    make: stub_make,
    routes: &[],
    middleware: &[],
    dispatch: stub_dispatch,
    location: STUB_AT,
};

/// What a module whose macro failed is given, so that only the real error shows.
pub const STUB_MODULE: ModuleDef = ModuleDef {
    name: "<invalid module>",
    path: "/",
    params: &[],
    label: None,
    protocols: &[],
    opcode: crate::ws::Opcode::Text,
    type_id: type_id::<()>,
    make: stub_make,
    controllers: &[],
    parser: parser::<JsonParser>,
    default_command: None,
    default_prefix: None,
    middleware: &[],
    concurrency: 1,
    limits: crate::config::ModuleLimits::NONE,
    location: STUB_AT,
};

// Reply conversion by autoref specialization: `IntoReply` first, then `Serialize`. The
// probe types and traits are generated beside each dispatch function (see the macros'
// `reply_imports`); they name `ReplyWrap<T>: ViaSerialize` as their `Serialize` bound so
// that generated code needs no path to serde.
#[derive(Debug)]
pub struct ReplyWrap<T>(PhantomData<T>);

pub trait ViaSerialize {
    fn __swoft_reply_kind(&self) -> SerializeKind;
}

impl<T: serde::Serialize> ViaSerialize for ReplyWrap<T> {
    fn __swoft_reply_kind(&self) -> SerializeKind {
        SerializeKind
    }
}

#[derive(Debug)]
pub struct IntoReplyKind;

impl IntoReplyKind {
    pub fn reply<T: IntoReply>(self, value: T) -> Reply {
        value.into_reply()
    }
}

/// A `Result` that is not `IntoReply`: its `reply` asks for `E: ErrorReply`, whose message
/// says what to do.
#[derive(Debug)]
pub struct ResultKind;

impl ResultKind {
    pub fn reply<T: crate::protocol::ReplyValue, E: ErrorReply>(
        self,
        value: Result<T, E>,
    ) -> Reply {
        match value {
            Ok(v) => v.into_reply_value(),
            Err(e) => Reply::Error(e.into_ws_error()),
        }
    }
}

/// The error of a handler's `Result`: any `E: Into<WsError>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the error of a handler's `Result`",
    label = "`{Self}` is not `Into<WsError>`",
    note = "a handler's `Result` is a reply (`Ok`) or an error reply (`Err`): return `Result<T, WsError>` (or `String`/`&'static str`, code `error`), or implement `From<{Self}> for WsError` with the code clients should get",
    note = "to send the `Result` itself as data, wrap it in a type of your own that derives `Serialize`"
)]
pub trait ErrorReply {
    fn into_ws_error(self) -> WsError;
}

#[diagnostic::do_not_recommend]
impl<E: Into<WsError>> ErrorReply for E {
    fn into_ws_error(self) -> WsError {
        self.into()
    }
}

#[derive(Debug)]
pub struct SerializeKind;

impl SerializeKind {
    pub fn reply<T: serde::Serialize>(self, value: T) -> Reply {
        Reply::data(&value)
    }
}

/// What open and close hooks may return.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from a lifecycle hook",
    note = "#[on_open] and #[on_close] hooks return `()` or `Result<(), E>` with `E: Display`"
)]
pub trait HookOutput {
    fn done(self, hook: &'static str);
}

impl HookOutput for () {
    fn done(self, _: &'static str) {}
}

impl<E: Display> HookOutput for Result<(), E> {
    fn done(self, hook: &'static str) {
        if let Err(e) = self {
            tracing::warn!(hook, error = %e, "hook returned an error");
        }
    }
}

#[cfg(feature = "__bench")]
pub mod bench;

#[cfg(feature = "__codec")]
pub mod codec;
