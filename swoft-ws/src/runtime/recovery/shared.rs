//! Resumable sessions across the nodes of a cluster, the runtime's side: what a resume asks
//! for, the record of a dropped session that the cluster's store keeps (so that any node can
//! resume it), and the pushes the cluster's shared log delivers (see `cluster/history.rs`).
//!
//! Without a cluster, or with an adapter that has no shared log, nothing here waits for the
//! network: `save` and `prefetch` return at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{OPEN, Session, Span, State, Target, unindex};
use crate::handshake::HandshakeRequest;
use crate::runtime::connection::Connection;
use crate::runtime::module::ModuleRuntime;
use crate::runtime::remote::{ConnAddr, NodeId, Remote, Taken};
use crate::runtime::server::Server;

/// How long a resume waits for the store's answer, and for this node's copy of the shared log
/// to reach the offset the client saw.
const STORE_WAIT: Duration = Duration::from_secs(2);

/// What a resume asked for, read off the handshake's query.
pub(super) enum Ask {
    Fresh,
    Resume { token: String, off: Option<u64> },
    Malformed(&'static str),
}

pub(super) fn ask(req: &HandshakeRequest) -> Ask {
    let Some(token) = req.query_param("resume") else {
        return Ask::Fresh;
    };
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ask::Malformed("resume token is not 32 hex digits");
    }
    // Plain decimal digits (no sign, no space): anything else is no offset this server
    // issued. Whether it is one (not above the latest, not below the session's start) is
    // checked with the session.
    let off = match req.query_param("off") {
        None => None,
        Some(o) if o.is_empty() => None,
        Some(o) if !o.bytes().all(|b| b.is_ascii_digit()) => {
            return Ask::Malformed("off is not an offset this server issued");
        }
        Some(o) => match o.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => return Ask::Malformed("off is not an offset this server issued"),
        },
    };
    Ask::Resume {
        token: token.to_ascii_lowercase(),
        off,
    }
}

/// A session id, unique across the cluster (64 random bits).
pub(super) fn session_id() -> u64 {
    let mut b = [0u8; 8];
    if let Err(e) = getrandom::fill(&mut b) {
        panic!("no random bytes for a session id: {e}");
    }
    u64::from_le_bytes(b)
}

/// The record of a dropped session in the cluster's store (JSON).
#[derive(Serialize, Deserialize)]
struct Record {
    /// Its module's path.
    m: String,
    /// Its id (pushes to its connection are logged with it).
    i: u64,
    /// Offsets up to this one were issued before it began.
    s: u64,
    l: Option<String>,
    r: Vec<String>,
    /// Its memberships: (room, from, to), `to` [`OPEN`] while a member. A record without
    /// them (an older node's) counts `r` as rooms it was in since it began.
    #[serde(default)]
    j: Option<Vec<(String, u64, u64)>>,
    /// The connections it was live on: (node, fd, from offset).
    #[serde(default)]
    c: Vec<(String, u32, u64)>,
    /// A resume from before it is `evicted`.
    #[serde(default)]
    g: u64,
}

/// The cluster, when pushes to resumable sessions go through its shared log.
pub(crate) fn shared(server: &Server) -> Option<&Arc<dyn Remote>> {
    server.recovery()?;
    server.rooms().cluster().filter(|c| c.shared_log())
}

/// Keeps a dropped session's record in the cluster's store (in the background), so that
/// another node can resume it.
pub(super) fn save(conn: &Connection, token: &str, s: &Session) {
    let Some(cluster) = shared(conn.server()) else {
        return;
    };
    let Some(window) = conn.module().limits.recovery.map(|r| r.window) else {
        return;
    };
    let record = record(s, &s.rooms, s.label.as_deref());
    tokio::spawn(cluster.save_session(token, record, window));
}

fn record(s: &Session, rooms: &[Arc<str>], label: Option<&str>) -> String {
    let r = Record {
        m: s.module.to_owned(),
        i: s.id,
        s: s.start_off,
        l: label.map(str::to_owned),
        r: rooms.iter().map(|r| r.to_string()).collect(),
        j: Some(
            s.spans
                .iter()
                .map(|x| (x.room.to_string(), x.from, x.to))
                .collect(),
        ),
        c: s.addrs
            .iter()
            .map(|(a, from)| (a.node.as_str().to_owned(), a.fd.get(), *from))
            .collect(),
        g: s.gone,
    };
    serde_json::to_string(&r).unwrap_or_default()
}

/// Before a drain closes its connections: saves the record of every live session in the
/// cluster's store, and waits (at most 2 s) until the store has them all, so that a client
/// that reconnects to another node at once finds its session there.
pub(crate) async fn save_all(server: &Server) {
    let Some(cluster) = shared(server) else {
        return;
    };
    let Some(store) = server.recovery() else {
        return;
    };
    let mut saves = Vec::new();
    {
        let mut st = store.lock();
        let st = &mut *st;
        for (token, s) in st.sessions.iter_mut() {
            let Some(conn) = s.live.as_ref() else {
                continue;
            };
            let Some(window) = conn.module().limits.recovery.map(|r| r.window) else {
                continue;
            };
            let record = record(s, &conn.rooms(), conn.label().as_deref());
            s.saved = true;
            saves.push(cluster.save_session(token, record, window));
        }
    }
    let n = saves.len();
    let all = futures_util::future::join_all(saves);
    match tokio::time::timeout(STORE_WAIT, all).await {
        Ok(done) => {
            let failed = done.iter().filter(|ok| !**ok).count();
            tracing::info!(
                sessions = n,
                failed,
                "drain: sessions saved for a resume on another node"
            );
        }
        Err(_) => tracing::warn!(
            sessions = n,
            "drain: the store did not take every session in time"
        ),
    }
}

/// During the handshake of a resume: if this node does not know the session, takes its
/// record out of the cluster's store and keeps it here as a dropped session (or remembers
/// it as expired), so that the resume goes on as on one node. Waits too (at most 2 s) until
/// this node's copy of the shared log holds the offset the client saw. A store that cannot
/// be reached leaves the session unknown: the resume answers `unknown`.
pub(crate) async fn prefetch(server: &Server, module: &ModuleRuntime, req: &HandshakeRequest) {
    let Some(cluster) = shared(server) else {
        return;
    };
    let Some(store) = server.recovery() else {
        return;
    };
    let Ask::Resume { token, off } = ask(req) else {
        return;
    };
    // Known here: live on this node (half-open), or dropped here; the store says whether
    // another node resumed it since (then it is gone from the store, and over here too).
    let here = store
        .lock()
        .sessions
        .get(&token)
        .map(|s| s.live.is_none() && s.saved);
    if here == Some(false) {
        return;
    }
    let mut taken = tokio::time::timeout(STORE_WAIT, cluster.take_session(&token))
        .await
        .unwrap_or(Taken::Unknown);
    if here.is_none() && taken == Taken::Unknown {
        // Not in the store: live on another node (half-open), or dropped there and not
        // saved (the store was down). That node hands it over.
        taken = tokio::time::timeout(STORE_WAIT, cluster.hand_over_session(module.path, &token))
            .await
            .unwrap_or(Taken::Unknown);
    }
    if here == Some(true) {
        if !matches!(taken, Taken::Found(_)) {
            let mut st = store.lock();
            if let Some(old) = st.sessions.remove(&token) {
                if let Some(log) = st.logs.get_mut(old.module) {
                    unindex(log, &old.rooms);
                }
            }
        }
        return;
    }
    let deadline = tokio::time::Instant::now() + STORE_WAIT;
    while off.is_some_and(|o| store.lock().next_off < o) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut st = store.lock();
    match taken {
        Taken::Unknown => {}
        Taken::Expired => st.expire(token, Instant::now()),
        Taken::Found(json) => match serde_json::from_str::<Record>(&json) {
            Ok(r) if r.m == module.path => adopt(&mut st, module.path, token, r),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "resume: a session record in the store is not valid; answering `unknown`");
                crate::runtime::metrics::resume(module.path, "malformed");
            }
        },
    }
}

/// Another node's resume asks for session `token` of module `path` (it was not in the
/// store): if this node holds it, it hands it over and forgets it. A session still live here
/// (the client's old connection looks open: half-open) is over, and that connection is
/// closed with 4000, as on one node. Answers its record, or that it expired, or nothing.
pub(crate) fn hand_over(server: &Server, path: &str, token: &str) -> Taken {
    let Some(store) = server.recovery() else {
        return Taken::Unknown;
    };
    let mut st = store.lock();
    let now = Instant::now();
    st.prune(now);
    if st.expired.contains_key(token) {
        return Taken::Expired;
    }
    if st.sessions.get(token).is_none_or(|s| s.module != path) {
        return Taken::Unknown;
    }
    let Some(mut s) = st.sessions.remove(token) else {
        return Taken::Unknown;
    };
    let (rooms, label) = match s.live.take() {
        Some(old) => {
            st.by_conn.remove(&old.id());
            let taken = (old.rooms(), old.label());
            tracing::info!(fd = %old.fd(), "closing: {} (4000), on another node", super::REPLACED);
            old.force_close(crate::ws::close_code::SESSION_RESUMED, super::REPLACED);
            taken
        }
        None => {
            if let Some(log) = st.logs.get_mut(s.module) {
                unindex(log, &s.rooms);
            }
            (std::mem::take(&mut s.rooms), s.label.take())
        }
    };
    Taken::Found(record(&s, &rooms, label.as_deref()))
}

/// Keeps a session from the store as dropped here.
fn adopt(st: &mut State, path: &'static str, token: String, r: Record) {
    let rooms: Vec<Arc<str>> = r.r.iter().map(|x| Arc::from(x.as_str())).collect();
    if let Some(log) = st.logs.get_mut(path) {
        for room in &rooms {
            *log.detached_rooms.entry(room.clone()).or_default() += 1;
        }
    }
    let now = Instant::now();
    st.dropped(path, &token, now);
    let spans = match r.j {
        Some(j) => j
            .into_iter()
            .map(|(room, from, to)| Span {
                room: Arc::from(room.as_str()),
                from,
                to,
            })
            .collect(),
        None => rooms
            .iter()
            .map(|room| Span {
                room: room.clone(),
                from: r.s,
                to: OPEN,
            })
            .collect(),
    };
    let addrs =
        r.c.into_iter()
            .map(|(node, fd, from)| {
                let addr = ConnAddr {
                    node: NodeId::from_wire(&node),
                    fd: fd.into(),
                };
                (addr, from)
            })
            .collect();
    let session = Session {
        id: r.i,
        module: path,
        start_off: r.s,
        live: None,
        rooms,
        label: r.l.map(|l| Arc::from(l.as_str())),
        dropped_at: Some(now),
        saved: true,
        spans,
        addrs,
        gone: r.g,
    };
    if let Some(old) = st.sessions.insert(token, session) {
        if let Some(log) = st.logs.get_mut(path) {
            unindex(log, &old.rooms);
        }
    }
}

/// The session a push to `conn` is for, as the shared log records it.
pub(crate) fn session_of(server: &Server, conn: &Connection) -> u64 {
    let Some(store) = server.recovery() else {
        return 0;
    };
    match store.lock().session_of(conn.id()) {
        Some(Target::Session(id)) => id,
        _ => 0,
    }
}

/// This node's copy of the shared log starts at offset `off`: what came before it is not
/// here (a resume from before it answers `evicted`).
#[cfg_attr(not(feature = "redis"), allow(dead_code))] // only the Redis shared log calls it
pub(crate) fn log_starts_at(server: &Server, off: u64) {
    let Some(store) = server.recovery() else {
        return;
    };
    let mut st = store.lock();
    st.next_off = st.next_off.max(off);
    for log in st.logs.values_mut() {
        log.trimmed.floor = log.trimmed.floor.max(off);
    }
}
