//! The `$session` frame, as the wire contract fixes it, and session tokens.

use super::*;

#[test]
fn session_frames_are_the_wire_contract() {
    let text = |m: Message| match m {
        Message::Text(t) => t.as_str().to_owned(),
        _ => panic!("a text frame"),
    };
    assert_eq!(
        text(session_frame("ab", None)),
        r#"{"cmd":"$session","data":{"token":"ab","resumed":false}}"#
    );
    assert_eq!(
        text(session_frame("ab", Some(Ok(3)))),
        r#"{"cmd":"$session","data":{"token":"ab","resumed":true,"replayed":3}}"#
    );
    for (r, s) in [
        (NotResumed::Unknown, "unknown"),
        (NotResumed::Expired, "expired"),
        (NotResumed::Evicted, "evicted"),
    ] {
        assert_eq!(
            text(session_frame("ab", Some(Err(r)))),
            format!(
                r#"{{"cmd":"$session","data":{{"token":"ab","resumed":false,"reason":"{s}"}}}}"#
            )
        );
    }
    let t = new_token();
    assert_eq!(t.len(), 32);
    assert!(t.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(t, new_token());
}
