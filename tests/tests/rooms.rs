//! Rooms and pushes of the runtime: many clients joining and sending at once (every member gets
//! every room message exactly once, the sender none of its own), everything gone after they
//! leave, and the room, push and paging API one call at a time.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use swoft_ws::prelude::*;
use swoft_ws::{Delivery, SendError};
use swoft_ws_tests::{QUIET, TestClient, TestServer, init_tracing, wait_until};
use tokio::sync::Barrier;

#[ws_module(path = "/r", controllers = [RController])]
pub struct RModule;

#[derive(Default)]
pub struct RController;

#[derive(Deserialize)]
struct RoomArg {
    room: String,
}

#[derive(Deserialize)]
struct Say {
    room: String,
    seq: u64,
}

#[ws_controller(prefix = "r")]
impl RController {
    #[message_mapping("fd")]
    fn fd(fd: Fd) -> Fd {
        fd
    }

    #[message_mapping("join")]
    fn join(Data(a): Data<RoomArg>, conn: &Connection) -> Result<bool, WsError> {
        Ok(conn.join(&a.room)?)
    }

    #[message_mapping("leave")]
    fn leave(Data(a): Data<RoomArg>, conn: &Connection) -> bool {
        conn.leave(&a.room)
    }

    /// Pushes `r.said {"from": fd, "seq": n}` to the other members; replies with the count.
    #[message_mapping("say")]
    fn say(Data(s): Data<Say>, conn: &Connection) -> Result<usize, WsError> {
        let d = conn
            .server()
            .room(&s.room)
            .except(conn.fd())
            .push("r.said", &json!({"from": conn.fd(), "seq": s.seq}))
            .map_err(|e| WsError::internal(e.to_string()))?;
        Ok(d.delivered)
    }
}

async fn start() -> TestServer {
    init_tracing();
    TestServer::start(App::builder().module::<RModule>().build().unwrap()).await
}

async fn fd_of(c: &mut TestClient) -> Fd {
    let reply = c.request("r.fd", json!(null)).await;
    Fd::new(reply["data"].as_u64().expect("an fd") as u32)
}

const CLIENTS: usize = 50;
const PER_CLIENT: u64 = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_member_gets_every_room_message_exactly_once_under_concurrency() {
    let server = Arc::new(start().await);
    let joined = Arc::new(Barrier::new(CLIENTS));
    let received = Arc::new(Barrier::new(CLIENTS));

    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (server, joined, received) = (server.clone(), joined.clone(), received.clone());
            tokio::spawn(async move {
                let mut c = server.connect("/r").await.unwrap();
                let fd = fd_of(&mut c).await;
                let reply = c.request("r.join", json!({"room": "big"})).await;
                assert_eq!(reply["data"], true);
                joined.wait().await;

                // All at once: K frames without awaiting their replies.
                for seq in 0..PER_CLIENT {
                    c.send_json(&json!({"cmd": "r.say", "data": {"room": "big", "seq": seq}, "id": 1000 + seq}))
                        .await;
                }
                let expected_pushes = (CLIENTS - 1) * PER_CLIENT as usize;
                let mut seen: HashSet<(u64, u64)> = HashSet::new();
                let mut replies = 0;
                // Bounded: exactly the frames we expect (each recv has the kit's timeout).
                for _ in 0..expected_pushes + PER_CLIENT as usize {
                    let v: Value = c.recv_json().await;
                    if v["cmd"] == "r.said" {
                        let key = (v["data"]["from"].as_u64().unwrap(), v["data"]["seq"].as_u64().unwrap());
                        assert!(seen.insert(key), "fd {fd} got {key:?} twice");
                    } else {
                        assert_eq!(v["cmd"], "r.say", "{v}");
                        assert_eq!(v["data"], (CLIENTS - 1) as u64, "delivered to every other member");
                        replies += 1;
                    }
                }
                assert_eq!(replies, PER_CLIENT);
                assert_eq!(seen.len(), expected_pushes);
                received.wait().await;
                c.expect_silence(QUIET).await;
                (c, fd, seen)
            })
        })
        .collect();

    let mut clients = Vec::new();
    for t in tasks {
        clients.push(
            tokio::time::timeout(Duration::from_secs(60), t)
                .await
                .expect("client task in time")
                .unwrap(),
        );
    }
    let fds: HashSet<u64> = clients
        .iter()
        .map(|(_, fd, _)| u64::from(fd.get()))
        .collect();
    assert_eq!(fds.len(), CLIENTS);
    for (_, fd, seen) in &clients {
        let me = u64::from(fd.get());
        let expected: HashSet<(u64, u64)> = fds
            .iter()
            .filter(|f| **f != me)
            .flat_map(|f| (0..PER_CLIENT).map(move |s| (*f, s)))
            .collect();
        assert_eq!(
            seen, &expected,
            "fd {me}: every other member's messages, none of its own"
        );
    }
    assert_eq!(server.server().rooms().size("big"), CLIENTS);

    // Everyone leaves at once, half of them without a close frame.
    let closes: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, (c, _, _))| {
            tokio::spawn(async move {
                if i % 2 == 0 {
                    c.close(1000, "bye").await;
                } else {
                    c.drop_abruptly();
                }
            })
        })
        .collect();
    for t in closes {
        t.await.unwrap();
    }
    assert!(
        wait_until(Duration::from_secs(5), || server.server().rooms().count()
            == 0)
        .await,
        "rooms left: {:?}",
        server.server().rooms().names()
    );
    server.wait_idle().await;
}

#[tokio::test]
async fn room_queries_follow_joins_leaves_and_closes() {
    let server = start().await;
    let s = server.server();
    let mut a = server.connect("/r").await.unwrap();
    let mut b = server.connect("/r").await.unwrap();
    let (fa, fb) = (fd_of(&mut a).await, fd_of(&mut b).await);
    let (ca, cb) = (s.connection(fa).unwrap(), s.connection(fb).unwrap());
    let rooms = s.rooms();

    assert_eq!(rooms.join(&ca, "x"), Ok(true));
    assert_eq!(rooms.join(&ca, "x"), Ok(false), "joining twice is harmless");
    assert_eq!(rooms.join(&cb, "x"), Ok(true));
    assert_eq!(ca.join("y"), Ok(true));
    assert_eq!(rooms.size("x"), 2);
    assert_eq!(rooms.size("y"), 1);
    assert_eq!(rooms.size("nope"), 0);
    assert_eq!(rooms.count(), 2);
    assert_eq!(rooms.names(), [Arc::from("x"), Arc::from("y")]);
    let mut both = vec![fa, fb];
    both.sort();
    assert_eq!(rooms.member_fds("x"), both);
    assert_eq!(
        rooms
            .members("x")
            .iter()
            .map(Connection::fd)
            .collect::<Vec<_>>(),
        both
    );
    assert!(rooms.members("nope").is_empty());
    assert_eq!(rooms.rooms_of(fa), [Arc::from("x"), Arc::from("y")]);
    assert_eq!(ca.rooms(), rooms.rooms_of(fa));
    assert!(rooms.contains("x", fb) && !rooms.contains("y", fb));

    // Leaving: once; an empty room disappears.
    assert!(rooms.leave(fb, "x"));
    assert!(!rooms.leave(fb, "x"));
    assert!(rooms.rooms_of(fb).is_empty());
    assert_eq!(cb.join("z"), Ok(true));
    assert!(cb.leave("z"));
    assert_eq!(rooms.count(), 2, "z went with its last member");
    for room in ["p1", "p2", "y"] {
        assert_eq!(cb.join(room), Ok(true));
    }
    assert_eq!(
        rooms.leave_all(fb),
        [Arc::from("p1"), Arc::from("p2"), Arc::from("y")]
    );
    assert!(rooms.leave_all(fb).is_empty());
    assert_eq!(rooms.size("y"), 1, "a is still in y");
    assert_eq!(rooms.count(), 2);

    // Closing leaves every room.
    a.close(1000, "").await;
    assert!(wait_until(Duration::from_secs(5), || rooms.count() == 0).await);
    assert!(rooms.rooms_of(fa).is_empty());
    assert_eq!(
        ca.join("late"),
        Ok(false),
        "a closed connection cannot join"
    );
    assert_eq!(rooms.count(), 0);

    // Through the client protocol too.
    b.request("r.join", json!({"room": "q"})).await;
    assert_eq!(rooms.rooms_of(fb), [Arc::from("q")]);
    let left = b.request("r.leave", json!({"room": "q"})).await;
    assert_eq!(left["data"], true);
    b.close(1000, "").await;
    server.wait_idle().await;
}

#[tokio::test]
async fn broadcasts_report_what_they_delivered_and_skip_the_excepted() {
    let server = start().await;
    let s = server.server();
    let mut clients = Vec::new();
    let mut fds = Vec::new();
    for _ in 0..3 {
        let mut c = server.connect("/r").await.unwrap();
        fds.push(fd_of(&mut c).await);
        clients.push(c);
    }
    for fd in &fds {
        s.connection(*fd).unwrap().join("all3").unwrap();
    }

    let d = s
        .room("all3")
        .except(fds[0])
        .push("p", &json!({"n": 1}))
        .unwrap();
    assert_eq!(
        d,
        Delivery {
            delivered: 2,
            queue_full: 0,
            closed: 0
        }
    );
    clients[0].expect_silence(QUIET).await;
    for c in &mut clients[1..] {
        assert_eq!(c.expect_push("p").await, json!({"n": 1}));
    }

    let d = s
        .room("all3")
        .except_all([fds[0], fds[1]])
        .push("p", &2)
        .unwrap();
    assert_eq!(d.delivered, 1);
    assert_eq!(clients[2].expect_push("p").await, 2);

    assert_eq!(s.room("nobody").push("p", &0).unwrap(), Delivery::default());

    let dead = Fd::new(15_999_999);
    let d = s.to_fds(&[fds[0], dead, fds[2]]).push("q", &"x").unwrap();
    assert_eq!((d.delivered, d.closed), (2, 1), "{d:?}");
    assert_eq!(clients[0].expect_push("q").await, "x");
    assert_eq!(clients[2].expect_push("q").await, "x");

    assert_eq!(s.module("/r").push("m", &true).unwrap().delivered, 3);
    assert_eq!(s.module("/other").push("m", &true).unwrap().delivered, 0);
    assert_eq!(s.all().push("everyone", &1).unwrap().delivered, 3);
    for c in &mut clients {
        assert_eq!(c.expect_push("m").await, true);
        assert_eq!(c.expect_push("everyone").await, 1);
        c.expect_silence(QUIET).await;
    }
}

#[tokio::test]
async fn pushes_to_a_dead_fd_say_no_such_fd() {
    let server = start().await;
    let s = server.server();
    let mut c = server.connect("/r").await.unwrap();
    let fd = fd_of(&mut c).await;
    assert!(s.is_live(fd));
    assert_eq!(s.connection_count(), 1);
    s.push_to(fd, "hello", &json!({"to": "you"})).unwrap();
    assert_eq!(c.expect_push("hello").await, json!({"to": "you"}));

    c.close(1000, "").await;
    server.wait_idle().await;
    assert!(!s.is_live(fd));
    assert_eq!(s.push_to(fd, "hello", &1), Err(SendError::NoSuchFd(fd)));
    assert_eq!(
        s.send_to(fd, RawMessage::text("x")),
        Err(SendError::NoSuchFd(fd))
    );
    assert_eq!(s.disconnect(fd, 1000, "bye"), Err(SendError::NoSuchFd(fd)));
    let never = Fd::new(12_345_678);
    assert_eq!(s.push_to(never, "x", &1), Err(SendError::NoSuchFd(never)));
}

#[tokio::test]
async fn sessions_page_through_every_connection_in_fd_order() {
    let server = start().await;
    let mut clients = Vec::new();
    let mut fds = Vec::new();
    for _ in 0..7 {
        let mut c = server.connect("/r").await.unwrap();
        fds.push(fd_of(&mut c).await);
        clients.push(c);
    }
    fds.sort();
    let s = server.server();
    let mut paged = Vec::new();
    let mut after = None;
    for _ in 0..10 {
        let page = s.connections_page(after, 3);
        assert!(page.len() <= 3);
        if page.is_empty() {
            break;
        }
        after = page.last().map(Connection::fd);
        paged.extend(page.iter().map(Connection::fd));
    }
    assert_eq!(paged, fds);
    assert!(s.connections_page(Some(*fds.last().unwrap()), 3).is_empty());
    assert_eq!(s.connections_page(None, 100).len(), 7);
    assert!(s.connections_page(None, 0).is_empty());
}
