//! The opening handshake (RFC 6455 section 4.2): the checks an upgrade request must pass, by
//! every MUST of the RFC and the HTTP/1.1 rules it relies on (RFC 7230), and the `101` answer.

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use hyper::upgrade::OnUpgrade;

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
///   case-insensitively, spaces allowed around elements; a `Connection` or subprotocol element
///   that is not a token → 400; more than 32 subprotocols or one longer than 64 bytes, more
///   than 16 extensions or one longer than 256 bytes → 400 (a malformed extension offer is
///   declined, not refused: [`crate::ws::extensions`]);
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
    bounded(
        headers,
        &header::SEC_WEBSOCKET_PROTOCOL,
        MAX_OFFERED_PROTOCOLS,
        MAX_PROTOCOL_LEN,
        "too many or too long subprotocols offered",
    )?;
    bounded(
        headers,
        &header::SEC_WEBSOCKET_EXTENSIONS,
        MAX_OFFERED_EXTENSIONS,
        MAX_EXTENSION_LEN,
        "too many or too long extensions offered",
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
    /// The `101 Switching Protocols` response, with the chosen subprotocol and the agreed
    /// extensions (RFC 7692 §5), if any.
    pub(crate) fn response(
        &self,
        protocol: Option<&str>,
        extensions: Option<HeaderValue>,
    ) -> Response {
        let mut r = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let h = r.headers_mut();
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::SEC_WEBSOCKET_ACCEPT, self.accept.clone());
        if let Some(p) = protocol.and_then(|p| HeaderValue::from_str(p).ok()) {
            h.insert(header::SEC_WEBSOCKET_PROTOCOL, p);
        }
        if let Some(e) = extensions {
            h.insert(header::SEC_WEBSOCKET_EXTENSIONS, e);
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

/// The most subprotocols a handshake may offer (`Sec-WebSocket-Protocol`, over all its lines).
pub(crate) const MAX_OFFERED_PROTOCOLS: usize = 32;
/// The longest subprotocol a handshake may offer, in bytes.
pub(crate) const MAX_PROTOCOL_LEN: usize = 64;
/// The most extensions a handshake may offer (`Sec-WebSocket-Extensions`, over all its lines).
pub(crate) const MAX_OFFERED_EXTENSIONS: usize = 16;
/// The longest extension (with its parameters) a handshake may offer, in bytes.
pub(crate) const MAX_EXTENSION_LEN: usize = 256;

/// A list header (already checked by [`list`]) has at most `count` elements, none longer than
/// `len` bytes; else a 400 with `reason`.
fn bounded(
    headers: &HeaderMap,
    name: &header::HeaderName,
    count: usize,
    len: usize,
    reason: &'static str,
) -> Result<(), Refused> {
    let mut n = 0;
    for v in headers.get_all(name) {
        let mut ok = true;
        // An element whose quote is never closed is left to the reader of the list (an
        // extension offer is declined); only the count and lengths are refused here.
        elements(v.as_bytes(), |e| {
            n += 1;
            ok = n <= count && e.len() <= len;
            ok
        });
        ok &= v.len() <= count.saturating_mul(len + 2);
        if !ok {
            return Err(Refused::bad(reason));
        }
    }
    Ok(())
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
pub(crate) fn elements(v: &[u8], mut f: impl FnMut(&[u8]) -> bool) -> bool {
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
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// `protocol = protocol-name ["/" protocol-version]` of `Upgrade` (RFC 7230 section 6.7).
fn is_protocol(s: &[u8]) -> bool {
    match s.iter().position(|&b| b == b'/') {
        Some(i) => is_token(&s[..i]) && is_token(&s[i + 1..]),
        None => is_token(s),
    }
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
