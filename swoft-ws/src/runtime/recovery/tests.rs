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

/// `prune` expires sessions in drop order, looking only at the oldest: a session resumed
/// (its token gone) or dropped again since (a later `dropped_at`) is skipped when its old entry
/// comes out, and an expired token is forgotten one window after it expired.
#[test]
fn prune_expires_in_drop_order_and_skips_stale_entries() {
    use std::time::Duration;
    let window = Duration::from_secs(10);
    let mut st = State::default();
    st.logs.insert(
        "/m",
        Log {
            settings: Recovery::DEFAULT.window(window),
            parser: Arc::new(crate::protocol::JsonParser),
            entries: VecDeque::new(),
            bytes: 0,
            evicted: 0,
            detached_rooms: HashMap::new(),
            drops: VecDeque::new(),
        },
    );
    let t0 = Instant::now();
    let s = |at: Instant| at + Duration::from_secs(1);
    let room: Arc<str> = Arc::from("r");
    let drop_at = |st: &mut State, token: &str, at: Instant| {
        let session = Session {
            id: 1,
            module: "/m",
            start_off: 0,
            live: None,
            rooms: vec![room.clone()],
            label: None,
            dropped_at: Some(at),
            saved: false,
        };
        if let Some(log) = st.logs.get_mut("/m") {
            *log.detached_rooms.entry(room.clone()).or_default() += 1;
        }
        st.dropped("/m", token, at);
        if let Some(old) = st.sessions.insert(token.to_owned(), session) {
            if let Some(log) = st.logs.get_mut("/m") {
                unindex(log, &old.rooms);
            }
        }
    };
    drop_at(&mut st, "a", t0);
    drop_at(&mut st, "b", s(t0));
    drop_at(&mut st, "c", s(s(t0)));
    // "b" resumed: its token is gone. "c" dropped again later (a session from the store).
    if let Some(b) = st.sessions.remove("b") {
        unindex(st.logs.get_mut("/m").expect("log"), &b.rooms);
    }
    drop_at(&mut st, "c", t0 + Duration::from_secs(5));
    assert_eq!(st.logs["/m"].detached_rooms.get("r"), Some(&2));

    st.prune(t0 + Duration::from_millis(11_500));
    assert!(st.expired.contains_key("a") && !st.sessions.contains_key("a"));
    assert!(!st.expired.contains_key("b"));
    assert!(st.sessions.contains_key("c") && !st.expired.contains_key("c"));
    assert_eq!(st.logs["/m"].detached_rooms.get("r"), Some(&1));
    // "c"'s first entry (2 s) and its second (5 s) are younger than the window.
    assert_eq!(st.logs["/m"].drops.len(), 2);

    st.prune(t0 + Duration::from_secs(16));
    assert!(st.expired.contains_key("c") && st.sessions.is_empty());
    assert!(st.logs["/m"].detached_rooms.is_empty());
    assert!(st.logs["/m"].drops.is_empty());

    // "a" expired at 11.5 s: remembered until 21.5 s; "c" (16 s) until 26 s.
    st.prune(t0 + Duration::from_secs(22));
    assert!(!st.expired.contains_key("a") && st.expired.contains_key("c"));
    assert_eq!(st.expiries.len(), 1);
}
