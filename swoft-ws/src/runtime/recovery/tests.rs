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
            trimmed: Trimmed::default(),
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
            saving: None,
            taken_over: false,
            spans: Vec::new(),
            addrs: Vec::new(),
            gone: 0,
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

fn entry(off: u64, target: Target, except: Option<Arc<[ConnAddr]>>) -> Entry {
    Entry {
        off,
        at: Instant::now(),
        target,
        except,
        frame: Message::Text("x".into()),
        bytes: 1,
    }
}

fn session(id: u64) -> Session {
    Session {
        id,
        module: "/m",
        start_off: 0,
        live: None,
        rooms: Vec::new(),
        label: None,
        dropped_at: None,
        saved: false,
        saving: None,
        taken_over: false,
        spans: Vec::new(),
        addrs: Vec::new(),
        gone: 0,
    }
}

fn addr(node: &str, fd: u32) -> ConnAddr {
    ConnAddr {
        node: crate::runtime::remote::NodeId::from_wire(node),
        fd: fd.into(),
    }
}

/// A replay includes a push to a room iff the session was a member when it was sent, a push
/// to it or its module, and never one that left out a connection it was live on (since it
/// was live on it).
#[test]
fn a_replay_follows_membership_at_each_offset_and_skips_what_left_the_session_out() {
    let t = Trimmed::default();
    let mut s = session(7);
    s.live_at(addr("n1", 3), 0, &t);
    s.joined("a", 10); // member of a for 11..
    s.left("a", 20, &t); // .. up to 20
    s.joined("a", 30);
    let room = |r: &str| Target::Room(Arc::from(r));
    let wants = |s: &Session, e: Entry| s.wants(&e, 0);
    assert!(!wants(&s, entry(10, room("a"), None)), "before the join");
    assert!(wants(&s, entry(11, room("a"), None)));
    assert!(
        wants(&s, entry(20, room("a"), None)),
        "sent while a member, left since"
    );
    assert!(
        !wants(&s, entry(25, room("a"), None)),
        "between leave and rejoin"
    );
    assert!(wants(&s, entry(31, room("a"), None)));
    assert!(!wants(&s, entry(31, room("b"), None)), "another room");
    assert!(wants(&s, entry(5, Target::Everyone, None)));
    assert!(wants(&s, entry(5, Target::Session(7), None)));
    assert!(!wants(&s, entry(5, Target::Session(8), None)));
    assert!(!s.wants(&entry(11, room("a"), None), 11), "seen already");
    // Left out: its connection (n1, 3), not another one with the same fd elsewhere.
    let out: Arc<[ConnAddr]> = Arc::from(vec![addr("n1", 3)]);
    assert!(!wants(&s, entry(12, room("a"), Some(out))));
    let other: Arc<[ConnAddr]> = Arc::from(vec![addr("n2", 3), addr("n1", 4)]);
    assert!(wants(&s, entry(12, room("a"), Some(other))));
    // Resumed on another node: the first connection still counts.
    s.live_at(addr("n2", 9), 40, &t);
    let out: Arc<[ConnAddr]> = Arc::from(vec![addr("n1", 3)]);
    assert!(!wants(&s, entry(41, room("a"), Some(out))));
}

/// `evicted` looks only at what the session would be replayed: a trimmed push to a room it
/// was never in (or left before it, or joined after it) does not count.
#[test]
fn evicted_counts_only_the_sessions_own_targets() {
    let room = |r: &str| Target::Room(Arc::from(r));
    let mut t = Trimmed::default();
    let now = Instant::now();
    for off in 1..=100 {
        t.note(&entry(off, room("busy"), None), now);
    }
    let mut s = session(1);
    s.joined("quiet", 0);
    assert!(!s.lost(&t, 0), "another room's traffic");
    s.joined("busy", 100);
    assert!(!s.lost(&t, 0), "joined after what was dropped");
    s.joined("late", 0);
    t.note(&entry(101, room("late"), None), now);
    assert!(s.lost(&t, 50) && !s.lost(&t, 101));
    t.note(&entry(102, Target::Session(2), None), now);
    assert!(!s.lost(&t, 101), "another session's push");
    t.note(&entry(103, Target::Session(1), None), now);
    assert!(s.lost(&t, 101));
    let mut u = session(3);
    t.note(&entry(104, Target::Everyone, None), now);
    assert!(u.lost(&t, 103) && !u.lost(&t, 104));
    // A span the history no longer holds anything of is forgotten, conservatively.
    u.joined("late", 0);
    t.all = 200;
    u.left("late", 150, &t);
    assert!(u.spans.is_empty());
    assert_eq!(u.gone, 101, "it may have missed the dropped push at 101");
    assert!(!u.lost(&t, 104));
    t.everyone = 0;
    assert!(u.lost(&t, 100));
    // Watermarks two windows old are forgotten.
    let window = std::time::Duration::from_secs(1);
    t.sweep(now + 3 * window, window);
    assert!(t.rooms.is_empty() && t.sessions.is_empty());
}

#[test]
fn a_dropped_push_that_left_a_session_out_is_not_missed_by_it_but_by_the_others() {
    let (bob, carol) = (addr("n", 1), addr("n", 2));
    let mut m = RoomMarks::default();
    let now = Instant::now();
    m.note(5, None, now);
    m.note(10, Some(&Arc::from(vec![bob.clone()])), now);
    let bob_out = |_: u64, out: &[ConnAddr]| out.contains(&bob);
    let nobody_out = |_: u64, _: &[ConnAddr]| false;
    assert_eq!(m.reaching(bob_out), 5, "bob was left out of 10");
    assert_eq!(m.reaching(nobody_out), 10);
    // A push that left out someone else, dropped too: counted for everyone (conservative).
    m.note(8, Some(&Arc::from(vec![carol])), now);
    assert_eq!(m.reaching(bob_out), 8);
    assert_eq!(m.any(), 10);
}
