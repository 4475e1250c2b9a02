//! Resumable sessions on one node (`#[ws_module(recovery)]`): every connection of such a
//! module has a session (a token), every push to it carries an offset (`"off"`), and each
//! module keeps a bounded history of the pushes its connections were sent. A client that drops
//! reconnects with `?resume=TOKEN&off=LAST` and gets what it missed, byte for byte.
//!
//! One lock ([`RecoveryStore`]) orders everything: a push to a recovery module takes its
//! offset, is recorded and is queued on its receivers under it, and a resume joins its rooms,
//! reads the history and queues the replay under it; so a push is either in the replay or
//! delivered live, never both, never neither. Only servers with a recovery module have a
//! store; a push to a module without recovery is as before (no offset, no lock).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crate::config::Recovery;
use crate::protocol::Parser;
use crate::protocol::push_json_str;
use crate::runtime::connection::{Connection, ConnectionId};
use crate::runtime::module::ModuleRuntime;
use crate::ws::{Message, close_code};
use shared::Ask;

/// The close reason of a connection whose session a resume took over (code 4000).
pub(crate) const REPLACED: &str = "session resumed by a new connection";

/// Why a resume did not resume: the `reason` of `{"resumed":false}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotResumed {
    /// No session has this token (never had, ended with 1000, or a malformed token/offset).
    Unknown,
    /// The session was dropped longer than the module's window ago.
    Expired,
    /// History no longer holds everything the session missed.
    Evicted,
}

impl NotResumed {
    fn as_str(self) -> &'static str {
        match self {
            NotResumed::Unknown => "unknown",
            NotResumed::Expired => "expired",
            NotResumed::Evicted => "evicted",
        }
    }
}

/// What a push targets, as the history records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Room(Arc<str>),
    /// Every connection of the module (`Server::module`, `Server::all`).
    Everyone,
    /// One session (a push to a connection).
    Session(u64),
}

struct Entry {
    off: u64,
    at: Instant,
    target: Target,
    frame: Message,
    bytes: usize,
}

/// One recovery module's history.
struct Log {
    settings: Recovery,
    parser: Arc<dyn Parser>,
    entries: VecDeque<Entry>,
    bytes: usize,
    /// The highest offset dropped from the history: a resume from below it may have missed it.
    evicted: u64,
    /// Rooms of the module's dropped sessions (with how many): pushes to them are recorded
    /// even when no live connection of the module is in them.
    detached_rooms: HashMap<Arc<str>, usize>,
    /// The module's sessions in the order they were dropped (when, token), so that expiring
    /// them looks only at the oldest: `prune` runs at every open and close, and walking every
    /// session there made 10,000 resumes at once quadratic (~14 µs per resume per 1,000
    /// sessions). An entry whose session was resumed since (its token is gone) or replaced is
    /// skipped when it comes out.
    drops: VecDeque<(Instant, String)>,
}

impl Log {
    fn record(&mut self, off: u64, target: Target, frame: Message, now: Instant) {
        let bytes = crate::ws::outbound::payload_len(&frame);
        self.entries.push_back(Entry {
            off,
            at: now,
            target,
            frame,
            bytes,
        });
        self.bytes += bytes;
        self.trim(now);
    }

    /// Drops what is past the bounds (messages, bytes, age).
    fn trim(&mut self, now: Instant) {
        let s = self.settings;
        while let Some(e) = self.entries.front() {
            let old = now.saturating_duration_since(e.at) > s.window;
            if !(old || self.entries.len() > s.max_messages || self.bytes > s.max_bytes) {
                break;
            }
            self.bytes -= e.bytes;
            self.evicted = self.evicted.max(e.off);
            self.entries.pop_front();
        }
    }
}

/// A session: live on a connection, or dropped and waiting for a resume.
struct Session {
    id: u64,
    module: &'static str,
    /// Offsets up to this one were issued before the session began.
    start_off: u64,
    /// The connection it is live on.
    live: Option<Connection>,
    /// Its rooms and label when it was dropped.
    rooms: Vec<Arc<str>>,
    label: Option<Arc<str>>,
    dropped_at: Option<Instant>,
    /// Its record is in the cluster's store already (a drain saved it).
    saved: bool,
}

#[derive(Default)]
pub(crate) struct State {
    next_off: u64,
    logs: HashMap<&'static str, Log>,
    sessions: HashMap<String, Session>,
    /// Live connection → its session's token.
    by_conn: HashMap<ConnectionId, String>,
    /// Tokens of sessions that expired, and when (kept one more window to answer `expired`).
    expired: HashMap<String, Instant>,
    /// The same, in the order they expired, to forget the oldest without a walk.
    expiries: VecDeque<(Instant, String)>,
}

/// Every recovery module's sessions and history, behind one lock (see the module docs).
pub(crate) struct RecoveryStore {
    state: Mutex<State>,
}

impl RecoveryStore {
    /// A store for the recovery modules among `modules`; `None` if there is none.
    pub(crate) fn new(modules: &[Arc<ModuleRuntime>]) -> Option<Self> {
        let mut state = State::default();
        for m in modules {
            if let Some(settings) = m.limits.recovery {
                let log = Log {
                    settings,
                    parser: m.parser.clone(),
                    entries: VecDeque::new(),
                    bytes: 0,
                    evicted: 0,
                    detached_rooms: HashMap::new(),
                    drops: VecDeque::new(),
                };
                state.logs.insert(m.path, log);
            }
        }
        (!state.logs.is_empty()).then(|| RecoveryStore {
            state: Mutex::new(state),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// (dropped sessions, bytes of history), for `Server::stats`.
    pub(crate) fn stats(&self) -> (usize, usize) {
        let s = self.lock();
        let dropped = s.sessions.values().filter(|x| x.live.is_none()).count();
        (dropped, s.logs.values().map(|l| l.bytes).sum())
    }
}

impl State {
    /// The next offset.
    pub(crate) fn next_off(&mut self) -> u64 {
        self.next_off += 1;
        self.next_off
    }

    /// Whether `module` keeps history.
    pub(crate) fn has(&self, module: &str) -> bool {
        self.logs.contains_key(module)
    }

    /// Records a push to `module`'s connections (already encoded with its offset).
    pub(crate) fn record(&mut self, module: &str, off: u64, target: Target, frame: Message) {
        if let Some(log) = self.logs.get_mut(module) {
            log.record(off, target, frame, Instant::now());
        }
    }

    /// The session of a live connection, as a push target.
    pub(crate) fn session_of(&self, conn: ConnectionId) -> Option<Target> {
        let token = self.by_conn.get(&conn)?;
        Some(Target::Session(self.sessions.get(token)?.id))
    }

    /// The recovery modules (other than those in `done`) that must record a push to
    /// `target` although none of their live connections received it: those with dropped
    /// sessions it would have reached. Each with its parser, to encode the frame.
    pub(crate) fn unreached(
        &self,
        target: &Target,
        module: Option<&str>,
        done: &[&'static str],
        all: bool,
    ) -> Vec<(&'static str, Arc<dyn Parser>)> {
        self.logs
            .iter()
            .filter(|(path, _)| !done.contains(path) && module.is_none_or(|m| m == **path))
            .filter(|(_, log)| {
                all || match target {
                    Target::Room(r) => log.detached_rooms.contains_key(r),
                    Target::Everyone => !log.detached_rooms.is_empty() || self.any_dropped(),
                    Target::Session(_) => false,
                }
            })
            .map(|(path, log)| (*path, log.parser.clone()))
            .collect()
    }

    fn any_dropped(&self) -> bool {
        self.sessions.values().any(|s| s.live.is_none())
    }

    /// Drops the sessions dropped longer than their window ago (remembered as expired for one
    /// more window), and forgets those. Looks only at what is old enough to go (each module's
    /// oldest drops, the oldest expiries): the lock is held at every open and close.
    fn prune(&mut self, now: Instant) {
        let State {
            logs,
            sessions,
            expired,
            expiries,
            ..
        } = self;
        for log in logs.values_mut() {
            let window = log.settings.window;
            while log
                .drops
                .front()
                .is_some_and(|(at, _)| now.saturating_duration_since(*at) > window)
            {
                let Some((at, token)) = log.drops.pop_front() else {
                    break;
                };
                // Still dropped since then (not resumed, not replaced by a later drop).
                if sessions
                    .get(&token)
                    .is_some_and(|s| s.dropped_at == Some(at))
                {
                    if let Some(s) = sessions.remove(&token) {
                        unindex(log, &s.rooms);
                    }
                    expired.insert(token.clone(), now);
                    expiries.push_back((now, token));
                }
            }
            log.trim(now);
        }
        let longest = logs
            .values()
            .map(|l| l.settings.window)
            .max()
            .unwrap_or_default();
        while expiries
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > longest)
        {
            let Some((at, token)) = expiries.pop_front() else {
                break;
            };
            // Unless it was answered (`resume` takes it out) or expired again since.
            if expired.get(&token) == Some(&at) {
                expired.remove(&token);
            }
        }
    }

    /// Remembers `token` as expired at `at` (for one more window).
    pub(crate) fn expire(&mut self, token: String, at: Instant) {
        self.expired.insert(token.clone(), at);
        self.expiries.push_back((at, token));
    }

    /// Puts a session dropped at `at` in its module's drop order (for `prune`).
    pub(crate) fn dropped(&mut self, module: &str, token: &str, at: Instant) {
        if let Some(log) = self.logs.get_mut(module) {
            log.drops.push_back((at, token.to_owned()));
        }
    }
}

/// Takes a dropped session's rooms off its module's index.
fn unindex(log: &mut Log, rooms: &[Arc<str>]) {
    for r in rooms {
        if let Some(n) = log.detached_rooms.get_mut(r) {
            *n -= 1;
            if *n == 0 {
                log.detached_rooms.remove(r);
            }
        }
    }
}

/// 128 random bits as 32 hex digits.
pub(crate) fn new_token() -> String {
    let mut b = [0u8; 16];
    if let Err(e) = getrandom::fill(&mut b) {
        // The OS's random source failing is not something a connection can work around.
        panic!("no random bytes for a session token: {e}");
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The `$session` frame: a fresh session (`None`), a resume (`Ok(replayed)`), or a resume
/// that could not be (`Err(reason)`).
fn session_frame(token: &str, outcome: Option<Result<usize, NotResumed>>) -> Message {
    let mut out = String::with_capacity(120);
    out.push_str(r#"{"cmd":"$session","data":{"token":"#);
    push_json_str(&mut out, token);
    match outcome {
        Some(Ok(k)) => out.push_str(&format!(r#","resumed":true,"replayed":{k}}}}}"#)),
        None => out.push_str(r#","resumed":false}}"#),
        Some(Err(r)) => {
            out.push_str(r#","resumed":false,"reason":"#);
            push_json_str(&mut out, r.as_str());
            out.push_str("}}");
        }
    }
    Message::Text(out.as_str().into())
}

/// A push under way: the store's lock, the push's offset (taken at its first receiver of a
/// recovery module) and each recovery module's frame (encoded once per module).
pub(crate) struct Pushing<'g> {
    st: MutexGuard<'g, State>,
    off: Option<(u64, String)>,
    /// What the history records; `None`: each receiver's session (a push to connections).
    target: Option<Target>,
    /// A push to one module's connections.
    module: Option<&'g str>,
    frames: Vec<(&'static str, Message)>,
    /// Delivered from the cluster's shared log: every recovery module records it.
    shared: bool,
}

impl<'g> Pushing<'g> {
    pub(crate) fn new(
        store: &'g RecoveryStore,
        target: Option<Target>,
        module: Option<&'g str>,
    ) -> Self {
        Pushing {
            st: store.lock(),
            off: None,
            target,
            module,
            frames: Vec::new(),
            shared: false,
        }
    }

    /// A push from the cluster's shared log, at the offset the log gave it.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // only the Redis shared log calls it
    pub(crate) fn at(
        store: &'g RecoveryStore,
        target: Option<Target>,
        module: Option<&'g str>,
        off: u64,
    ) -> Self {
        let mut p = Pushing::new(store, target, module);
        p.st.next_off = p.st.next_off.max(off);
        p.off = Some((off, off.to_string()));
        p.shared = true;
        p
    }

    fn off(&mut self) -> &str {
        if self.off.is_none() {
            let n = self.st.next_off();
            self.off = Some((n, n.to_string()));
        }
        self.off.as_ref().map_or("", |(_, s)| s)
    }

    /// The frame for `conn` (with the push's offset, recorded once per module), or `None` if
    /// its module has no recovery.
    pub(crate) fn frame(
        &mut self,
        conn: &Connection,
        command: &str,
        data: &str,
        ext: Option<&str>,
    ) -> Option<Message> {
        let module = conn.module();
        if !self.st.has(module.path) {
            return None;
        }
        let known = self
            .frames
            .iter()
            .find(|(p, _)| *p == module.path)
            .map(|(_, m)| m.clone());
        let frame = match known {
            Some(m) if self.target.is_some() => return Some(m),
            Some(m) => m,
            None => {
                let off = self.off().to_owned();
                let m = module
                    .parser
                    .encode_push_at(command, data, ext, &off)
                    .into_ws();
                self.frames.push((module.path, m.clone()));
                m
            }
        };
        let target = match &self.target {
            Some(t) => Some(t.clone()),
            None => self.st.session_of(conn.id()),
        };
        if let (Some(t), Some((off, _))) = (target, &self.off) {
            let off = *off;
            self.st.record(module.path, off, t, frame.clone());
        }
        Some(frame)
    }

    /// Records the push for the recovery modules none of whose live connections got it but
    /// whose dropped sessions it would have reached; then releases the lock.
    pub(crate) fn finish(mut self, command: &str, data: &str) {
        let Some(target) = self.target.clone() else {
            return;
        };
        let done: Vec<&'static str> = self.frames.iter().map(|(p, _)| *p).collect();
        for (path, parser) in self.st.unreached(&target, self.module, &done, self.shared) {
            let off = self.off().to_owned();
            let frame = parser.encode_push_at(command, data, None, &off).into_ws();
            let n = self.off.as_ref().map_or(0, |(n, _)| *n);
            self.st.record(path, n, target.clone(), frame);
        }
    }
}

/// Starts the session of a new connection of a recovery module, or resumes one: queues the
/// `$session` frame (the connection's first), and for a resume restores its rooms and label
/// and queues the replay. Called before the connection is among the server's sessions.
pub(crate) fn open(conn: &Connection) {
    let Some(store) = conn.server().recovery() else {
        return;
    };
    let path = conn.module_path();
    let mut st = store.lock();
    if !st.has(path) {
        return;
    }
    let now = Instant::now();
    st.prune(now);
    let mut resumed = None;
    let outcome = match shared::ask(conn.handshake()) {
        Ask::Fresh => None,
        Ask::Malformed(why) => {
            tracing::debug!(fd = %conn.fd(), why, "resume refused: answering `unknown`");
            crate::runtime::metrics::resume(path, "malformed");
            Some(Err(NotResumed::Unknown))
        }
        Ask::Resume { token, off } => match st.resume(conn, &token, off, now) {
            Ok((session, frames)) => {
                let k = frames.len();
                resumed = Some((session, frames));
                Some(Ok(k))
            }
            Err(r) => {
                tracing::debug!(fd = %conn.fd(), reason = r.as_str(), "resume refused");
                Some(Err(r))
            }
        },
    };
    if let Some(o) = &outcome {
        let label = o.map_or_else(NotResumed::as_str, |_| "resumed");
        crate::runtime::metrics::resume(path, label);
    }
    let token = new_token();
    let (session, replay) = resumed.unwrap_or_else(|| {
        let session = Session {
            id: shared::session_id(),
            module: conn.module().path,
            start_off: st.next_off,
            live: Some(conn.clone()),
            rooms: Vec::new(),
            label: None,
            dropped_at: None,
            saved: false,
        };
        (session, Vec::new())
    });
    st.sessions.insert(token.clone(), session);
    st.by_conn.insert(conn.id(), token.clone());
    // Under the lock: no push to its rooms comes between the replay and the live pushes.
    let _ = conn.send_ws(session_frame(&token, outcome));
    for f in replay {
        let _ = conn.send_ws(f);
    }
}

impl State {
    /// Resumes session `token` on `conn` (from offset `off`): the session (taken out of the
    /// map, live on `conn`, its rooms and label restored) and the frames it missed, in order;
    /// or why not. Either way the old session is over: a connection still live on it is
    /// closed (4000).
    fn resume(
        &mut self,
        conn: &Connection,
        token: &str,
        off: Option<u64>,
        now: Instant,
    ) -> Result<(Session, Vec<Message>), NotResumed> {
        if self.expired.remove(token).is_some() {
            return Err(NotResumed::Expired);
        }
        let path = conn.module().path;
        match self.sessions.get(token) {
            Some(s) if s.module == path => {}
            _ => return Err(NotResumed::Unknown),
        }
        let Some(mut s) = self.sessions.remove(token) else {
            return Err(NotResumed::Unknown);
        };
        let log = self.logs.get_mut(path).ok_or(NotResumed::Unknown)?;
        // A session still live on a connection (half-open): that connection is over.
        let (rooms, label) = match s.live.take() {
            Some(old) => {
                self.by_conn.remove(&old.id());
                let taken = (old.rooms(), old.label());
                tracing::info!(fd = %old.fd(), "closing: {REPLACED} (4000)");
                old.force_close(close_code::SESSION_RESUMED, REPLACED);
                taken
            }
            None => {
                unindex(log, &s.rooms);
                (std::mem::take(&mut s.rooms), s.label.take())
            }
        };
        if s.dropped_at
            .is_some_and(|at| now.saturating_duration_since(at) > log.settings.window)
        {
            return Err(NotResumed::Expired);
        }
        let from = off.unwrap_or(s.start_off).max(s.start_off);
        if from > self.next_off {
            return Err(NotResumed::Unknown);
        }
        if log.evicted > from {
            return Err(NotResumed::Evicted);
        }
        s.live = Some(conn.clone());
        s.dropped_at = None;
        for r in &rooms {
            if let Err(e) = conn.join(r) {
                tracing::warn!(fd = %conn.fd(), room = %r, error = %e, "resume: room not rejoined");
            }
        }
        if let Some(l) = &label {
            conn.set_label(l);
        }
        let id = s.id;
        let frames = log
            .entries
            .iter()
            .filter(|e| e.off > from)
            .filter(|e| match &e.target {
                Target::Room(r) => rooms.contains(r),
                Target::Everyone => true,
                Target::Session(x) => *x == id,
            })
            .map(|e| e.frame.clone())
            .collect();
        Ok((s, frames))
    }
}

/// The end of a connection of a recovery module: a close with 1000 ends its session; any
/// other end keeps it, dropped, for the module's window (with its rooms and label, read here:
/// call it before the connection leaves its rooms). Does nothing for a connection whose
/// session a resume took over, or a second time.
pub(crate) fn closed(conn: &Connection, code: Option<u16>) {
    let Some(store) = conn.server().recovery() else {
        return;
    };
    let mut st = store.lock();
    let Some(token) = st.by_conn.remove(&conn.id()) else {
        return;
    };
    let now = Instant::now();
    if code == Some(close_code::NORMAL) {
        st.sessions.remove(&token);
    } else if let Some(s) = st.sessions.get_mut(&token) {
        s.live = None;
        s.dropped_at = Some(now);
        s.rooms = conn.rooms();
        s.label = conn.label();
        if !std::mem::replace(&mut s.saved, true) {
            shared::save(conn, &token, s);
        }
        let rooms = s.rooms.clone();
        if let Some(log) = st.logs.get_mut(conn.module().path) {
            for r in rooms {
                *log.detached_rooms.entry(r).or_default() += 1;
            }
        }
        st.dropped(conn.module().path, &token, now);
    }
    st.prune(now);
}

pub(crate) mod shared;
#[cfg(test)]
mod tests;
