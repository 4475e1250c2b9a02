//! The handshake: what a module's `#[on_handshake]` hook sees and how it answers.
//!
//! ```
//! use swoft_ws::prelude::*;
//! use swoft_ws::http::StatusCode;
//!
//! #[derive(Clone)]
//! struct User(String);
//!
//! #[ws_module(path = "/chat")]
//! pub struct ChatModule;
//!
//! #[ws_module]
//! impl ChatModule {
//!     #[on_handshake]
//!     fn handshake(&self, req: &HandshakeRequest) -> Result<Accept, Reject> {
//!         let name = req
//!             .query_param("name")
//!             .ok_or_else(|| Reject::new(StatusCode::BAD_REQUEST, "name is required"))?;
//!         Ok(Accept::new().with(User(name.into_owned())))
//!     }
//! }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};

/// A snapshot of the handshake request. Kept on the [`Connection`](crate::Connection) for its
/// whole life.
#[derive(Debug, Clone)]
pub struct HandshakeRequest {
    uri: Uri,
    headers: HeaderMap,
    peer: Option<SocketAddr>,
    protocols: Vec<String>,
    extensions: http::Extensions,
}

impl HandshakeRequest {
    /// A request snapshot (for tests of hooks; the server builds these itself).
    pub fn new(uri: Uri, headers: HeaderMap, peer: Option<SocketAddr>) -> Self {
        let protocols = headers
            .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect();
        HandshakeRequest {
            uri,
            headers,
            peer,
            protocols,
            extensions: http::Extensions::new(),
        }
    }

    /// The same request with the request extensions tower layers set (an authenticated user,
    /// say), readable with [`extension`](Self::extension).
    pub fn with_extensions(mut self, extensions: http::Extensions) -> Self {
        self.extensions = extensions;
        self
    }

    /// A value a tower layer on the router put into the request's extensions
    /// (`req.extensions_mut().insert(value)`), e.g. the user an auth layer authenticated.
    pub fn extension<T: Clone + Send + Sync + 'static>(&self) -> Option<&T> {
        self.extensions.get::<T>()
    }

    /// The request URI.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The path (`/chat`).
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The raw query string, if any (`name=alice&room=a`).
    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    /// The first value of a query parameter, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<Cow<'_, str>> {
        form_urlencoded::parse(self.query()?.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The query string deserialized into `T` (with `serde_urlencoded`).
    pub fn query_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        serde_urlencoded::from_str(self.query().unwrap_or("")).map_err(|e| e.to_string())
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// A header's value, if present and valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// A cookie's value from the `Cookie` headers.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// The peer's address (when the server was started with connect info, as
    /// [`App::serve`](crate::App::serve) does).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The subprotocols the client offered (`Sec-WebSocket-Protocol`), in its order.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }
}

/// The handshake is accepted: optional response headers, a chosen subprotocol, and session
/// data stored on the connection.
#[derive(Debug, Default)]
pub struct Accept {
    pub(crate) headers: HeaderMap,
    pub(crate) protocol: Option<String>,
    pub(crate) session: http::Extensions,
}

impl Accept {
    /// Accept, with nothing more.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a response header. Invalid names or values are logged and left out.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (
            HeaderName::try_from(name),
            HeaderValue::try_from(value.to_owned()),
        ) {
            (Ok(n), Ok(v)) => {
                self.headers.append(n, v);
            }
            _ => tracing::warn!(name, "invalid handshake response header left out"),
        }
        self
    }

    /// Chooses a subprotocol. It must be one the client offered, or it is left out (browsers
    /// fail a handshake that answers with a protocol they did not offer).
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocol = Some(protocol.into());
        self
    }

    /// Stores `value` in the connection's session data, readable by type with
    /// [`Connection::get`](crate::Connection::get) or the [`Session`](crate::Session)
    /// extractor.
    pub fn with<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.session.insert(value);
        self
    }
}

/// The handshake is refused with an HTTP status and a reason (the response body). No upgrade.
#[derive(Debug, Clone)]
pub struct Reject {
    pub(crate) status: StatusCode,
    pub(crate) reason: String,
}

impl Reject {
    /// Refuse with this status and reason.
    pub fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        Reject {
            status,
            reason: reason.into(),
        }
    }

    /// 400 Bad Request.
    pub fn bad_request(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, reason)
    }

    /// 401 Unauthorized.
    pub fn unauthorized(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, reason)
    }

    /// 403 Forbidden.
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, reason)
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The reason.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.reason)
    }
}

/// What an `#[on_handshake]` hook may return.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from an #[on_handshake] hook",
    note = "return `Accept`, `Reject`, `Result<Accept, Reject>`, `bool` or `()`"
)]
pub trait IntoHandshake {
    /// The decision.
    fn into_handshake(self) -> Result<Accept, Reject>;
}

impl IntoHandshake for Accept {
    fn into_handshake(self) -> Result<Accept, Reject> {
        Ok(self)
    }
}

impl IntoHandshake for Reject {
    fn into_handshake(self) -> Result<Accept, Reject> {
        Err(self)
    }
}

impl IntoHandshake for Result<Accept, Reject> {
    fn into_handshake(self) -> Result<Accept, Reject> {
        self
    }
}

impl IntoHandshake for () {
    fn into_handshake(self) -> Result<Accept, Reject> {
        Ok(Accept::new())
    }
}

/// `true` accepts; `false` refuses with 403.
impl IntoHandshake for bool {
    fn into_handshake(self) -> Result<Accept, Reject> {
        if self {
            Ok(Accept::new())
        } else {
            Err(Reject::forbidden("handshake refused"))
        }
    }
}
