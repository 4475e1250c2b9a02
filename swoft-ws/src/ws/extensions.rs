//! `Sec-WebSocket-Extensions` (RFC 6455 §9.1): the client's offers, read over all the header's
//! lines, and the one the server accepts, permessage-deflate (RFC 7692 §5, §7.1).
//!
//! Every element of the list is an offer. An offer of permessage-deflate is read by RFC 7692
//! §7.1: its four parameters, each at most once, `server_no_context_takeover` and
//! `client_no_context_takeover` without a value, `server_max_window_bits` with one and
//! `client_max_window_bits` with or without one, a value being `8` to `15` without a leading
//! zero, as a token or a quoted string. An offer with an unknown parameter, a parameter given
//! twice or a bad value is declined (§5: the server "MUST decline"), and so is an element that
//! is not an extension by RFC 6455 §9.1's grammar (a quote left open, a parameter that is not
//! a token): a malformed offer never fails the handshake. The first offer the module's
//! settings allow is accepted; the others are ignored. Other extensions are not known here and
//! are left out of the answer.

use http::{HeaderMap, HeaderValue, header};

use crate::ws::deflate::Params;
use crate::ws::upgrade::{elements, is_token};

/// The extension's name (RFC 7692 §5).
const NAME: &[u8] = b"permessage-deflate";

/// Why an offer was declined, for the log.
pub(crate) type Declined = &'static str;

const NOT_AN_EXTENSION: Declined = "not an extension (RFC 6455 section 9.1)";
const UNKNOWN_PARAMETER: Declined = "unknown parameter (RFC 7692 section 7.1)";
const REPEATED_PARAMETER: Declined = "parameter given twice (RFC 7692 section 7.1)";
const UNEXPECTED_VALUE: Declined =
    "a value for a parameter that takes none (RFC 7692 section 7.1.1)";
const BAD_WINDOW_BITS: Declined = "window bits not 8 to 15 (RFC 7692 section 7.1.2)";
const NO_WINDOW_BITS: Declined =
    "server_max_window_bits without a value (RFC 7692 section 7.1.2.1)";
const WINDOW_8: Declined = "server_max_window_bits=8: zlib's raw deflate has no 256-byte window (RFC 7692 section 7.1.2.1)";
const UNCLOSED_QUOTE: Declined = "a quoted string not closed";

/// One permessage-deflate offer, as read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Offer {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: the parameter without a value.
    client_max_window_bits: Option<Option<u8>>,
}

/// What the handshake agreed: the terms, and the response's `Sec-WebSocket-Extensions`.
#[derive(Debug)]
pub(crate) struct Agreement {
    pub(crate) params: Params,
    pub(crate) header: HeaderValue,
}

/// Reads every offer in the request's `Sec-WebSocket-Extensions` lines, in order, and accepts
/// the first permessage-deflate offer that `settings` allow (RFC 7692 §5); `declined` is
/// called with each offer declined and why. `None`: nothing agreed, the response has no
/// `Sec-WebSocket-Extensions` and frames are not compressed.
pub(crate) fn negotiate(
    headers: &HeaderMap,
    settings: &Params,
    mut declined: impl FnMut(&[u8], Declined),
) -> Option<Agreement> {
    for line in headers.get_all(header::SEC_WEBSOCKET_EXTENSIONS) {
        let mut agreed = None;
        let closed = elements(line.as_bytes(), |e| {
            match offer(e).and_then(|o| o.map(|o| accept(&o, settings)).transpose()) {
                Ok(Some(params)) => {
                    agreed = Some(params);
                    return false;
                }
                Ok(None) => {}
                Err(why) => declined(e, why),
            }
            true
        });
        if let Some((params, header)) = agreed {
            return Some(Agreement { params, header });
        }
        if !closed {
            declined(line.as_bytes(), UNCLOSED_QUOTE);
        }
    }
    None
}

/// Reads one element: `Ok(None)` for another extension.
fn offer(e: &[u8]) -> Result<Option<Offer>, Declined> {
    let mut parts = e.split(|&b| b == b';').map(<[u8]>::trim_ascii);
    let name = parts.next().unwrap_or_default();
    if !is_token(name) {
        return Err(NOT_AN_EXTENSION);
    }
    let ours = name.eq_ignore_ascii_case(NAME);
    let mut o = Offer::default();
    for p in parts {
        let (key, value) = match p.iter().position(|&b| b == b'=') {
            Some(i) => (p[..i].trim_ascii(), Some(p[i + 1..].trim_ascii())),
            None => (p, None),
        };
        if !is_token(key) {
            return Err(NOT_AN_EXTENSION);
        }
        let value = match value {
            Some(v) => Some(unquote(v).ok_or(NOT_AN_EXTENSION)?),
            None => None,
        };
        if ours {
            param(&mut o, key, value)?;
        }
    }
    Ok(ours.then_some(o))
}

/// Sets one parameter of a permessage-deflate offer (RFC 7692 §7.1).
fn param(o: &mut Offer, key: &[u8], value: Option<Value>) -> Result<(), Declined> {
    let flag = |slot: &mut bool| {
        if value.is_some() {
            return Err(UNEXPECTED_VALUE);
        }
        if std::mem::replace(slot, true) {
            return Err(REPEATED_PARAMETER);
        }
        Ok(())
    };
    match key {
        b"server_no_context_takeover" => flag(&mut o.server_no_context_takeover),
        b"client_no_context_takeover" => flag(&mut o.client_no_context_takeover),
        b"server_max_window_bits" => {
            let bits = window_bits(value.ok_or(NO_WINDOW_BITS)?)?;
            if o.server_max_window_bits.replace(bits).is_some() {
                return Err(REPEATED_PARAMETER);
            }
            Ok(())
        }
        b"client_max_window_bits" => {
            let bits = value.map(window_bits).transpose()?;
            if o.client_max_window_bits.replace(bits).is_some() {
                return Err(REPEATED_PARAMETER);
            }
            Ok(())
        }
        _ => Err(UNKNOWN_PARAMETER),
    }
}

/// A parameter's value, unquoted: window bits are at most 2 characters, so a longer value is
/// kept only as "too long".
#[derive(Debug, Clone, Copy)]
struct Value {
    bytes: [u8; 3],
    len: usize,
}

/// A token, or a quoted string (RFC 7230 section 3.2.6) with its escapes undone; `None` if
/// it is neither.
fn unquote(v: &[u8]) -> Option<Value> {
    let mut out = Value {
        bytes: [0; 3],
        len: 0,
    };
    let mut push = |b: u8| {
        if let Some(slot) = out.bytes.get_mut(out.len) {
            *slot = b;
        }
        out.len += 1;
    };
    match v {
        [b'"', inner @ .., b'"'] => {
            let mut escaped = false;
            for &b in inner {
                match (escaped, b) {
                    (false, b'\\') => escaped = true,
                    (false, b'"') => return None,
                    _ => {
                        escaped = false;
                        push(b);
                    }
                }
            }
            if escaped {
                return None;
            }
        }
        _ if is_token(v) => v.iter().for_each(|&b| push(b)),
        _ => return None,
    }
    Some(out)
}

/// `8` to `15`, no leading zero (RFC 7692 §7.1.2.1).
fn window_bits(v: Value) -> Result<u8, Declined> {
    match v.bytes.get(..v.len) {
        Some([d @ b'8'..=b'9']) => Ok(d - b'0'),
        Some([b'1', d @ b'0'..=b'5']) => Ok(10 + d - b'0'),
        _ => Err(BAD_WINDOW_BITS),
    }
}

/// The terms for an offer under `s`, and the response's header value; why not, if not.
fn accept(o: &Offer, s: &Params) -> Result<(Params, HeaderValue), Declined> {
    let server_bits = match o.server_max_window_bits {
        Some(8) => return Err(WINDOW_8),
        Some(n) => n.min(s.server_max_window_bits),
        None => s.server_max_window_bits,
    };
    let client_bits = match o.client_max_window_bits {
        Some(n) => n.unwrap_or(15).min(s.client_max_window_bits),
        // The server may not limit a client that did not offer it (§7.1.2.2); its window may
        // be 15 bits, which the inflater reads.
        None => 15,
    };
    let params = Params {
        server_no_context_takeover: s.server_no_context_takeover || o.server_no_context_takeover,
        client_no_context_takeover: s.client_no_context_takeover || o.client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
        ..*s
    };
    let mut h = String::from("permessage-deflate");
    if params.server_no_context_takeover {
        h.push_str("; server_no_context_takeover");
    }
    if params.client_no_context_takeover {
        h.push_str("; client_no_context_takeover");
    }
    if o.server_max_window_bits.is_some() || server_bits < 15 {
        h.push_str(&format!("; server_max_window_bits={server_bits}"));
    }
    if matches!(o.client_max_window_bits, Some(Some(_)))
        || (o.client_max_window_bits.is_some() && client_bits < 15)
    {
        h.push_str(&format!("; client_max_window_bits={client_bits}"));
    }
    let header = HeaderValue::from_str(&h).map_err(|_| NOT_AN_EXTENSION)?;
    Ok((params, header))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Params {
        Params {
            level: 1,
            min_size: 256,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }

    /// The answer to these header lines, and the reasons of the offers declined.
    fn answer(lines: &[&'static str], s: &Params) -> (Option<String>, Vec<Declined>) {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append(
                header::SEC_WEBSOCKET_EXTENSIONS,
                HeaderValue::from_static(l),
            );
        }
        let mut why = Vec::new();
        let a = negotiate(&h, s, |_, w| why.push(w));
        (a.map(|a| a.header.to_str().unwrap().to_owned()), why)
    }

    #[test]
    fn each_parameter_is_answered_by_the_rfc() {
        let s = settings();
        let cases: &[(&str, &str)] = &[
            ("permessage-deflate", "permessage-deflate"),
            (
                "permessage-deflate; server_no_context_takeover",
                "permessage-deflate; server_no_context_takeover",
            ),
            (
                "permessage-deflate; client_no_context_takeover",
                "permessage-deflate; client_no_context_takeover",
            ),
            (
                "permessage-deflate; server_max_window_bits=10",
                "permessage-deflate; server_max_window_bits=10",
            ),
            (
                "permessage-deflate; server_max_window_bits=\"12\"",
                "permessage-deflate; server_max_window_bits=12",
            ),
            (
                "permessage-deflate; client_max_window_bits",
                "permessage-deflate",
            ),
            (
                "permessage-deflate; client_max_window_bits=9",
                "permessage-deflate; client_max_window_bits=9",
            ),
            (
                "PerMessage-Deflate ;client_max_window_bits = 15",
                "permessage-deflate; client_max_window_bits=15",
            ),
        ];
        for (offer, want) in cases {
            let (got, why) = answer(&[offer], &s);
            assert_eq!(got.as_deref(), Some(*want), "{offer}");
            assert!(why.is_empty(), "{offer}: {why:?}");
        }
    }

    #[test]
    fn the_settings_bound_what_is_agreed() {
        let s = Params {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 11,
            client_max_window_bits: 10,
            ..settings()
        };
        let (got, _) = answer(&["permessage-deflate; client_max_window_bits"], &s);
        assert_eq!(
            got.as_deref(),
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; client_max_window_bits=10"
            )
        );
        let (got, _) = answer(&["permessage-deflate; server_max_window_bits=9"], &s);
        assert!(got.unwrap().contains("server_max_window_bits=9"));
        let off = answer(&["permessage-deflate"], &s).0;
        assert!(
            !off.unwrap().contains("client_max_window_bits"),
            "not offered: not answered"
        );
    }

    #[test]
    fn malformed_offers_are_declined_and_the_next_is_taken() {
        let s = settings();
        for bad in [
            "permessage-deflate; x",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_no_context_takeover=1",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; server_max_window_bits=8",
            "permessage-deflate; client_max_window_bits=abc",
            "permessage-deflate; client_max_window_bits=\"1 0\"",
            "permessage-deflate; =1",
            "permessage-deflate; a b",
            "permessage-deflate; client_max_window_bits=",
        ] {
            let (got, why) = answer(&[bad], &s);
            assert_eq!(got, None, "{bad}");
            assert_eq!(why.len(), 1, "{bad}: {why:?}");
            let line: &'static str =
                Box::leak(format!("{bad}, permessage-deflate").into_boxed_str());
            assert_eq!(
                answer(&[line], &s).0.as_deref(),
                Some("permessage-deflate"),
                "{line}"
            );
        }
        let (got, why) = answer(&["permessage-deflate; client_max_window_bits=\"10"], &s);
        assert_eq!((got, why), (None, vec![UNCLOSED_QUOTE]));
    }

    #[test]
    fn offers_are_read_over_every_line_and_other_extensions_are_ignored() {
        let s = settings();
        let (got, why) = answer(
            &[
                "x-webkit-deflate-frame, foo; bar=\"1,2\"",
                "permessage-deflate; server_max_window_bits=8",
                "permessage-deflate; client_no_context_takeover",
            ],
            &s,
        );
        assert_eq!(
            got.as_deref(),
            Some("permessage-deflate; client_no_context_takeover")
        );
        assert_eq!(why, vec![WINDOW_8]);
        assert_eq!(answer(&["foo, bar; baz"], &s), (None, vec![]));
    }
}
