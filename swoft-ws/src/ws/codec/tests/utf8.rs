//! Text messages must be UTF-8 (RFC 6455 section 8.1): checked as fragments arrive, failing
//! at the first invalid byte, and at FIN for an incomplete character.

use super::*;

#[test]
fn multibyte_chars_split_across_fragments_are_accepted() {
    let message = "a€b𝄞c é";
    let bytes = message.as_bytes();
    // Every way of cutting the message in three fragments.
    for i in 0..=bytes.len() {
        for j in i..=bytes.len() {
            let mut encoded = frame(false, OP_TEXT, &bytes[..i]);
            encoded.extend(frame(true, OP_PING, b""));
            encoded.extend(frame(false, OP_CONT, &bytes[i..j]));
            encoded.extend(frame(true, OP_CONT, &bytes[j..]));
            let out = decode_all(&mut Decoder::new(BIG, BIG, None), &encoded);
            assert_eq!(out.last(), Some(&Ok(text(message))), "cut at {i} and {j}");
        }
    }
    // One byte per fragment.
    let mut encoded = Vec::new();
    for (i, byte) in bytes.iter().enumerate() {
        let opcode = if i == 0 { OP_TEXT } else { OP_CONT };
        encoded.extend(frame(i + 1 == bytes.len(), opcode, &[*byte]));
    }
    assert_eq!(
        decode_all(&mut Decoder::new(BIG, BIG, None), &encoded),
        vec![Ok(text(message))]
    );
}

#[test]
fn invalid_utf8_in_the_first_fragment_fails_fast() {
    let mut decoder = Decoder::new(BIG, BIG, None);
    let mut buf = BytesMut::from(&frame(false, OP_TEXT, b"ok \xFF")[..]);
    assert_eq!(decoder.decode(&mut buf), Err(INVALID_UTF8));
    assert_eq!(INVALID_UTF8.code, 1007);
    // Invalid whatever follows, though the sequence is incomplete at the frame's end.
    for bad in [
        &b"\xE0\x80"[..],
        b"\xED\xA0",
        b"\xF4\x90",
        b"\xF5",
        b"\xC0",
        b"\x80",
    ] {
        let out = decode_all(
            &mut Decoder::new(BIG, BIG, None),
            &frame(false, OP_TEXT, bad),
        );
        assert_eq!(out, vec![Err(INVALID_UTF8)], "{bad:?}");
    }
}

#[test]
fn invalid_utf8_in_a_later_fragment_fails_at_that_fragment() {
    // The character started in the first fragment is broken by the second one.
    let mut bytes = frame(false, OP_TEXT, b"x\xE2\x82");
    bytes.extend(frame(false, OP_CONT, b"A"));
    assert_eq!(
        decode_all(&mut Decoder::new(BIG, BIG, None), &bytes),
        vec![Err(INVALID_UTF8)]
    );
    // A valid first fragment, an invalid second one, no FIN yet.
    let mut bytes = frame(false, OP_TEXT, "é".as_bytes());
    bytes.extend(frame(
        false,
        OP_CONT,
        b"\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80",
    ));
    assert_eq!(
        decode_all(&mut Decoder::new(BIG, BIG, None), &bytes),
        vec![Err(INVALID_UTF8)]
    );
    // A 4-byte character completed wrongly in the third fragment.
    let mut bytes = frame(false, OP_TEXT, b"\xF0");
    bytes.extend(frame(false, OP_CONT, b"\x90"));
    bytes.extend(frame(false, OP_CONT, b"\x80\x41"));
    assert_eq!(
        decode_all(&mut Decoder::new(BIG, BIG, None), &bytes),
        vec![Err(INVALID_UTF8)]
    );
}

#[test]
fn incomplete_char_at_fin_is_rejected() {
    let mut bytes = frame(false, OP_TEXT, b"abc");
    bytes.extend(frame(true, OP_CONT, b"\xE2\x82"));
    assert_eq!(
        decode_all(&mut Decoder::new(BIG, BIG, None), &bytes),
        vec![Err(INVALID_UTF8)]
    );
    assert_eq!(
        decode_one(&frame(true, OP_TEXT, b"abc\xE2\x82")),
        Err(INVALID_UTF8)
    );
}

#[test]
fn invalid_utf8_in_an_unfragmented_text_is_rejected() {
    assert_eq!(
        decode_one(&frame(true, OP_TEXT, b"\xCE\xBA\xE1\xBD\xB9\xED\xA0\x80")),
        Err(INVALID_UTF8)
    );
    // Binary is not checked.
    assert!(decode_one(&frame(true, OP_BINARY, b"\xFF")).is_ok());
}

#[test]
fn unmasked_frame_is_a_protocol_error() {
    let unmasked = raw_frame(0x80 | OP_TEXT, None, b"hello");
    assert_eq!(decode_one(&unmasked), Err(UNMASKED));
    assert_eq!(
        code_of(decode_one(&unmasked[..2])),
        1002,
        "known from 2 bytes"
    );
}

#[test]
fn reserved_bits_are_a_protocol_error() {
    for rsv in [0x40, 0x20, 0x10, 0x70] {
        let encoded = raw_frame(0x80 | rsv | OP_TEXT, Some(KEY), b"x");
        assert_eq!(decode_one(&encoded), Err(RESERVED_BITS));
        assert_eq!(code_of(decode_one(&encoded[..2])), 1002);
    }
}

#[test]
fn reserved_opcodes_are_a_protocol_error() {
    for opcode in (3..=7).chain(0xB..=0xF) {
        assert_eq!(
            decode_one(&frame(true, opcode, b"")),
            Err(RESERVED_OPCODE),
            "{opcode}"
        );
    }
}
