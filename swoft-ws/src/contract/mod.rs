//! The typed contract: what an app's modules accept, answer and push, as data
//! ([`Description`], from [`App::describe`](crate::App::describe)), and the documents made from
//! it: an AsyncAPI 3.0 document ([`Description::to_asyncapi`]) and a TypeScript module of types
//! and a typed wrapper over the `swoft-ws-client` npm package ([`Description::to_typescript`]).
//!
//! # Where the types come from
//!
//! The macros record, for every `#[message_mapping]`, the payload type (the `T` of its
//! `Data<T>` argument, if it has one) and the reply type (its return type, or the `T` of a
//! `Result<T, E>`; `()` is no reply), plus the error codes declared with
//! `#[message_mapping("send", errors = ["forbidden"])]`. Pushes enter by declaration:
//! `#[push("room.message", module = ChatModule)]` on the pushed type; so do the server's requests
//! to clients, with the type of their answer: `#[push("poll.ask", module = ChatModule, reply =
//! PollAnswer)]`.
//!
//! With the `schema` feature, a type that implements [`schemars::JsonSchema`] is described by
//! its JSON Schema (named types land in [`Description::schemas`], referred to as
//! `#/components/schemas/NAME`). A type without it — or any type without the feature — is
//! described by its name only, with no schema: "any" in the AsyncAPI document and `any` in the
//! TypeScript module. Nothing here runs on the message path; describing is done on request.

mod asyncapi;
mod description;
mod schema;
mod typescript;

use serde_json::Value;

pub(crate) use self::description::short_type_name;
pub use self::description::{
    COMMON_ERRORS, CommandDescription, Description, ModuleDescription, PushDescription,
    RESUME_REASONS, RecoveryDescription, SESSION_COMMAND, Shape, Variable,
};
pub use self::schema::SchemaGen;
#[doc(hidden)]
pub use self::schema::{
    PayloadViaAny, PayloadViaNone, PayloadViaSchema, PayloadWrapper, Probe, ReplyViaAny,
    ReplyViaNone, ReplyViaResultAny, ReplyViaResultSchema, ReplyViaSchema, RouteContract, SchemaFn,
    TypeFn, TypeInfo, TypeViaAny, TypeViaSchema, no_payload,
};
pub use self::typescript::TypeScriptOptions;

impl Description {
    /// The AsyncAPI 3.0 document of the app, as JSON: one channel per module (its path, with
    /// its variables as parameters), and per command a `receive` operation with its reply
    /// (the reply message and the error reply message), per push a `send` operation, per server
    /// request a `send` operation with its reply (the client's answer and refusal). Messages
    /// are the JSON protocol's envelopes (`{"cmd", "data", "id"}`); `title` and `version` go to
    /// `info`. A module with resumable sessions also gets its `$session` message (a `send`
    /// operation), a required `off` in its pushes and the `resume` and `off` query parameters
    /// (`bindings.ws.query`). Modules whose parser is not `json` get a channel with their path
    /// only.
    pub fn to_asyncapi(&self, title: &str, version: &str) -> Value {
        asyncapi::document(self, title, version)
    }

    /// A TypeScript module (ES2020, strict-mode clean): an interface or alias per named type,
    /// the error codes as a string-literal union, and per JSON module a function that wraps a
    /// `Client` of `swoft-ws-client` into typed calls (`chat(client).room.join({room})` →
    /// `Promise<Members>`, `chat(client).on("room.message", (m: RoomMessage) => ..)`,
    /// `chat(client).handle("poll.ask", (q: PollAsk) => answer)`). With a resumable module, the
    /// `$session` data (`SessionInfo`, its `ResumeReason`), the module's bounds
    /// (`chatRecovery`) and `chat(client).onResumed(..)` over the client's `resumed` event.
    pub fn to_typescript(&self, options: &TypeScriptOptions) -> String {
        typescript::module(self, options)
    }
}
