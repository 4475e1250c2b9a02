//! The socket under a connection: the upgrade from HTTP, reading and decoding frames, writing.
//!
//! swoft-ws speaks RFC 6455 itself ([`crate::ws::codec`]) on the upgraded socket rather than through a
//! general-purpose WebSocket stream, for three reasons measured in `BENCHMARKS.md`:
//!
//! - **No read buffer while idle.** The read buffer is reserved when the socket is readable
//!   and given back when everything read was handled: an idle connection holds none (a 4 KiB
//!   buffer per connection was most of the idle memory).
//! - **One task per connection.** Reading, handling and writing share the connection's task;
//!   there is no writer task to wake for each frame.
//! - **Direct writes.** On a plain TCP socket, a frame sent to a connection that waits with
//!   nothing queued is written by the sender at once (see [`crate::ws::outbound`]).

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::ws::codec::{Decoder, Incoming, Violation};
use crate::ws::outbound::OutboundRx;

/// A socket that is not a plain TCP one (TLS, a test stream, an HTTP server of your own).
pub(crate) trait AsyncIo: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> AsyncIo for T {}

enum Io {
    /// Shared with the connection's queue, which writes to it directly.
    Tcp(Arc<TcpStream>),
    Other(Box<dyn AsyncIo>),
}

/// What reading gave.
pub(crate) enum Event {
    /// A message or a control frame.
    Frame(Incoming),
    /// The client broke the protocol.
    Violation(Violation),
    /// The socket ended (`None`: at a frame boundary, without a close frame) or failed.
    Ended(Option<io::Error>),
}

/// The upgraded socket of one connection, owned by its task.
pub(crate) struct Transport {
    io: Io,
    buf: BytesMut,
    decoder: Decoder,
    read_size: usize,
    eof: bool,
    /// The decoder returned a violation: what follows is not decoded any more.
    broken: bool,
}

impl Transport {
    /// The transport over an upgraded HTTP connection, and the TCP socket its queue may write
    /// to directly (`None` when it is not a plain TCP socket).
    pub(crate) fn new(
        upgraded: Upgraded,
        read_size: usize,
        max_frame: usize,
        max_message: usize,
    ) -> (Transport, Option<Arc<TcpStream>>) {
        match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => {
                let tcp = Arc::new(parts.io.into_inner());
                // Bytes the client sent right after its handshake, already read by hyper.
                let buf = BytesMut::from(&parts.read_buf[..]);
                let io = Io::Tcp(tcp.clone());
                let t = Transport::with(io, buf, read_size, max_frame, max_message);
                (t, Some(tcp))
            }
            Err(upgraded) => {
                let t =
                    Transport::from_io(TokioIo::new(upgraded), read_size, max_frame, max_message);
                (t, None)
            }
        }
    }

    /// The transport over any other stream: TLS, an HTTP server of your own, or an in-memory
    /// stream (`tokio::io::duplex`) in the unit tests. It reads into the thread's scratch
    /// buffer and writes with `poll_write_vectored`; senders never write to it directly.
    pub(crate) fn from_io(
        io: impl AsyncIo + 'static,
        read_size: usize,
        max_frame: usize,
        max_message: usize,
    ) -> Transport {
        let io = Io::Other(Box::new(io));
        Transport::with(io, BytesMut::new(), read_size, max_frame, max_message)
    }

    fn with(
        io: Io,
        buf: BytesMut,
        read_size: usize,
        max_frame: usize,
        max_message: usize,
    ) -> Transport {
        Transport {
            io,
            buf,
            decoder: Decoder::new(max_frame, max_message),
            read_size: read_size.max(256),
            eof: false,
            broken: false,
        }
    }

    /// The next frame among the bytes already read, without reading more.
    pub(crate) fn buffered(&mut self) -> Option<Event> {
        match self.decoder.decode(&mut self.buf) {
            Ok(Some(f)) => Some(Event::Frame(f)),
            Ok(None) => None,
            Err(v) => {
                self.broken = true;
                Some(Event::Violation(v))
            }
        }
    }

    /// The next frame, reading as needed.
    pub(crate) fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        loop {
            if let Some(ev) = self.buffered() {
                return Poll::Ready(ev);
            }
            if self.eof {
                return Poll::Ready(Event::Ended(None));
            }
            match self.poll_fill(cx) {
                Poll::Ready(Ok(0)) => self.eof = true,
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Event::Ended(Some(e))),
                Poll::Pending => {
                    if self.buf.is_empty() && self.buf.capacity() > 0 {
                        // Nothing half-read: an idle connection keeps no read buffer.
                        self.buf = BytesMut::new();
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// Reads once into the buffer (reserved now, not while idle); `Ok(0)` at the end.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        match &mut self.io {
            Io::Tcp(tcp) => loop {
                ready!(tcp.poll_read_ready(cx))?;
                reserve(&mut self.buf, self.read_size);
                match tcp.try_read_buf(&mut self.buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    r => return Poll::Ready(r),
                }
            },
            Io::Other(io) => {
                // Read into the thread's scratch buffer: nothing is held while waiting.
                SCRATCH.with_borrow_mut(|scratch| {
                    if scratch.len() < self.read_size {
                        scratch.resize(self.read_size, 0);
                    }
                    let mut rb = ReadBuf::new(&mut scratch[..self.read_size]);
                    ready!(Pin::new(&mut **io).poll_read(cx, &mut rb))?;
                    let n = rb.filled().len();
                    if n > 0 {
                        reserve(&mut self.buf, n);
                        self.buf.extend_from_slice(rb.filled());
                    }
                    Poll::Ready(Ok(n))
                })
            }
        }
    }

    /// Writes what `rx` holds (see [`OutboundRx::poll_write`]); `Pending` while the socket is
    /// full.
    pub(crate) fn poll_flush(
        &mut self,
        cx: &mut Context<'_>,
        rx: &OutboundRx,
        open: bool,
    ) -> Poll<io::Result<()>> {
        let io = &mut self.io;
        ready!(rx.poll_write(cx, open, |cx, bufs| write(io, cx, bufs)))?;
        if let Io::Other(io) = io {
            ready!(Pin::new(&mut **io).poll_flush(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Ends the socket once the close frame is written (RFC 6455 section 7.1.1); whether the
    /// peer ended by `deadline`.
    ///
    /// Without `linger` (the peer's close frame was answered) the socket is closed at once: a
    /// TLS stream sends its close first, a TCP socket its FIN when dropped. With `linger` (the
    /// server started the close), the write half is shut down first (the FIN follows what was
    /// written), then what the peer still sends is read and discarded until its close frame,
    /// the end of its stream or `deadline`. Closing a socket with unread input makes the kernel
    /// send a reset, and a reset makes the peer's kernel discard what it had received but not
    /// yet read: the replies and the close frame would be lost.
    pub(crate) async fn finish(mut self, linger: bool, deadline: tokio::time::Instant) -> bool {
        if !linger && matches!(self.io, Io::Tcp(_)) {
            return true;
        }
        let shut = std::future::poll_fn(|cx| self.poll_shutdown_write(cx));
        if tokio::time::timeout_at(deadline, shut).await.is_err() {
            return false;
        }
        if !linger {
            return true;
        }
        let discard = std::future::poll_fn(|cx| self.poll_discard(cx));
        tokio::time::timeout_at(deadline, discard).await.is_ok()
    }

    /// Shuts the write half down (a TCP FIN, a TLS close).
    fn poll_shutdown_write(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.io {
            // The queue gave its handle up (`OutboundRx::refuse`): this one is the last.
            Io::Tcp(tcp) => match Arc::get_mut(tcp) {
                Some(tcp) => Pin::new(tcp).poll_shutdown(cx).map(drop),
                None => Poll::Ready(()),
            },
            Io::Other(io) => Pin::new(&mut **io).poll_shutdown(cx).map(drop),
        }
    }

    /// Reads and drops what the peer sends until its close frame or the end of its stream
    /// (after a protocol violation, without decoding: bytes are dropped as they come).
    fn poll_discard(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            while !self.broken {
                match self.buffered() {
                    Some(Event::Frame(Incoming::Close(_))) => return Poll::Ready(()),
                    Some(_) => {}
                    None => break,
                }
            }
            if self.broken {
                self.buf.clear();
            }
            if self.eof {
                return Poll::Ready(());
            }
            match ready!(self.poll_fill(cx)) {
                Ok(0) | Err(_) => return Poll::Ready(()),
                Ok(_) => {}
            }
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Makes room for at least `at_least` more bytes; for a frame longer than that, for at most
/// as many more as have arrived (the buffer at most doubles per read, so a large frame costs
/// a logarithmic number of allocations).
///
/// Never for the whole frame its head announces: a head alone (14 bytes announcing up to
/// `max_frame_size`) would reserve that much before any payload came, and a client could pin
/// the frame limit's memory on every connection with 14 bytes each.
fn reserve(buf: &mut BytesMut, at_least: usize) {
    let rest = Decoder::needed(buf).unwrap_or(0).saturating_sub(buf.len());
    buf.reserve(at_least.max(rest.min(buf.len())));
}

fn write(io: &mut Io, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    match io {
        Io::Tcp(tcp) => loop {
            match tcp.poll_write_ready(cx) {
                Poll::Pending => return Err(io::ErrorKind::WouldBlock.into()),
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Ready(Ok(())) => {}
            }
            match crate::ws::outbound::write_tcp(tcp, bufs) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return r,
            }
        },
        Io::Other(io) => match Pin::new(&mut **io).poll_write_vectored(cx, bufs) {
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
            Poll::Ready(r) => r,
        },
    }
}

/// A WebSocket handshake request that passed the checks: what the upgrade needs.
pub(crate) struct Upgrade {
    pub(crate) on_upgrade: OnUpgrade,
    accept: HeaderValue,
}

/// Why [`check`] refused a request: the HTTP status and a short reason, sent as the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused {
    pub(crate) status: StatusCode,
    pub(crate) reason: &'static str,
}

impl Refused {
    const fn bad(reason: &'static str) -> Self {
        Refused {
            status: StatusCode::BAD_REQUEST,
            reason,
        }
    }

    /// The response: the status, the reason as the body, and with 426 the version this server
    /// speaks (RFC 6455 section 4.4).
    pub(crate) fn response(self) -> Response {
        let mut r = (self.status, self.reason).into_response();
        if self.status == StatusCode::UPGRADE_REQUIRED {
            r.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
        }
        r
    }
}

/// Checks that the request is a WebSocket opening handshake by every MUST of RFC 6455
/// section 4.2.1 and the HTTP/1.1 rules it relies on (RFC 7230), and that it can be upgraded;
/// the error is the answer to give instead:
///
/// - not `GET` → 405;
/// - `Host` missing, repeated or not `host[:port]` → 400 (RFC 7230 section 5.4);
/// - a header that appears once (`Upgrade`, `Sec-WebSocket-Version`, `Sec-WebSocket-Key`,
///   `Origin`) repeated → 400; `Upgrade` without `websocket` or `Connection` without `upgrade`
///   → 400; `Sec-WebSocket-Key` missing or not the base64 of 16 bytes → 400; `Origin` not a
///   serialized origin (RFC 6454 section 7.1) → 400;
/// - the list headers (`Connection`, `Sec-WebSocket-Protocol`, `Sec-WebSocket-Extensions`) are
///   read as the comma-separated lists they are (RFC 7230 section 7), over all their lines,
///   case-insensitively, spaces allowed around elements; an element that is not a token (an
///   extension: not `token *( ";" param )`) → 400;
/// - `Sec-WebSocket-Version` other than `13` → 426 with `Sec-WebSocket-Version: 13`
///   (section 4.4); no upgrade state from hyper → 426.
///
/// Nothing is allocated until the request passed (the accept key is computed last).
pub(crate) fn check(
    method: &Method,
    headers: &HeaderMap,
    extensions: &mut http::Extensions,
) -> Result<Upgrade, Refused> {
    if method != Method::GET {
        return Err(Refused {
            status: StatusCode::METHOD_NOT_ALLOWED,
            reason: "request method must be `GET`",
        });
    }
    let host = once(headers, header::HOST, "more than one `Host` header")?
        .ok_or(Refused::bad("`Host` header missing"))?;
    if !is_host_port(host.as_bytes()) {
        return Err(Refused::bad("`Host` header is not a valid host[:port]"));
    }
    if !list(headers, &header::CONNECTION, is_token, b"upgrade")? {
        return Err(Refused::bad(
            "`Connection` header did not include `upgrade`",
        ));
    }
    let upgrade = once(headers, header::UPGRADE, "more than one `Upgrade` header")?;
    if !upgrade.is_some_and(|v| {
        let mut found = false;
        let valid = elements(v.as_bytes(), |e| {
            found |= e.eq_ignore_ascii_case(b"websocket");
            is_protocol(e)
        });
        valid && found
    }) {
        return Err(Refused::bad("`Upgrade` header did not include `websocket`"));
    }
    let version = once(
        headers,
        header::SEC_WEBSOCKET_VERSION,
        "more than one `Sec-WebSocket-Version` header",
    )?;
    if version.is_none_or(|v| v.as_bytes() != b"13") {
        return Err(Refused {
            status: StatusCode::UPGRADE_REQUIRED,
            reason: "`Sec-WebSocket-Version` must be 13",
        });
    }
    let key = once(
        headers,
        header::SEC_WEBSOCKET_KEY,
        "more than one `Sec-WebSocket-Key` header",
    )?
    .ok_or(Refused::bad("`Sec-WebSocket-Key` header missing"))?;
    if !is_key(key.as_bytes()) {
        return Err(Refused::bad(
            "`Sec-WebSocket-Key` is not the base64 of 16 bytes",
        ));
    }
    if once(headers, header::ORIGIN, "more than one `Origin` header")?
        .is_some_and(|o| !is_origin(o.as_bytes()))
    {
        return Err(Refused::bad("`Origin` header is not an origin"));
    }
    list(headers, &header::SEC_WEBSOCKET_PROTOCOL, is_token, b"")?;
    list(
        headers,
        &header::SEC_WEBSOCKET_EXTENSIONS,
        is_extension,
        b"",
    )?;
    let Some(on_upgrade) = extensions.remove::<OnUpgrade>() else {
        return Err(Refused {
            status: StatusCode::UPGRADE_REQUIRED,
            reason: "the request cannot be upgraded (no upgrade state)",
        });
    };
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    Ok(Upgrade {
        on_upgrade,
        // Base64 is always a valid header value.
        accept: HeaderValue::from_str(&accept).map_err(|_| Refused::bad("bad key"))?,
    })
}

impl Upgrade {
    /// The `101 Switching Protocols` response, with the chosen subprotocol if any.
    pub(crate) fn response(&self, protocol: Option<&str>) -> Response {
        let mut r = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let h = r.headers_mut();
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::SEC_WEBSOCKET_ACCEPT, self.accept.clone());
        if let Some(p) = protocol.and_then(|p| HeaderValue::from_str(p).ok()) {
            h.insert(header::SEC_WEBSOCKET_PROTOCOL, p);
        }
        r
    }
}

/// The value of a header that may appear at most once; `repeated` is the refusal when it
/// appears more often.
fn once<'h>(
    headers: &'h HeaderMap,
    name: header::HeaderName,
    repeated: &'static str,
) -> Result<Option<&'h HeaderValue>, Refused> {
    let mut all = headers.get_all(name).iter();
    let first = all.next();
    if all.next().is_some() {
        return Err(Refused::bad(repeated));
    }
    Ok(first)
}

/// Reads a list header over all its lines: `Ok(whether an element equals want)` (ASCII
/// case-insensitively; never for an empty `want`) if every element is `valid`, else a 400
/// naming the header.
fn list(
    headers: &HeaderMap,
    name: &header::HeaderName,
    valid: fn(&[u8]) -> bool,
    want: &[u8],
) -> Result<bool, Refused> {
    let mut found = false;
    for v in headers.get_all(name) {
        let ok = elements(v.as_bytes(), |e| {
            found |= !want.is_empty() && e.eq_ignore_ascii_case(want);
            valid(e)
        });
        if !ok {
            return Err(Refused::bad(match name.as_str() {
                "connection" => "`Connection` header is not a list of tokens",
                "sec-websocket-protocol" => "`Sec-WebSocket-Protocol` is not a list of tokens",
                _ => "`Sec-WebSocket-Extensions` is not a list of extensions",
            }));
        }
    }
    Ok(found)
}

/// Calls `f` with each element of one line of a `#rule` list (RFC 7230 section 7): split on
/// commas outside quoted strings, optional whitespace around elements trimmed, empty elements
/// skipped. Whether `f` accepted every element (and quotes are closed).
fn elements(v: &[u8], mut f: impl FnMut(&[u8]) -> bool) -> bool {
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, &b) in v.iter().enumerate() {
        if quoted {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => quoted = false,
                _ => {}
            }
        } else if b == b'"' {
            quoted = true;
        } else if b == b',' {
            let e = v[start..i].trim_ascii();
            if !e.is_empty() && !f(e) {
                return false;
            }
            start = i + 1;
        }
    }
    let e = v[start..].trim_ascii();
    !quoted && (e.is_empty() || f(e))
}

/// `tchar` (RFC 7230 section 3.2.6).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `token = 1*tchar` (RFC 7230 section 3.2.6).
fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// `protocol = protocol-name ["/" protocol-version]` of `Upgrade` (RFC 7230 section 6.7).
fn is_protocol(s: &[u8]) -> bool {
    match s.iter().position(|&b| b == b'/') {
        Some(i) => is_token(&s[..i]) && is_token(&s[i + 1..]),
        None => is_token(s),
    }
}

/// `quoted-string` (RFC 7230 section 3.2.6), whole.
fn is_quoted(s: &[u8]) -> bool {
    let [b'"', inner @ .., b'"'] = s else {
        return false;
    };
    let mut escaped = false;
    for &b in inner {
        match (escaped, b) {
            (true, _) => escaped = false,
            (false, b'\\') => escaped = true,
            (false, b'"') => return false,
            _ => {}
        }
    }
    !escaped
}

/// `extension = extension-token *( ";" extension-param )`, `extension-param = token [ "="
/// (token | quoted-string) ]` (RFC 6455 section 9.1), with optional whitespace around `;` and
/// `=`. A `;` inside a quoted value is not expected by any registered extension and is refused.
fn is_extension(s: &[u8]) -> bool {
    let mut parts = s.split(|&b| b == b';').map(<[u8]>::trim_ascii);
    let name_ok = parts.next().is_some_and(is_token);
    name_ok
        && parts.all(|p| match p.iter().position(|&b| b == b'=') {
            Some(i) => {
                let value = p[i + 1..].trim_ascii();
                is_token(p[..i].trim_ascii()) && (is_token(value) || is_quoted(value))
            }
            None => is_token(p),
        })
}

/// `Sec-WebSocket-Key`: the base64 of 16 bytes (RFC 6455 section 4.2.1 item 5), so exactly 24
/// characters with their `==` padding; decoded on the stack.
fn is_key(k: &[u8]) -> bool {
    use base64::Engine as _;
    let mut out = [0u8; 18];
    k.len() == 24
        && base64::engine::general_purpose::STANDARD
            .decode_slice(k, &mut out)
            .is_ok_and(|n| n == 16)
}

/// `Host` (RFC 7230 section 5.4, RFC 6455 section 4.1): `uri-host [ ":" port ]`, a host that is
/// not empty and a port of 1 to 5 digits up to 65535.
fn is_host_port(s: &[u8]) -> bool {
    let (host, port) = if let Some(rest) = s.strip_prefix(b"[") {
        // IP-literal: `[` IPv6address / IPvFuture `]`.
        let Some(end) = rest.iter().position(|&b| b == b']') else {
            return false;
        };
        let literal = &rest[..end];
        let ok = !literal.is_empty()
            && literal
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.' || b == b'v');
        if !ok {
            return false;
        }
        match &rest[end + 1..] {
            [] => return true,
            [b':', port @ ..] => (&s[..end + 2], Some(port)),
            _ => return false,
        }
    } else {
        match s.iter().position(|&b| b == b':') {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        }
    };
    let host_ok = !host.is_empty()
        && (host.starts_with(b"[")
            || host
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b)));
    host_ok && port.is_none_or(is_port)
}

/// `port`: 1 to 5 digits, at most 65535.
fn is_port(p: &[u8]) -> bool {
    (1..=5).contains(&p.len())
        && p.iter().all(u8::is_ascii_digit)
        && p.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0')) <= 65535
}

/// `Origin` (RFC 6454 section 7.1, one origin as RFC 6455 section 10.2 uses it): `null`, or
/// `scheme "://" host [ ":" port ]`.
fn is_origin(s: &[u8]) -> bool {
    if s == b"null" {
        return true;
    }
    let Some(i) = s.windows(3).position(|w| w == b"://") else {
        return false;
    };
    let scheme = &s[..i];
    let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    scheme_ok && is_host_port(&s[i + 3..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_frame_head_announcing_a_large_frame_reserves_only_what_arrived() {
        use tokio::io::AsyncWriteExt;
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut t = Transport::from_io(server, 4096, 16 << 20, 16 << 20);
        // A masked binary frame announcing 16 MiB, and the first 1,000 bytes of it.
        let mut bytes = vec![0x82, 0x80 | 127];
        bytes.extend_from_slice(&(16u64 << 20).to_be_bytes());
        bytes.extend_from_slice(&[1, 2, 3, 4]);
        bytes.extend_from_slice(&[0; 1000]);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        // The head first, then the payload as it comes, a read each.
        for part in [&bytes[..14], &bytes[14..500], &bytes[500..]] {
            client.write_all(part).await.unwrap();
            assert!(t.poll_read(&mut cx).is_pending(), "the frame is not whole");
        }
        assert_eq!(t.buf.len(), bytes.len());
        assert!(
            t.buf.capacity() <= 64 << 10,
            "reserved {} bytes for {} that arrived",
            t.buf.capacity(),
            bytes.len()
        );
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn connection_header_tokens_are_matched_case_insensitively_in_a_list() {
        let upgrade = |h: &HeaderMap| list(h, &header::CONNECTION, is_token, b"upgrade");
        let h = headers(&[("connection", "keep-alive, Upgrade")]);
        assert_eq!(upgrade(&h), Ok(true));
        let h = headers(&[("connection", "keep-alive"), ("connection", "UPGRADE")]);
        assert_eq!(upgrade(&h), Ok(true));
        let h = headers(&[("connection", " ,keep-alive ,, upgrade\t")]);
        assert_eq!(upgrade(&h), Ok(true));
        let h = headers(&[("connection", "upgraded")]);
        assert_eq!(upgrade(&h), Ok(false));
        let h = headers(&[("connection", "up grade")]);
        assert!(upgrade(&h).is_err());
    }

    #[test]
    fn a_key_is_the_padded_base64_of_exactly_16_bytes() {
        assert!(is_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        for bad in [
            &b""[..],
            b"x",
            b"dGhlIHNhbXBsZSBub25jZQ",
            b"dGhlIHNhbXBsZSBub25jZQ=",
            b"AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            b"!!!!!!!!!!!!!!!!!!!!!!!!",
            b"dGhlIHNhbXBsZSBub25jZR==",
        ] {
            assert!(!is_key(bad), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(!is_key(&[b'A'; 8192]));
    }

    #[test]
    fn hosts_and_origins_follow_their_grammars() {
        for good in [
            &b"127.0.0.1"[..],
            b"127.0.0.1:8080",
            b"example.com",
            b"[::1]:80",
            b"[::1]",
        ] {
            assert!(is_host_port(good), "{:?}", String::from_utf8_lossy(good));
        }
        for bad in [
            &b""[..],
            b"a b c",
            b"127.0.0.1:notaport",
            b"127.0.0.1:",
            b"127.0.0.1:65536",
            b":80",
            b"[::1",
            b"a/b",
            b"user@host",
        ] {
            assert!(!is_host_port(bad), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(is_origin(b"null"));
        assert!(is_origin(b"https://app.example:8443"));
        assert!(!is_origin(b"app.example"));
        assert!(!is_origin(b"https://app.example/path"));
        assert!(!is_origin(b"https://a http://b"));
    }

    #[test]
    fn extensions_are_tokens_with_parameters() {
        assert!(elements(
            b"permessage-deflate; client_max_window_bits, x; y=\"a,b\"; z = 1",
            is_extension
        ));
        assert!(!elements(b"; x", is_extension));
        assert!(!elements(b"a; =1", is_extension));
        assert!(!elements(b"a; b=\"open", is_extension));
    }

    #[test]
    fn a_wrong_version_is_answered_426_with_the_version_spoken() {
        let h = headers(&[
            ("host", "127.0.0.1"),
            ("connection", "upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "8"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ]);
        let Err(r) = check(&Method::GET, &h, &mut http::Extensions::new()) else {
            panic!("accepted version 8");
        };
        let r = r.response();
        assert_eq!(r.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(r.headers()[header::SEC_WEBSOCKET_VERSION], "13");
    }

    #[test]
    fn a_request_without_upgrade_state_is_refused() {
        let h = headers(&[
            ("host", "127.0.0.1"),
            ("connection", "upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ]);
        let Err(r) = check(&Method::GET, &h, &mut http::Extensions::new()) else {
            panic!("accepted without OnUpgrade");
        };
        assert_eq!(r.status, StatusCode::UPGRADE_REQUIRED);
        let Err(r) = check(&Method::POST, &h, &mut http::Extensions::new()) else {
            panic!("accepted POST");
        };
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    }
}
