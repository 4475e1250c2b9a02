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
    /// Handed over from a connection that still looked open (a take-over, not a resume after
    /// a drop).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    o: bool,
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
/// another node can resume it once this one is gone (a drain, a restart).
pub(super) fn save(conn: &Connection, token: &str, s: &mut Session) {
    let Some(cluster) = shared(conn.server()) else {
        return;
    };
    let Some(window) = conn.module().limits.recovery.map(|r| r.window) else {
        return;
    };
    let record = record(s, &s.rooms, s.label.as_deref(), false);
    s.saved = true;
    s.saving = Some(tokio::spawn(cluster.save_session(token, record, window)));
}

/// This node lets go of session `token` (resumed here under a new token, handed over to
/// another node, or ended): if its record was put in the cluster's store, it is deleted there
/// once its save is done, and until then another node's resume of the token is refused (the
/// record must not resume a second session).
pub(super) fn unsave(server: &Server, st: &mut State, token: &str, s: &mut Session) {
    if !std::mem::take(&mut s.saved) {
        return;
    }
    if shared(server).is_none() {
        return;
    }
    st.handing.insert(token.to_owned());
    let saving = s.saving.take();
    tokio::spawn(delete_record(server.clone(), token.to_owned(), saving));
}

/// Deletes the stored record of a session this node let go of (put in `handing`), once its
/// save (if one is under way) is done; then another node's resume of the token is answered
/// as usual again (`unknown`: the token resumed once).
async fn delete_record(
    server: Server,
    token: String,
    saving: Option<tokio::task::JoinHandle<bool>>,
) {
    if let Some(save) = saving {
        let _ = save.await;
    }
    if let Some(cluster) = shared(&server) {
        let _ = tokio::time::timeout(STORE_WAIT, cluster.delete_session(&token)).await;
    }
    if let Some(store) = server.recovery() {
        store.lock().handing.remove(&token);
    }
}

/// A session's record, as the store keeps it and a hand-over sends it (`taken_over`: from a
/// connection that still looked open).
fn record(s: &Session, rooms: &[Arc<str>], label: Option<&str>, taken_over: bool) -> String {
    let r = Record {
        m: s.module.to_owned(),
        i: s.id,
        s: s.start_off,
        l: label.map(str::to_owned),
        r: rooms.iter().map(|r| r.to_string()).collect(),
        o: taken_over,
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
            let record = record(s, &conn.rooms(), conn.label().as_deref(), false);
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

/// During the handshake of a resume of a session this node does not hold: asks the other
/// nodes for it (the node that holds it, live on a half-open connection or dropped, hands it
/// over and forgets it), else takes its record out of the cluster's store (saved there by a
/// node that is gone), and keeps it here as a dropped session (or remembers it as expired),
/// so that the resume goes on as on one node. Waits too (at most 2 s) until this node's copy
/// of the shared log holds the offset the client saw. A session held here is resumed here:
/// this node decides. A store or nodes that cannot be reached leave the session unknown: the
/// resume answers `unknown`.
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
    {
        let st = store.lock();
        if st.sessions.contains_key(&token) || st.handing.contains(&token) {
            return;
        }
    }
    let held = tokio::time::timeout(
        STORE_WAIT,
        cluster.hand_over_session(module.path, &token, off),
    )
    .await
    .unwrap_or(Taken::Unknown);
    let taken = match held {
        Taken::Found(_) | Taken::Gone => held,
        Taken::Expired | Taken::Unknown => {
            let stored = tokio::time::timeout(STORE_WAIT, cluster.take_session(&token))
                .await
                .unwrap_or(Taken::Unknown);
            match stored {
                Taken::Unknown => held,
                _ => stored,
            }
        }
    };
    let deadline = tokio::time::Instant::now() + STORE_WAIT;
    while off.is_some_and(|o| store.lock().next_off < o) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut st = store.lock();
    match taken {
        Taken::Unknown | Taken::Gone => {}
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

/// Another node's resume asks for session `token` of module `path`: if this node holds it,
/// it hands it over and forgets it. A session still live here (the client's old connection
/// looks open: half-open) is over, and that connection is closed with 4000, as on one node.
/// Its record, once it is no longer in the store (a record saved there is deleted first, so
/// that it cannot resume a second time); or that it expired; or that it was handed over
/// moments ago (`Gone`: a second resume of the token is refused); or nothing.
pub(crate) async fn hand_over(
    server: Server,
    path: String,
    token: String,
    off: Option<u64>,
) -> Taken {
    let (record, saved, saving) = {
        let Some(store) = server.recovery() else {
            return Taken::Unknown;
        };
        let mut st = store.lock();
        let now = Instant::now();
        st.prune(now);
        if st.handing.contains(&token) {
            return Taken::Gone;
        }
        if st.expired.contains_key(&token) {
            return Taken::Expired;
        }
        if st.sessions.get(&token).is_none_or(|s| s.module != path) {
            return Taken::Unknown;
        }
        // An offset it never issued to this session: the resume is refused (`unknown`), and
        // the session stays here as it was — its connection too, if it is live.
        let next_off = st.next_off;
        if st
            .sessions
            .get(&token)
            .is_some_and(|s| off.is_some_and(|o| o < s.start_off || o > next_off))
        {
            return Taken::Gone;
        }
        let Some(mut s) = st.sessions.remove(&token) else {
            return Taken::Unknown;
        };
        let was_live = s.live.is_some();
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
        let saved = s.saved;
        if saved {
            st.handing.insert(token.clone());
        }
        let rec = record(&s, &rooms, label.as_deref(), was_live);
        (rec, saved, s.saving.take())
    };
    if saved {
        delete_record(server, token, saving).await;
    }
    Taken::Found(record)
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
        saved: false,
        saving: None,
        taken_over: r.o,
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
