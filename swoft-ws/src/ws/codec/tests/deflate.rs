//! The decoder with permessage-deflate agreed (RFC 7692): compressed messages, whole and
//! fragmented, inflated within the message limit; RSV1 where it may not be.

use super::*;
use crate::ws::deflate::{Params, compress_alone};

const KEY: [u8; 4] = [1, 2, 3, 4];

fn params() -> Params {
    Params {
        level: 6,
        min_size: 0,
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    }
}

fn decoder(max_message: usize) -> Decoder {
    Decoder::new(max_message, max_message, Some(Inflate::new(&params())))
}

fn decode(d: &mut Decoder, bytes: &[u8]) -> Result<Option<Incoming>, Violation> {
    d.decode(&mut BytesMut::from(bytes))
}

#[test]
fn a_compressed_text_message_is_inflated() {
    let msg = "hello, compressed hello, compressed hello".repeat(10);
    let c = compress_alone(&params(), msg.as_bytes()).unwrap();
    let mut d = decoder(1 << 20);
    let got = decode(&mut d, &raw_frame(0x80 | RSV1 | OP_TEXT, Some(KEY), &c));
    assert_eq!(got, Ok(Some(Incoming::Text(WireText::from(msg.clone())))));
    // An uncompressed message on the same connection is taken as it is.
    let got = decode(&mut d, &raw_frame(0x80 | OP_TEXT, Some(KEY), b"plain"));
    assert_eq!(got, Ok(Some(Incoming::Text(WireText::from("plain")))));
}

#[test]
fn a_compressed_message_in_fragments_with_a_ping_between() {
    let msg = vec![7u8; 10_000];
    let c = compress_alone(&params(), &msg).unwrap();
    let (a, b) = c.split_at(c.len() / 2);
    let mut bytes = raw_frame(RSV1 | OP_BINARY, Some(KEY), a);
    bytes.extend(raw_frame(0x80 | OP_PING, Some(KEY), b"p"));
    bytes.extend(raw_frame(0x80 | OP_CONT, Some(KEY), b));
    let mut d = decoder(1 << 20);
    let mut buf = BytesMut::from(&bytes[..]);
    assert_eq!(
        d.decode(&mut buf),
        Ok(Some(Incoming::Ping(Bytes::from_static(b"p"))))
    );
    assert_eq!(d.decode(&mut buf), Ok(Some(Incoming::Binary(msg.into()))));
}

#[test]
fn a_small_frame_inflating_past_the_limit_is_1009() {
    let c = compress_alone(&params(), &vec![0u8; 1 << 20]).unwrap();
    assert!(c.len() < 64 << 10);
    let got = decode(
        &mut decoder(64 << 10),
        &raw_frame(0x80 | RSV1 | OP_BINARY, Some(KEY), &c),
    );
    assert_eq!(got.unwrap_err().code, close_code::TOO_BIG);
}

/// The decoder's inflater, the bytes, the close code and reason.
type Case = (Option<Box<Inflate>>, Vec<u8>, u16, &'static str);

#[test]
fn rsv1_where_it_may_not_be_is_1002_and_bad_data_1007() {
    let cases: [Case; 4] = [
        // RSV1 without the extension.
        (
            None,
            raw_frame(0x80 | RSV1 | OP_TEXT, Some(KEY), b"x"),
            1002,
            "reserved bits set",
        ),
        (
            Some(Inflate::new(&params())),
            raw_frame(0x80 | RSV1 | OP_PING, Some(KEY), b""),
            1002,
            "RSV1 on a control frame",
        ),
        (
            Some(Inflate::new(&params())),
            [
                raw_frame(RSV1 | OP_TEXT, Some(KEY), &[]),
                raw_frame(0x80 | RSV1 | OP_CONT, Some(KEY), &[]),
            ]
            .concat(),
            1002,
            "RSV1 on a continuation frame",
        ),
        (
            Some(Inflate::new(&params())),
            raw_frame(0x80 | RSV1 | OP_TEXT, Some(KEY), &[0xff; 9]),
            1007,
            "invalid compressed data",
        ),
    ];
    for (inflate, bytes, code, reason) in cases {
        let mut d = Decoder::new(1 << 20, 1 << 20, inflate);
        let mut buf = BytesMut::from(&bytes[..]);
        let err = loop {
            match d.decode(&mut buf) {
                Ok(Some(_)) => {}
                Ok(None) => panic!("{reason}: no violation"),
                Err(v) => break v,
            }
        };
        assert_eq!((err.code, err.reason), (code, reason));
    }
    // RSV2 and RSV3 stay reserved with the extension.
    let got = decode(
        &mut decoder(1 << 20),
        &raw_frame(0x80 | 0x20 | OP_TEXT, Some(KEY), b"x"),
    );
    assert_eq!(got.unwrap_err().reason, "reserved bits set");
}

#[test]
fn compressed_invalid_utf8_is_1007() {
    let c = compress_alone(&params(), &[0xC3, 0x28, b'a', b'a', b'a', b'a']).unwrap_or_else(|| {
        // Not smaller: compress it anyway through the broadcast path's twin.
        let mut ctx = crate::ws::deflate::Context::new(&params());
        ctx.compress(&[0xC3, 0x28, b'a', b'a', b'a', b'a']).unwrap()
    });
    let got = decode(
        &mut decoder(1 << 20),
        &raw_frame(0x80 | RSV1 | OP_TEXT, Some(KEY), &c),
    );
    assert_eq!(got.unwrap_err().code, close_code::INVALID_PAYLOAD);
}
