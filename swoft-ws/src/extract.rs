//! Extractors: the arguments of handler methods.
//!
//! Every argument of a `#[message_mapping]` method or an `#[on_message]` hook (after `&self`)
//! is an extractor: a type that implements [`FromContext`], built from the message's
//! [`Context`]. Extraction is synchronous and runs before the handler; when it fails, the
//! client gets the error reply it returns (`invalid_data` for a payload that does not fit) and
//! the handler is not called.
//!
//! | extractor | what it gives |
//! |---|---|
//! | [`Data<T>`] | the payload (`data`), deserialized into `T` (may borrow from the frame) |
//! | `&Connection`, [`Connection`] | the connection the message came on |
//! | [`Fd`] | its fd |
//! | `&Context`, [`Context`] | the whole message context |
//! | [`Server`] | the server handle, for pushes to other connections |
//! | [`State<T>`] | shared application state registered with [`AppBuilder::state`](crate::AppBuilder::state) |
//! | [`Session<T>`] | per-connection session data of type `T` (set at the handshake or later) |
//! | [`RawMessage`] | the frame as received |
//! | [`Ext<T>`] | the message's extra fields (`ext`), deserialized into `T` |
//! | [`Extension<T>`] | a value a middleware stored in the context ([`Context::insert`]) |
//! | `Option<E>` | `E`, or `None` when `E` cannot be extracted |
//!
//! # Writing an extractor
//!
//! ```
//! use swoft_ws::{Context, FromContext, WsError};
//!
//! /// The caller's name, from session data set at the handshake.
//! struct Caller(String);
//!
//! impl FromContext<'_> for Caller {
//!     fn from_context(cx: &Context) -> Result<Self, WsError> {
//!         cx.connection()
//!             .get::<String>()
//!             .map(Caller)
//!             .ok_or_else(|| WsError::forbidden("log in first"))
//!     }
//! }
//! ```

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::de::{Deserialize, IntoDeserializer};

use crate::protocol::Body;
use crate::protocol::WsError;
use crate::protocol::error::serde_message;
use crate::runtime::connection::Connection;
use crate::runtime::context::Context;
use crate::runtime::fd::Fd;
use crate::runtime::server::Server;
use crate::ws::RawMessage;

/// A handler argument built from the message's [`Context`]; see the [module docs](self).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a handler argument swoft-ws can provide",
    label = "not an extractor",
    note = "handler arguments implement `FromContext`: `Data<T>`, `&Connection`, `Fd`, `&Context`, `Server`, `State<T>`, `Session<T>`, `Extension<T>`, `RawMessage`, `Ext<T>`, or your own"
)]
pub trait FromContext<'a>: Sized {
    /// Builds the argument, or the error reply the client gets instead of the handler running.
    fn from_context(cx: &'a Context) -> Result<Self, WsError>;

    /// Reports the shared state ([`AppBuilder::state`](crate::AppBuilder::state)) this
    /// extractor cannot work without, so that
    /// [`AppBuilder::build`](crate::AppBuilder::build) refuses an app that lacks it (a
    /// [`Problem::MissingState`](crate::error::Problem::MissingState) at the handler's `file:line`)
    /// instead of every call failing at run time. The default reports nothing; [`State<T>`]
    /// reports `T`; `Option<E>` reports nothing (the state is optional there). An extractor of
    /// your own that reads state calls `need` for each type.
    fn required_state(need: &mut dyn FnMut(RequiredState)) {
        let _ = need;
    }
}

/// Shared state a handler argument needs: see [`FromContext::required_state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequiredState {
    /// The state's type.
    pub type_id: std::any::TypeId,
    /// Its name, for the build error.
    pub type_name: &'static str,
}

impl RequiredState {
    /// The state of type `T`.
    pub fn of<T: 'static>() -> Self {
        RequiredState {
            type_id: std::any::TypeId::of::<T>(),
            type_name: std::any::type_name::<T>(),
        }
    }
}

/// The values of the module path's variables (`/rooms/{id}`), cloned from the handshake.
impl FromContext<'_> for crate::handshake::PathParams {
    fn from_context(cx: &Context) -> Result<Self, WsError> {
        Ok(cx.connection().handshake().path_params().clone())
    }
}

/// The message's payload, deserialized into `T`.
///
/// For the JSON parser this is the `data` field (or the object's other fields without one).
/// A payload that does not fit `T` is answered with `invalid_data`, naming the problem.
/// `T` may borrow from the frame (`Data<&str>`, structs with `&'a str` fields).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Data<T>(pub T);

impl<T> Deref for Data<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<'a, T: Deserialize<'a>> FromContext<'a> for Data<T> {
    fn from_context(cx: &'a Context) -> Result<Self, WsError> {
        match cx.body() {
            Body::Text(p) => {
                let text = p.resolve(cx.message()).unwrap_or_default();
                // Text bodies: a JSON value if the text is one, else the text as a string.
                serde_json::from_str(text)
                    .or_else(|_| {
                        T::deserialize(IntoDeserializer::<serde_json::Error>::into_deserializer(
                            text,
                        ))
                    })
                    .map(Data)
                    .map_err(WsError::from)
            }
            Body::Binary => Err(WsError::invalid_data(
                "a binary frame has no structured payload; take `RawMessage` instead",
            )),
            _ => {
                let json = cx.body_json().unwrap_or("null");
                serde_json::from_str(json).map(Data).map_err(WsError::from)
            }
        }
    }
}

/// The message's extra fields (`ext`), deserialized into `T`; absent `ext` is JSON `null`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ext<T>(pub T);

impl<'a, T: Deserialize<'a>> FromContext<'a> for Ext<T> {
    fn from_context(cx: &'a Context) -> Result<Self, WsError> {
        serde_json::from_str(cx.ext().unwrap_or("null"))
            .map(Ext)
            .map_err(|e| WsError::invalid_data(format!("ext: {}", serde_message(&e))))
    }
}

impl<'a> FromContext<'a> for &'a Context {
    fn from_context(cx: &'a Context) -> Result<Self, WsError> {
        Ok(cx)
    }
}

impl FromContext<'_> for Context {
    fn from_context(cx: &Context) -> Result<Self, WsError> {
        Ok(cx.clone())
    }
}

impl<'a> FromContext<'a> for &'a Connection {
    fn from_context(cx: &'a Context) -> Result<Self, WsError> {
        Ok(cx.connection())
    }
}

impl FromContext<'_> for Connection {
    fn from_context(cx: &Context) -> Result<Self, WsError> {
        Ok(cx.connection().clone())
    }
}

impl FromContext<'_> for Fd {
    fn from_context(cx: &Context) -> Result<Self, WsError> {
        Ok(cx.fd())
    }
}

impl FromContext<'_> for Server {
    fn from_context(cx: &Context) -> Result<Self, WsError> {
        Ok(cx.server().clone())
    }
}

impl<'a> FromContext<'a> for &'a Server {
    fn from_context(cx: &'a Context) -> Result<Self, WsError> {
        Ok(cx.server())
    }
}

impl FromContext<'_> for RawMessage {
    fn from_context(cx: &Context) -> Result<Self, WsError> {
        Ok(cx.message().clone())
    }
}

impl<'a, T: FromContext<'a>> FromContext<'a> for Option<T> {
    fn from_context(cx: &'a Context) -> Result<Self, WsError> {
        Ok(T::from_context(cx).ok())
    }
}

/// A value of type `T` that a middleware stored in the message's context with
/// [`Context::insert`].
///
/// Missing, it is answered with `internal` (a middleware that should have set it did not run);
/// take `Option<Extension<T>>` when it is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extension<T>(pub T);

impl<T> Deref for Extension<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Clone + Send + Sync + 'static> FromContext<'_> for Extension<T> {
    fn from_context(cx: &Context) -> Result<Self, WsError> {
        cx.get::<T>().map(Extension).ok_or_else(|| {
            tracing::error!(
                ty = std::any::type_name::<T>(),
                "handler asked for a context extension no middleware set"
            );
            WsError::internal("a value this handler needs was not set by its middleware")
        })
    }
}

/// Shared application state of type `T`, registered once with
/// [`AppBuilder::state`](crate::AppBuilder::state).
///
/// [`AppBuilder::build`](crate::AppBuilder::build) refuses an app whose handlers take
/// `State<T>` for a `T` never registered ([`Problem::MissingState`](crate::error::Problem::MissingState),
/// at the handler's `file:line`); take `Option<State<T>>` for state that may be absent. (A
/// custom extractor that looks state up itself and finds none gets an `internal` error reply
/// without the type's name, which is logged.)
pub struct State<T>(pub Arc<T>);

impl<T> Clone for State<T> {
    fn clone(&self) -> Self {
        State(Arc::clone(&self.0))
    }
}

impl<T: fmt::Debug> fmt::Debug for State<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("State").field(&self.0).finish()
    }
}

impl<T> Deref for State<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Send + Sync + 'static> FromContext<'_> for State<T> {
    fn from_context(cx: &Context) -> Result<Self, WsError> {
        cx.server().state::<T>().map(State).ok_or_else(|| {
            tracing::error!(
                state = std::any::type_name::<T>(),
                "handler asked for state that was never registered"
            );
            // Rust type paths stay in the log: they are not the client's business.
            WsError::internal("shared state this handler needs is missing")
        })
    }

    fn required_state(need: &mut dyn FnMut(RequiredState)) {
        need(RequiredState::of::<T>());
    }
}

/// The connection's session data of type `T` (a copy), set at the handshake with
/// [`Accept::with`](crate::Accept::with) or later with
/// [`Connection::insert`](crate::Connection::insert).
///
/// Missing session data is answered with `forbidden` (the usual cause is a client that has not
/// authenticated); take `Option<Session<T>>` to handle its absence yourself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session<T>(pub T);

impl<T> Deref for Session<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Clone + Send + Sync + 'static> FromContext<'_> for Session<T> {
    fn from_context(cx: &Context) -> Result<Self, WsError> {
        cx.connection().get::<T>().map(Session).ok_or_else(|| {
            tracing::debug!(
                ty = std::any::type_name::<T>(),
                "no session data of this type: answered `forbidden`"
            );
            WsError::forbidden("this connection has no session for this command")
        })
    }
}
