//! The handshake: what a module's `#[on_handshake]` hook sees and how it answers.
use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};

/// A snapshot of the handshake request: what a module's `#[on_handshake]` hook sees to decide
/// (answering with [`Accept`], maybe with session data, or [`Reject`]), and what stays on the
/// [`Connection`](crate::Connection) for its whole life.
///
/// ```
/// use swoft_ws::prelude::*;
/// use swoft_ws::http::StatusCode;
///
/// #[derive(Clone)]
/// struct User(String);
///
/// #[ws_module(path = "/chat")]
/// pub struct ChatModule;
///
/// #[ws_module]
/// impl ChatModule {
///     #[on_handshake]
///     fn handshake(&self, req: &HandshakeRequest) -> Result<Accept, Reject> {
///         let name = req
///             .query_param("name")
///             .ok_or_else(|| Reject::new(StatusCode::BAD_REQUEST, "name is required"))?;
///         Ok(Accept::new().with(User(name.into_owned())))
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct HandshakeRequest {
    uri: Uri,
    headers: HeaderMap,
    peer: Option<SocketAddr>,
    /// The offered subprotocols, read off the `Sec-WebSocket-Protocol` values (slices of the
    /// snapshot's one buffer) the first time [`protocols`](Self::protocols) is called: a
    /// connection whose hook never asks keeps no copy of them.
    protocols: OnceLock<Box<[String]>>,
    extensions: http::Extensions,
    path_params: PathParams,
}

/// The values of a module path's variables (`/rooms/{id}` served for `/rooms/42`: `id` =
/// `42`), as Swoft hands a `@WsModule("/rooms/{id}")`'s values to the app. Each value already
/// passed its variable's constraint (`params(id = r"\d+")`); a request whose value does not is
/// answered 404 before any hook runs.
///
/// Read it in `#[on_handshake]` ([`HandshakeRequest::path_param`]), in any hook or handler
/// through the connection ([`Connection::path_param`](crate::Connection::path_param)), or as
/// a handler argument (this type is an extractor).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathParams(Box<[(Box<str>, Box<str>)]>);

impl PathParams {
    /// The values, by variable name, in the path's order.
    pub fn new(values: impl IntoIterator<Item = (String, String)>) -> Self {
        PathParams(
            values
                .into_iter()
                .map(|(k, v)| (k.into_boxed_str(), v.into_boxed_str()))
                .collect(),
        )
    }

    /// A variable's value (percent-decoded).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| &**k == name).map(|(_, v)| &**v)
    }

    /// A variable's value parsed into `T` (`params.parse::<u64>("id")`).
    pub fn parse<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.get(name)?.parse().ok()
    }

    /// Every (name, value), in the path's order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }

    /// Whether the path has no variables.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl HandshakeRequest {
    /// A request snapshot (for tests of hooks; the server builds these itself).
    pub fn new(uri: Uri, headers: HeaderMap, peer: Option<SocketAddr>) -> Self {
        let (uri, headers) = detach(uri, headers);
        HandshakeRequest {
            uri,
            headers,
            peer,
            protocols: OnceLock::new(),
            extensions: http::Extensions::new(),
            path_params: PathParams::default(),
        }
    }

    /// The same request with the request extensions tower layers set (an authenticated user,
    /// say), readable with [`extension`](Self::extension).
    pub fn with_extensions(mut self, mut extensions: http::Extensions) -> Self {
        // axum's router puts a clone of the URI here: detached too, or it alone would keep
        // hyper's read buffer alive.
        if let Some(axum::extract::OriginalUri(uri)) =
            extensions.remove::<axum::extract::OriginalUri>()
        {
            let (uri, _) = detach(uri, HeaderMap::new());
            extensions.insert(axum::extract::OriginalUri(uri));
        }
        self.extensions = extensions;
        self
    }

    /// A value a tower layer on the router put into the request's extensions
    /// (`req.extensions_mut().insert(value)`), e.g. the user an auth layer authenticated.
    pub fn extension<T: Clone + Send + Sync + 'static>(&self) -> Option<&T> {
        self.extensions.get::<T>()
    }

    /// The values of the module path's variables (set by the server; for tests of hooks).
    pub fn with_path_params(mut self, params: PathParams) -> Self {
        self.path_params = params;
        self
    }

    /// A variable of the module's path (`id` of `/rooms/{id}`): see [`PathParams`].
    pub fn path_param(&self, name: &str) -> Option<&str> {
        self.path_params.get(name)
    }

    /// Every variable of the module's path.
    pub fn path_params(&self) -> &PathParams {
        &self.path_params
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

    /// The token of the session this handshake asks to resume (`?resume=TOKEN&off=OFFSET`,
    /// for a module with `recovery`), if it asks: an `#[on_handshake]` hook can tell a resume
    /// from a first connection, and refuse it like any handshake (the session then stays as
    /// it was, resumable by a later handshake).
    pub fn resume_token(&self) -> Option<Cow<'_, str>> {
        self.query_param("resume")
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

    /// The request headers as the client sent them (a copy kept for the connection's life).
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
    ///
    /// The server refuses a handshake offering more than 32, or one longer than 64 bytes (400).
    pub fn protocols(&self) -> &[String] {
        self.protocols.get_or_init(|| {
            self.headers
                .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect()
        })
    }

    /// The bytes this snapshot keeps of the request: the URI, the header names that are not
    /// standard ones and every header value, plus the offered subprotocols once read.
    /// Bounded by the module's `max_handshake_head`; summed by
    /// [`Server::stats`](crate::Server::stats) as `handshake_bytes`.
    pub(crate) fn retained_bytes(&self) -> usize {
        let uri = self.uri.path_and_query().map_or(0, |pq| pq.as_str().len())
            + self.uri.authority().map_or(0, |a| a.as_str().len());
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len())
            .sum();
        let protocols = self
            .protocols
            .get()
            .map_or(0, |p| p.iter().map(String::len).sum());
        uri + headers + protocols
    }
}

/// Copies the URI and the header values into one buffer of their own.
///
/// hyper parses them as slices of its connection read buffer (8–16 KiB): kept for the
/// connection's life, they would keep that whole buffer alive — about 16 KiB per idle
/// connection, most of its memory. Header names are copies already.
fn detach(uri: Uri, mut headers: HeaderMap) -> (Uri, HeaderMap) {
    use std::fmt::Write as _;
    let values: usize = headers.values().map(HeaderValue::len).sum();
    let mut buf = bytes::BytesMut::with_capacity(values + 64);
    let _ = write!(buf, "{uri}");
    let uri_end = buf.len();
    for v in headers.values() {
        buf.extend_from_slice(v.as_bytes());
    }
    let buf = buf.freeze();
    let uri = Uri::from_maybe_shared(buf.slice(..uri_end)).unwrap_or(uri);
    let mut at = uri_end;
    for v in headers.values_mut() {
        let end = at + v.len();
        if let Ok(mut copy) = HeaderValue::from_maybe_shared(buf.slice(at..end)) {
            copy.set_sensitive(v.is_sensitive());
            *v = copy;
        }
        at = end;
    }
    (uri, headers)
}

/// The handshake is accepted: optional response headers, a chosen subprotocol, and session
/// data stored on the connection.
#[derive(Debug, Default)]
pub struct Accept {
    pub(crate) headers: HeaderMap,
    pub(crate) protocol: Option<String>,
    pub(crate) session: SessionData,
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

/// A connection's session data: at most one value per type, each behind its own `Arc`, so that
/// a reader takes a reference count under the connection's lock and runs its code after the
/// lock is released ([`Connection::with`](crate::Connection::with) may call any session method
/// of the same connection). Empty, it is one null pointer.
#[derive(Default)]
#[allow(
    clippy::box_collection,
    reason = "one pointer, not a Vec's three words, in every connection, most with no session"
)]
pub(crate) struct SessionData(Option<Box<Vec<(TypeId, SessionValue)>>>);

/// One value of a session.
pub(crate) type SessionValue = Arc<dyn Any + Send + Sync>;

impl SessionData {
    /// Stores `value`, returning the value of its type stored before (to be dropped by the
    /// caller, outside any lock).
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: T) -> Option<SessionValue> {
        // Most sessions hold one value: room for one (a `Vec` would reserve four).
        let entries = self
            .0
            .get_or_insert_with(|| Box::new(Vec::with_capacity(1)));
        let value: SessionValue = Arc::new(value);
        match entries.iter_mut().find(|(t, _)| *t == TypeId::of::<T>()) {
            Some((_, old)) => Some(std::mem::replace(old, value)),
            None => {
                entries.push((TypeId::of::<T>(), value));
                None
            }
        }
    }

    /// The value of type `T`, shared.
    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let (_, v) = self
            .0
            .as_ref()?
            .iter()
            .find(|(t, _)| *t == TypeId::of::<T>())?;
        Arc::clone(v).downcast::<T>().ok()
    }

    /// Takes the value of type `T` out.
    pub(crate) fn remove<T: Send + Sync + 'static>(&mut self) -> Option<Arc<T>> {
        let entries = self.0.as_mut()?;
        let at = entries.iter().position(|(t, _)| *t == TypeId::of::<T>())?;
        entries.swap_remove(at).1.downcast::<T>().ok()
    }
}

impl fmt::Debug for SessionData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionData")
            .field("values", &self.0.as_ref().map_or(0, |v| v.len()))
            .finish()
    }
}

/// The handshake is refused with an HTTP status, a reason (the response body) and optional
/// response headers (`WWW-Authenticate` with a 401, `Retry-After` with a 503 or 429: what
/// Swoft's handshake hook sets on its response). No upgrade.
#[derive(Debug, Clone)]
pub struct Reject {
    pub(crate) status: StatusCode,
    pub(crate) reason: String,
    /// Boxed: most refusals have none, and the hook's `Result` stays small.
    pub(crate) headers: Option<Box<HeaderMap>>,
}

impl Reject {
    /// Refuse with this status and reason.
    pub fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        Reject {
            status,
            reason: reason.into(),
            headers: None,
        }
    }

    /// Adds a response header (`.header("WWW-Authenticate", "Bearer")`). Invalid names or
    /// values are logged and left out.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (
            HeaderName::try_from(name),
            HeaderValue::try_from(value.to_owned()),
        ) {
            (Ok(n), Ok(v)) => {
                self.headers.get_or_insert_default().append(n, v);
            }
            _ => tracing::warn!(name, "invalid handshake refusal header left out"),
        }
        self
    }

    /// The response headers given with [`header`](Self::header), if any.
    pub fn headers(&self) -> Option<&HeaderMap> {
        self.headers.as_deref()
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

    /// The HTTP status the client gets instead of `101`.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The reason, sent as the response body (plain text) and logged.
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
    /// Accept (with the headers, subprotocol and session data to set) or reject (with the
    /// HTTP status and reason the client gets).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_keeps_uri_and_headers_as_they_were() {
        let mut headers = HeaderMap::new();
        headers.insert("x-token", HeaderValue::from_static("secret"));
        headers.get_mut("x-token").unwrap().set_sensitive(true);
        headers.append(http::header::COOKIE, HeaderValue::from_static("a=1"));
        headers.append(http::header::COOKIE, HeaderValue::from_static("b=2; c=3"));
        headers.insert(
            http::header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("v2, v1"),
        );
        let uri: Uri = "/chat?name=al%20ice&room=a".parse().unwrap();
        let req = HandshakeRequest::new(uri.clone(), headers.clone(), None);
        assert_eq!(req.uri(), &uri);
        assert_eq!(req.headers(), &headers);
        assert!(req.headers()["x-token"].is_sensitive());
        assert_eq!(req.cookie("c"), Some("3"));
        assert_eq!(req.query_param("name").as_deref(), Some("al ice"));
        assert_eq!(req.protocols(), ["v2", "v1"]);
        let abs: Uri = "http://example.com:8080/x?y=1".parse().unwrap();
        assert_eq!(
            HandshakeRequest::new(abs.clone(), HeaderMap::new(), None).uri(),
            &abs
        );
    }
}
