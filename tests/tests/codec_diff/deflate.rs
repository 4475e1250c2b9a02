//! The differential test with permessage-deflate (RFC 7692). tungstenite has no compression, so
//! the reference is tungstenite reading the *same messages sent plain*: each case is built
//! twice from one list of messages, once as a client that agreed permessage-deflate sends it
//! (the messages chosen to be compressed deflated by flate2 with a sync flush and its
//! `00 00 ff ff` tail taken off, §7.2.1; RSV1 on their first frame, §6) and once without
//! compression, with the same fragments, the same pings between them and the same faults.
//! swoft-ws's decoder (with the extension agreed) reads the first, tungstenite the second;
//! their messages and the first violation's close code must agree.
//!
//! What varies: context takeover by the client or not (§7.1.1.2), the client's window (9–15
//! bits, §7.1.2.2), text and binary, compressible and random payloads, one to three
//! fragments, pings between fragments, messages over the message limit once inflated (1009
//! for both: the limit counts inflated bytes here, plain bytes there), invalid UTF-8 (1007),
//! and the RSV1 faults: on a control frame or a continuation frame (1002 for both; tungstenite
//! refuses any reserved bit, RFC 6455 §5.2, as no extension is agreed there).
//!
//! The frame limit is above the message limit in this half, so that a compressed frame never
//! meets a limit its plain twin does not (random bytes deflate to a few bytes more).

use flate2::{Compress, Compression, FlushCompress};
use proptest::prelude::*;
use swoft_ws::__private::codec::FrameDecoder;

use crate::cases::Spec;
use crate::{End, Outcome, ours_with, theirs_with};
use swoft_ws::__private::codec::Frame;

/// The codes the message the decoders stopped at (after `decoded` whole messages) may fail
/// with: 1007 for text that is not UTF-8, 1009 over the message limit, 1002 for RSV1 on its
/// continuation.
fn fault_codes(msgs: &[Msg], fault: Option<Fault>, decoded: usize) -> Vec<u16> {
    let Some(m) = msgs.get(decoded) else {
        return Vec::new();
    };
    let mut codes = Vec::new();
    if m.text && std::str::from_utf8(&m.payload).is_err() {
        codes.push(1007);
    }
    if m.payload.len() > MESSAGE_LIMIT {
        codes.push(1009);
    }
    if m.fragments > 1 && matches!(fault, Some(Fault::RsvOnContinuation(k)) if k == decoded) {
        codes.push(1002);
    }
    codes
}

/// A text or binary message (not a control frame).
fn is_data(f: &Frame) -> bool {
    matches!(f, Frame::Text(_) | Frame::Binary(_))
}

/// The outcome without its pings and pongs.
fn without_pings(mut o: Outcome) -> Outcome {
    o.frames
        .retain(|f| !matches!(f, Frame::Ping(_) | Frame::Pong(_)));
    o
}

/// Inflated (or plain) bytes a message may have.
const MESSAGE_LIMIT: usize = 400;
/// Bytes a frame's payload may have, compressed or not: above any message here.
const FRAME_LIMIT: usize = 2048;

/// One message of a case.
#[derive(Debug, Clone)]
struct Msg {
    text: bool,
    payload: Vec<u8>,
    compressed: bool,
    /// Sent in this many frames (1–3).
    fragments: usize,
    /// A ping between its fragments.
    pings: bool,
}

/// A fault put into both streams.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// RSV1 on a ping after the message at this index.
    RsvOnPing(usize),
    /// RSV1 on the first continuation of the message at this index (if it has one).
    RsvOnContinuation(usize),
}

fn payload() -> impl Strategy<Value = (bool, Vec<u8>)> {
    let words = prop::collection::vec(
        prop_oneof![
            Just("room "),
            Just("message "),
            Just("é€𝄞 "),
            Just("{\"a\":1} ")
        ],
        0..80,
    )
    .prop_map(|w| w.concat().into_bytes());
    prop_oneof![
        // Compressible text, up to ~800 bytes (over the limit at the top).
        3 => words.clone().prop_map(|b| (true, b)),
        // The same with a byte that is never UTF-8 somewhere in it.
        1 => (words, any::<usize>()).prop_map(|(mut b, at)| {
            let at = at % (b.len() + 1);
            b.insert(at, 0xFF);
            (true, b)
        }),
        // Random binary: deflate makes it a little longer.
        2 => prop::collection::vec(any::<u8>(), 0..500).prop_map(|b| (false, b)),
    ]
}

fn message() -> impl Strategy<Value = Msg> {
    (payload(), any::<bool>(), 1usize..=3, any::<bool>()).prop_map(
        |((text, payload), compressed, fragments, pings)| Msg {
            text,
            payload,
            compressed,
            fragments,
            pings,
        },
    )
}

fn fault() -> impl Strategy<Value = Option<Fault>> {
    prop_oneof![
        4 => Just(None),
        1 => (0usize..6).prop_map(|i| Some(Fault::RsvOnPing(i))),
        1 => (0usize..6).prop_map(|i| Some(Fault::RsvOnContinuation(i))),
    ]
}

/// A sync-flushed deflate of `msg` without its tail, as a client sends it (RFC 7692 §7.2.1).
fn deflate(z: &mut Compress, msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + 64);
    // `compress_vec` writes only into the spare capacity: again with more room until all the
    // input is in and the flush is out.
    if msg.is_empty() {
        // zlib emits no second flush in a row with no input between (context takeover); an
        // empty message is an empty stored block without its tail, `00` (RFC 7692 §7.2.3.6).
        return vec![0x00];
    }
    let start = z.total_in();
    for _ in 0..64 {
        let taken = usize::try_from(z.total_in() - start).expect("a small message");
        out.reserve(msg.len() - taken + 64);
        z.compress_vec(&msg[taken..], &mut out, FlushCompress::Sync)
            .expect("deflate");
        let taken = usize::try_from(z.total_in() - start).expect("a small message");
        if taken == msg.len() && out.ends_with(&[0, 0, 0xff, 0xff]) {
            out.truncate(out.len() - 4);
            return out;
        }
    }
    panic!("deflate never finished its sync flush");
}

/// `payload` cut into `n` parts (the last ones may be empty).
fn split(payload: &[u8], n: usize) -> Vec<Vec<u8>> {
    let size = payload.len().div_ceil(n).max(1);
    let mut parts: Vec<Vec<u8>> = payload.chunks(size).map(<[u8]>::to_vec).collect();
    parts.resize(n, Vec::new());
    parts
}

/// The frames of `msgs` as the client sends them: compressed (`wire` = true) or plain.
fn frames(
    msgs: &[Msg],
    fault: Option<Fault>,
    wire: bool,
    z: &mut Option<Compress>,
    bits: u8,
) -> Vec<u8> {
    let key = [7, 1, 9, 3];
    let mut out = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        let body = if wire && m.compressed {
            // One compressor for the messages given (the caller gives one message at a time
            // for no context takeover).
            let z = z.get_or_insert_with(|| {
                Compress::new_with_window_bits(Compression::new(6), false, bits)
            });
            deflate(z, &m.payload)
        } else {
            m.payload.clone()
        };
        let parts = split(&body, m.fragments);
        let last = parts.len() - 1;
        for (j, part) in parts.into_iter().enumerate() {
            let opcode = if j > 0 {
                0x0
            } else if m.text {
                0x1
            } else {
                0x2
            };
            let mut f = Spec::new(j == last, opcode, part, key, 0);
            if wire && m.compressed && j == 0 {
                f.rsv = 4;
            }
            if j == 1 && matches!(fault, Some(Fault::RsvOnContinuation(k)) if k == i) {
                f.rsv = 4;
            }
            f.encode(&mut out);
            if j < last && m.pings {
                Spec::new(true, 0x9, vec![b'p'; j + 1], key, 0).encode(&mut out);
            }
        }
        if matches!(fault, Some(Fault::RsvOnPing(k)) if k == i) {
            let mut ping = Spec::new(true, 0x9, b"z".to_vec(), key, 0);
            ping.rsv = 4;
            ping.encode(&mut out);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("SWOFT_WS_DIFF_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000) / 2,
        max_shrink_iters: 1000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn compressed_messages_decode_as_tungstenite_decodes_them_plain(
        msgs in prop::collection::vec(message(), 1..6),
        fault in fault(),
        context_takeover in any::<bool>(),
        bits in 9u8..=15,
        reads in prop::collection::vec(1usize..96, 1..16),
    ) {
        // With context takeover one compressor goes on across messages; without, each
        // compressed message starts a fresh one.
        let compressed = if context_takeover {
            frames(&msgs, fault, true, &mut None, bits)
        } else {
            let mut out = Vec::new();
            for (i, m) in msgs.iter().enumerate() {
                let one = std::slice::from_ref(m);
                let f = fault.and_then(|f| match f {
                    Fault::RsvOnPing(k) if k == i => Some(Fault::RsvOnPing(0)),
                    Fault::RsvOnContinuation(k) if k == i => Some(Fault::RsvOnContinuation(0)),
                    _ => None,
                });
                out.extend(frames(one, f, true, &mut None, bits));
            }
            out
        };
        let plain = frames(&msgs, fault, false, &mut None, bits);
        let decoder = FrameDecoder::with_deflate(FRAME_LIMIT, MESSAGE_LIMIT, !context_takeover, bits);
        let (a, why) = ours_with(decoder, &compressed, &reads);
        let (b, err) = theirs_with(FRAME_LIMIT, MESSAGE_LIMIT, &plain, &reads);
        // Where a message fails (invalid UTF-8, over the limit, RSV1 on a continuation) is a
        // byte or a frame of the plain message; which fragment holds that byte differs between
        // the compressed and the plain stream, and so do the pings between fragments read
        // before the failure. With such an end, the messages and the code must agree, not the
        // pings. And a message with two of those faults fails with whichever is seen first,
        // which depends on where the fragments fall: either code then.
        let codes = fault_codes(&msgs, fault, a.frames.iter().filter(|f| is_data(f)).count());
        let (a, mut b) = match (&a.end, &b.end) {
            (End::Violation(x), End::Violation(y)) if codes.contains(x) && codes.contains(y) => {
                (without_pings(a), without_pings(b))
            }
            _ => (a, b),
        };
        if a.end != b.end && a.frames == b.frames && codes.len() >= 2 {
            b.end = a.end.clone();
        }
        prop_assert_eq!(
            &a, &b,
            "swoft-ws (compressed): {:?}\ntungstenite (plain): {:?}\nmessages: {:?}",
            why, err, msgs
        );
    }
}
