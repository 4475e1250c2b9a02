//! Frames that break RFC 6455 section 5 (control frames, fragmentation, lengths) and
//! messages over the size limit: each the violation, and so the close code, it must be.

use super::*;

#[test]
fn control_frame_over_125_bytes_is_a_protocol_error() {
    for opcode in [OP_PING, OP_PONG, OP_CLOSE] {
        let mut payload = close_payload(1000, "").to_vec();
        payload.resize(126, b'a');
        let encoded = frame(true, opcode, &payload);
        assert_eq!(decode_one(&encoded), Err(CONTROL_TOO_LONG));
        assert_eq!(
            code_of(decode_one(&encoded[..2])),
            1002,
            "known from 2 bytes"
        );
        payload.truncate(125);
        assert!(decode_one(&frame(true, opcode, &payload)).is_ok());
    }
}

#[test]
fn fragmented_control_frame_is_a_protocol_error() {
    for opcode in [OP_PING, OP_PONG, OP_CLOSE] {
        assert_eq!(
            decode_one(&frame(false, opcode, b"")),
            Err(FRAGMENTED_CONTROL)
        );
    }
}

#[test]
fn continuation_without_a_message_is_a_protocol_error() {
    assert_eq!(
        decode_one(&frame(true, OP_CONT, b"x")),
        Err(CONTINUATION_WITHOUT_START)
    );
    assert_eq!(
        decode_one(&frame(false, OP_CONT, b"x")),
        Err(CONTINUATION_WITHOUT_START)
    );
    // Also after a message has ended.
    let mut bytes = frame(false, OP_TEXT, b"a");
    bytes.extend(frame(true, OP_CONT, b"b"));
    bytes.extend(frame(true, OP_CONT, b"c"));
    let out = decode_all(&mut Decoder::new(BIG, BIG, None), &bytes);
    assert_eq!(out, vec![Ok(text("ab")), Err(CONTINUATION_WITHOUT_START)]);
}

#[test]
fn new_data_frame_during_a_fragmented_message_is_a_protocol_error() {
    for (first, second) in [
        (OP_TEXT, OP_TEXT),
        (OP_TEXT, OP_BINARY),
        (OP_BINARY, OP_TEXT),
    ] {
        for fin in [false, true] {
            let mut bytes = frame(false, first, b"a");
            bytes.extend(frame(fin, second, b"b"));
            let out = decode_all(&mut Decoder::new(BIG, BIG, None), &bytes);
            assert_eq!(out, vec![Err(DATA_DURING_FRAGMENTED)]);
        }
    }
}

#[test]
fn frame_too_big_is_known_from_the_header() {
    let mut decoder = Decoder::new(1000, 1 << 30, None);
    let mut buf = BytesMut::from(&header_only(0x80 | OP_BINARY, 1001)[..]);
    assert_eq!(decoder.decode(&mut buf), Err(FRAME_TOO_BIG));
    assert_eq!(FRAME_TOO_BIG.code, 1009);
    // The 16-bit form too, with only the header read.
    let encoded = frame(true, OP_TEXT, &[b'a'; 1001]);
    assert_eq!(
        Decoder::new(1000, BIG, None).decode(&mut BytesMut::from(&encoded[..8])),
        Err(FRAME_TOO_BIG)
    );
    // Exactly the limit is fine.
    let encoded = frame(true, OP_TEXT, &[b'a'; 1000]);
    assert!(
        Decoder::new(1000, 1000, None)
            .decode(&mut BytesMut::from(&encoded[..]))
            .is_ok()
    );
}

#[test]
fn top_bit_of_the_64_bit_length_is_a_protocol_error() {
    let mut buf = BytesMut::from(&header_only(0x80 | OP_BINARY, 1 << 63)[..]);
    assert_eq!(
        Decoder::new(usize::MAX, usize::MAX, None).decode(&mut buf),
        Err(BAD_LENGTH)
    );
    let mut buf = BytesMut::from(&header_only(0x80 | OP_BINARY, u64::MAX)[..]);
    assert_eq!(
        Decoder::new(BIG, BIG, None).decode(&mut buf),
        Err(BAD_LENGTH)
    );
}

#[test]
fn message_too_big_across_fragments() {
    let mut decoder = Decoder::new(100, 150, None);
    let mut bytes = frame(false, OP_TEXT, &[b'a'; 80]);
    bytes.extend(frame(false, OP_CONT, &[b'b'; 70]));
    // Only the header of a third fragment: one more byte is too much.
    bytes.extend(&frame(true, OP_CONT, &[b'c'; 1])[..6]);
    assert_eq!(decode_all(&mut decoder, &bytes), vec![Err(MESSAGE_TOO_BIG)]);
    assert_eq!(MESSAGE_TOO_BIG.code, 1009);
    // Binary as well, and an unfragmented message over the message limit.
    let mut bytes = frame(false, OP_BINARY, &[0; 100]);
    bytes.extend(&frame(true, OP_CONT, &[0; 51])[..6]);
    assert_eq!(
        decode_all(&mut Decoder::new(100, 150, None), &bytes),
        vec![Err(MESSAGE_TOO_BIG)]
    );
    let encoded = frame(true, OP_BINARY, &[0; 151]);
    assert_eq!(
        Decoder::new(1000, 150, None).decode(&mut BytesMut::from(&encoded[..8])),
        Err(MESSAGE_TOO_BIG)
    );
    // Exactly the limit, with control frames in between (not counted).
    let mut bytes = frame(false, OP_TEXT, &[b'a'; 100]);
    bytes.extend(frame(true, OP_PING, &[0; 90]));
    bytes.extend(frame(true, OP_CONT, &[b'b'; 50]));
    let out = decode_all(&mut Decoder::new(100, 150, None), &bytes);
    assert_eq!(out.len(), 2);
    assert!(matches!(&out[1], Ok(Incoming::Text(t)) if t.len() == 150));
}
