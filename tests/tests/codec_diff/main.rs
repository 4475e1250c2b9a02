//! The RFC 6455 decoder proven against a reference: random client frame sequences, valid and
//! invalid, cut at random read boundaries, fed both to swoft-ws's decoder (through
//! `__private::codec`, the decoder every connection uses) and to tungstenite's server side
//! (`WebSocket::from_raw_socket`, `Role::Server`, over an in-memory stream, with the same
//! frame and message limits). The messages up to the first close, and the first violation's
//! close code, must agree.
//!
//! What is generated: text (with multi-byte characters, so that fragments cut them) and
//! binary messages, whole or in fragments with pings and pongs between them; masked frames
//! and unmasked ones; the 7-bit, 16-bit and 64-bit length forms (also non-minimal ones, which
//! both accept); close frames with empty, 1-byte and up-to-125-byte payloads, every class of
//! code (valid, reserved, out of range) and reasons valid or not as UTF-8; and faults: reserved
//! bits, reserved opcodes, fragmented and oversized control frames, continuations without a
//! message, a new message inside a fragmented one, frames over the frame limit, fragments over
//! the message limit, a 64-bit length with its top bit set, invalid UTF-8 whole or split across
//! fragments.
//!
//! ## Deliberate differences (each also in ARCHITECTURE.md)
//!
//! 1. **Fail fast on the header.** swoft-ws checks a frame's rules in the order its bytes
//!    arrive: the first two bytes (reserved bits, opcode, FIN of a control frame, the order of
//!    fragments, the mask bit) before the length. tungstenite checks the size limit right after
//!    the header and the other rules after reading the whole payload. A frame that breaks a
//!    header rule *and* is over the frame limit is therefore 1002 here and 1009 there. Both are
//!    right (RFC 6455 §7.1.7 leaves the choice open); failing on the header spares reading a
//!    payload that will be dropped. Accepted: ours 1002, tungstenite `MessageTooLong` against
//!    the frame limit.
//! 2. **A 64-bit length with its most significant bit set** is a protocol error here (1002,
//!    RFC 6455 §5.2: "the most significant bit MUST be 0"); tungstenite only sees a length over
//!    its limit (1009).
//! 3. **Close code 1014** ("Bad Gateway", in the IANA registry of close codes since 2012) is a
//!    valid close here; tungstenite's table stops at 1013 and answers it as a protocol error.
//! 4. **An invalid close code** is a violation here (1002, the connection fails); tungstenite
//!    returns a close frame with code 1002 and reason "Protocol violation" in place of the
//!    client's, which is the same answer on the wire: both mapped to "violation 1002". With a
//!    reason that is not UTF-8 too, the code (the payload's first bytes) decides here (1002);
//!    tungstenite reads the reason first (1007).
//! 5. **A control frame's length is read off its 7-bit field**: the 16- and 64-bit forms on a
//!    ping, pong or close are refused (1002) from the frame's second byte, even for a payload
//!    of 125 bytes or less, which tungstenite accepts. Those forms are not minimal (RFC 6455
//!    §5.2: "the minimal number of bytes MUST be used"), and §5.5 caps control frames at 125
//!    bytes; refusing them on the second byte is the same fail-fast rule as 1.
//! 6. **Fail-fast UTF-8** agrees: both refuse the fragment that holds the first invalid byte,
//!    not the message's end. No difference; the cases that split characters across
//!    fragments are here to keep it so.
//!
//! Compressed messages (permessage-deflate, RFC 7692) are the other half: see [`deflate`].
//!
//! Cases: 2,000 by default (a few seconds); `SWOFT_WS_DIFF_CASES=100000` for more.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

mod cases;
mod deflate;

use bytes::BytesMut;
use proptest::prelude::*;
use swoft_ws::__private::codec::{Frame, FrameDecoder, Violation};
use tungstenite::error::{CapacityError, Error as TError};
use tungstenite::protocol::{Message, Role, WebSocket, WebSocketConfig};

use crate::cases::{MAX_FRAME, MAX_MESSAGE, Spec, case};

/// How a case ended, after its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// All input was read (or a close frame ended it).
    Clean,
    /// The first violation's close code.
    Violation(u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    frames: Vec<Frame>,
    end: End,
}

/// swoft-ws's decoder, fed one read at a time.
fn ours(bytes: &[u8], reads: &[usize]) -> (Outcome, Option<Violation>) {
    ours_with(FrameDecoder::new(MAX_FRAME, MAX_MESSAGE), bytes, reads)
}

/// `decoder`, fed one read at a time.
fn ours_with(
    mut decoder: FrameDecoder,
    bytes: &[u8],
    reads: &[usize],
) -> (Outcome, Option<Violation>) {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in Chunks::new(bytes, reads) {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(f)) => {
                    let close = matches!(f, Frame::Close(_));
                    frames.push(f);
                    if close {
                        return (
                            Outcome {
                                frames,
                                end: End::Clean,
                            },
                            None,
                        );
                    }
                }
                Ok(None) => break,
                Err(v) => {
                    return (
                        Outcome {
                            frames,
                            end: End::Violation(v.code),
                        },
                        Some(v),
                    );
                }
            }
        }
    }
    (
        Outcome {
            frames,
            end: End::Clean,
        },
        None,
    )
}

/// tungstenite's server side over an in-memory stream that returns the same reads.
fn theirs(bytes: &[u8], reads: &[usize]) -> (Outcome, Option<TError>) {
    theirs_with(MAX_FRAME, MAX_MESSAGE, bytes, reads)
}

/// tungstenite's server side with these limits.
fn theirs_with(
    max_frame: usize,
    max_message: usize,
    bytes: &[u8],
    reads: &[usize],
) -> (Outcome, Option<TError>) {
    let stream = Stream {
        reads: Chunks::new(bytes, reads).map(<[u8]>::to_vec).collect(),
    };
    let config = WebSocketConfig::default()
        .max_frame_size(Some(max_frame))
        .max_message_size(Some(max_message));
    let mut ws = WebSocket::from_raw_socket(stream, Role::Server, Some(config));
    let mut frames = Vec::new();
    loop {
        let end = match ws.read() {
            Ok(Message::Text(t)) => {
                frames.push(Frame::Text(t.as_str().to_owned()));
                continue;
            }
            Ok(Message::Binary(b)) => {
                frames.push(Frame::Binary(b.to_vec()));
                continue;
            }
            Ok(Message::Ping(b)) => {
                frames.push(Frame::Ping(b.to_vec()));
                continue;
            }
            Ok(Message::Pong(b)) => {
                frames.push(Frame::Pong(b.to_vec()));
                continue;
            }
            // Difference 4: an invalid close code answered as a protocol violation.
            Ok(Message::Close(Some(c)))
                if u16::from(c.code) == 1002 && c.reason.as_str() == "Protocol violation" =>
            {
                End::Violation(1002)
            }
            Ok(Message::Close(c)) => {
                frames.push(Frame::Close(
                    c.map(|c| (u16::from(c.code), c.reason.as_str().to_owned())),
                ));
                End::Clean
            }
            Ok(Message::Frame(_)) => unreachable!("read never returns raw frames"),
            Err(e) => {
                let end = match &e {
                    TError::Protocol(
                        tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                    )
                    | TError::ConnectionClosed => End::Clean,
                    TError::Protocol(_) => End::Violation(1002),
                    TError::Capacity(_) => End::Violation(1009),
                    TError::Utf8(_) => End::Violation(1007),
                    other => panic!("unexpected tungstenite error: {other:?}"),
                };
                return (Outcome { frames, end }, Some(e));
            }
        };
        return (Outcome { frames, end }, None);
    }
}

/// Whether two outcomes that differ are one of the deliberate differences of the module docs.
fn deliberate(
    ours: &Outcome,
    why: Option<&Violation>,
    theirs: &Outcome,
    err: Option<&TError>,
) -> bool {
    // Difference 5: a control frame with a 16- or 64-bit length that tungstenite accepts.
    if why.is_some_and(|v| v.reason == "control frame payload over 125 bytes")
        && theirs.frames.starts_with(&ours.frames)
    {
        return true;
    }
    if ours.frames != theirs.frames {
        // Difference 3: a close 1014 is ours to accept; tungstenite fails it (as difference 4).
        let mut ours_frames = ours.frames.clone();
        return matches!(ours_frames.pop(), Some(Frame::Close(Some((1014, _)))))
            && ours_frames == theirs.frames
            && theirs.end == End::Violation(1002);
    }
    let frame_limit = matches!(
        err,
        Some(TError::Capacity(CapacityError::MessageTooLong { max_size, .. })) if *max_size == MAX_FRAME
    );
    match (&ours.end, &theirs.end, why) {
        // Differences 1 and 2: our header rules before the size.
        (End::Violation(1002), End::Violation(1009), Some(_)) => frame_limit,
        // Difference 4: the close code before the close reason.
        (End::Violation(1002), End::Violation(1007), Some(v)) => v.reason == "invalid close code",
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("SWOFT_WS_DIFF_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000),
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_decoder_agrees_with_tungstenite_on_random_client_frames((bytes, reads) in case()) {
        let (a, why) = ours(&bytes, &reads);
        let (b, err) = theirs(&bytes, &reads);
        if a != b {
            prop_assert!(
                deliberate(&a, why.as_ref(), &b, err.as_ref()),
                "swoft-ws: {a:?} ({why:?})\ntungstenite: {b:?} ({err:?})\nbytes: {bytes:02x?}"
            );
        }
    }
}

#[test]
fn the_deliberate_differences_are_what_the_docs_say() {
    let key = [1, 2, 3, 4];
    let case = |specs: &[Spec]| {
        let mut bytes = Vec::new();
        for s in specs {
            s.encode(&mut bytes);
        }
        let reads = [bytes.len().max(1)];
        (ours(&bytes, &reads), theirs(&bytes, &reads))
    };
    // 1. Reserved bits on an oversized frame: the header rule here, the size there.
    let mut big = Spec::new(true, 0x2, vec![0; MAX_FRAME + 1], key, 0);
    big.rsv = 4;
    let ((a, _), (b, _)) = case(&[big]);
    assert_eq!((a.end, b.end), (End::Violation(1002), End::Violation(1009)));
    // 2. The top bit of a 64-bit length.
    let mut msb = Spec::new(true, 0x2, Vec::new(), key, 2);
    msb.msb = true;
    let ((a, why), (b, _)) = case(&[msb]);
    assert_eq!((a.end, b.end), (End::Violation(1002), End::Violation(1009)));
    assert_eq!(why.unwrap().reason, "invalid payload length");
    // 3. and 4. Close 1014 accepted here; an invalid code (1004) a violation for both.
    let close = |code: u16| Spec::new(true, 0x8, code.to_be_bytes().to_vec(), key, 0);
    let ((a, _), (b, _)) = case(&[close(1014)]);
    assert_eq!(a.frames, [Frame::Close(Some((1014, String::new())))]);
    assert_eq!(b.end, End::Violation(1002));
    let ((a, _), (b, _)) = case(&[close(1004)]);
    assert_eq!((a.end, b.end), (End::Violation(1002), End::Violation(1002)));
    // 5. Invalid UTF-8 in the first fragment: both fail there, before the message ends.
    let first = Spec::new(false, 0x1, vec![b'a', 0xFF], key, 0);
    let ((a, _), (b, _)) = case(&[first]);
    assert_eq!((a.end, b.end), (End::Violation(1007), End::Violation(1007)));
}

#[test]
fn the_generated_cases_reach_every_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut ends, mut kinds) = (std::collections::BTreeMap::new(), [0usize; 5]);
    for _ in 0..2000 {
        let (bytes, reads) = case().new_tree(&mut runner).unwrap().current();
        let (outcome, why) = ours(&bytes, &reads);
        let key = why.map_or("clean", |v| v.reason);
        *ends.entry(key).or_insert(0usize) += 1;
        for f in &outcome.frames {
            let i = match f {
                Frame::Text(_) => 0,
                Frame::Binary(_) => 1,
                Frame::Ping(_) => 2,
                Frame::Pong(_) => 3,
                Frame::Close(_) => 4,
            };
            kinds[i] += 1;
        }
    }
    for reason in [
        "clean",
        "reserved bits set",
        "reserved opcode",
        "unmasked client frame",
        "fragmented control frame",
        "control frame payload over 125 bytes",
        "invalid payload length",
        "continuation frame without a message",
        "new data frame inside a fragmented message",
        "close payload of 1 byte",
        "invalid close code",
        "frame too big",
        "message too big",
        "invalid UTF-8",
    ] {
        assert!(
            ends.contains_key(reason),
            "no case ends with {reason:?}: {ends:?}"
        );
    }
    assert!(
        kinds.iter().all(|&n| n > 0),
        "messages of each kind: {kinds:?}"
    );
}

/// `bytes` cut into reads of the given sizes (cycled), the last one whatever is left.
struct Chunks<'a> {
    rest: &'a [u8],
    sizes: std::iter::Cycle<std::slice::Iter<'a, usize>>,
}

impl<'a> Chunks<'a> {
    fn new(bytes: &'a [u8], sizes: &'a [usize]) -> Self {
        Chunks {
            rest: bytes,
            sizes: sizes.iter().cycle(),
        }
    }
}

impl<'a> Iterator for Chunks<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let n = (*self.sizes.next()?).clamp(1, self.rest.len());
        let (chunk, rest) = self.rest.split_at(n);
        self.rest = rest;
        Some(chunk)
    }
}

/// An in-memory socket: each read returns at most one of `reads`, then the end of the
/// stream; what is written (pongs, the close reply) is dropped.
struct Stream {
    reads: VecDeque<Vec<u8>>,
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(front) = self.reads.front_mut() else {
            return Ok(0);
        };
        let n = front.len().min(buf.len());
        buf[..n].copy_from_slice(&front[..n]);
        front.drain(..n);
        if front.is_empty() {
            self.reads.pop_front();
        }
        Ok(n)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
