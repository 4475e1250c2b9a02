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
use crate::runtime::connection::{Connection, ConnectionId, SessionEnd, SessionStart};
use crate::runtime::module::ModuleRuntime;
use crate::runtime::remote::ConnAddr;
use crate::ws::{Message, close_code};
use shared::Ask;

/// The close reason of a connection whose session a resume took over (code 4000).
pub(crate) const REPLACED: &str = "session resumed by a new connection";

/// Why a resume did not resume: the `reason` of `{"resumed":false}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotResumed {
    /// No session has this token (never had, ended with 1000, or a malformed token), or the
    /// offset is not one this server issued to it (not plain digits, above the latest offset,
    /// below the session's start).
    Unknown,
    /// The session was dropped longer than the module's window ago.
    Expired,
    /// History no longer holds something the session would be replayed.
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
    /// The connections the push left out (`Broadcast::except`), wherever they were: a
    /// session that was live on one of them is not replayed it.
    except: Option<Arc<[ConnAddr]>>,
    frame: Message,
    bytes: usize,
}

/// A session's membership of a room: a member for the offsets in `(from, to]` (`to` is
/// [`OPEN`] while it still is). A join when the last offset issued is X makes it a member from
/// X + 1 on; a leave when it is Y, up to Y.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) room: Arc<str>,
    pub(crate) from: u64,
    pub(crate) to: u64,
}

/// The end of a span that has not ended.
pub(crate) const OPEN: u64 = u64::MAX;
/// Closed spans a session keeps at most (those older than the history go first).
const MAX_SPANS: usize = 64;
/// Connections a session remembers having been live on (for `except`), at most.
const MAX_ADDRS: usize = 8;

/// What a module's history dropped, per target, so that a resume is `evicted` only when
/// something it would be replayed is gone (a busy room does not evict the members of others).
#[derive(Default)]
struct Trimmed {
    /// The highest offset dropped, whatever its target: the history holds nothing up to it.
    all: u64,
    /// Nothing before it can be replayed (this node's copy of the cluster's shared log starts
    /// there).
    floor: u64,
    /// The highest offset dropped of a push to the whole module.
    everyone: u64,
    /// Per room and per session: the highest offset dropped, and when (forgotten two windows
    /// later: by then no session that could miss it can still resume).
    rooms: HashMap<Arc<str>, RoomMarks>,
    sessions: HashMap<u64, (u64, Instant)>,
    /// When the watermarks were last swept for old ones.
    swept: Option<Instant>,
}

/// What the history dropped of one room's pushes: enough to tell whether a session missed
/// one it was not left out of (a room's own notices usually leave their subject out: its
/// `room.left` when it drops must not make its resume `evicted`).
#[derive(Debug, Clone, Default)]
struct RoomMarks {
    /// The highest offset dropped of a push that left nobody out.
    plain: u64,
    /// The highest offset dropped of a push that left someone out, and whom.
    top: Option<(u64, Arc<[ConnAddr]>)>,
    /// The highest offset dropped of a push that left out others than `top`'s (conservative:
    /// counted whoever it left out).
    next: u64,
    /// When a mark was last raised.
    at: Option<Instant>,
}

impl RoomMarks {
    fn note(&mut self, off: u64, except: Option<&Arc<[ConnAddr]>>, now: Instant) {
        self.at = Some(now);
        let Some(out) = except else {
            self.plain = self.plain.max(off);
            return;
        };
        match &mut self.top {
            None => self.top = Some((off, out.clone())),
            Some((o, set)) if set[..] == out[..] => *o = (*o).max(off),
            Some((o, set)) => {
                if off > *o {
                    self.next = self.next.max(*o);
                    *o = off;
                    *set = out.clone();
                } else {
                    self.next = self.next.max(off);
                }
            }
        }
    }

    /// The highest offset dropped of any push.
    fn any(&self) -> u64 {
        self.plain
            .max(self.next)
            .max(self.top.as_ref().map_or(0, |(o, _)| *o))
    }

    /// The highest offset dropped of a push a session was not left out of, `left_out` telling
    /// whether a push at an offset leaving out these connections left the session out.
    fn reaching(&self, left_out: impl Fn(u64, &[ConnAddr]) -> bool) -> u64 {
        let top = match &self.top {
            Some((o, set)) if !left_out(*o, set) => *o,
            _ => 0,
        };
        self.plain.max(self.next).max(top)
    }
}

impl Trimmed {
    fn note(&mut self, e: &Entry, now: Instant) {
        self.all = self.all.max(e.off);
        match &e.target {
            Target::Everyone => self.everyone = self.everyone.max(e.off),
            Target::Room(r) => {
                let marks = match self.rooms.get_mut(r) {
                    Some(m) => m,
                    None => self.rooms.entry(r.clone()).or_default(),
                };
                marks.note(e.off, e.except.as_ref(), now);
            }
            Target::Session(id) => {
                let w = self.sessions.entry(*id).or_insert((0, now));
                *w = (w.0.max(e.off), now);
            }
        }
    }

    /// Forgets the watermarks not raised for two windows (at most once a window).
    fn sweep(&mut self, now: Instant, window: std::time::Duration) {
        if self
            .swept
            .is_some_and(|at| now.saturating_duration_since(at) <= window)
        {
            return;
        }
        self.swept = Some(now);
        let keep = |at: &Instant| now.saturating_duration_since(*at) <= 2 * window;
        self.rooms.retain(|_, m| m.at.is_some_and(|at| keep(&at)));
        self.sessions.retain(|_, (_, at)| keep(at));
    }
}

/// One recovery module's history.
struct Log {
    settings: Recovery,
    parser: Arc<dyn Parser>,
    entries: VecDeque<Entry>,
    bytes: usize,
    /// What was dropped from the history, per target.
    trimmed: Trimmed,
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
    fn record(
        &mut self,
        off: u64,
        target: Target,
        except: Option<Arc<[ConnAddr]>>,
        frame: Message,
        now: Instant,
    ) {
        let bytes = crate::ws::outbound::payload_len(&frame);
        self.entries.push_back(Entry {
            off,
            at: now,
            target,
            except,
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
            self.trimmed.note(e, now);
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
    /// Its record was put in the cluster's store (when it dropped, or by a drain): when this
    /// node lets go of it (resumed here, handed over, ended), the record is deleted.
    saved: bool,
    /// The save of its record, while it may still be under way.
    saving: Option<tokio::task::JoinHandle<bool>>,
    /// Handed over by another node from a connection that still looked open there (closed
    /// 4000): its resume here is a take-over ([`SessionStart::TookOver`]).
    taken_over: bool,
    /// Its memberships, as offset intervals (a replay includes a push to a room iff it was a
    /// member when the push was sent): open ones, and the closed ones the history may still
    /// hold (at most [`MAX_SPANS`]).
    spans: Vec<Span>,
    /// The connections it was live on (node, fd), each with the last offset issued when it
    /// began: a push that left one of them out after that is not replayed to it. The latest
    /// [`MAX_ADDRS`].
    addrs: Vec<(ConnAddr, u64)>,
    /// A resume from before this offset is `evicted`: spans or connections were forgotten
    /// while the history may have held something they decide.
    gone: u64,
}

impl Session {
    /// Whether a replay from offset `from` includes `e`.
    fn wants(&self, e: &Entry, from: u64) -> bool {
        if e.off <= from {
            return false;
        }
        let target = match &e.target {
            Target::Room(r) => self
                .spans
                .iter()
                .any(|s| s.room == *r && s.from < e.off && e.off <= s.to),
            Target::Everyone => true,
            Target::Session(x) => *x == self.id,
        };
        target
            && !e
                .except
                .as_ref()
                .is_some_and(|out| self.left_out(e.off, out))
    }

    /// Whether a push at offset `off` that left out the connections `out` left this session
    /// out (one of them was its connection then).
    fn left_out(&self, off: u64, out: &[ConnAddr]) -> bool {
        self.addrs
            .iter()
            .any(|(a, since)| *since < off && out.contains(a))
    }

    /// Whether the history dropped something a replay from `from` would include (or may
    /// have: conservative, never a partial replay).
    fn lost(&self, t: &Trimmed, from: u64) -> bool {
        if t.floor > from || t.everyone > from || self.gone > from {
            return true;
        }
        if t.sessions.get(&self.id).is_some_and(|(w, _)| *w > from) {
            return true;
        }
        self.spans.iter().any(|s| {
            s.to > from
                && t.rooms.get(&s.room).is_some_and(|m| {
                    m.reaching(|off, out| self.left_out(off, out)) > from.max(s.from)
                })
        })
    }

    /// Joined `room` (the last offset issued is `off`).
    #[cfg(test)]
    fn joined(&mut self, room: &str, off: u64) {
        self.joined_as(room, None, off);
    }

    /// [`joined`](Self::joined), with the room's name shared with the room table if given.
    fn joined_as(&mut self, room: &str, name: Option<Arc<str>>, off: u64) {
        if !self.spans.iter().any(|s| s.to == OPEN && &*s.room == room) {
            // Most sessions are in a room or two: no spare capacity for those (memory per
            // held connection), the usual growth beyond.
            if self.spans.len() < 4 {
                self.spans.reserve_exact(1);
            }
            self.spans.push(Span {
                room: name.unwrap_or_else(|| Arc::from(room)),
                from: off,
                to: OPEN,
            });
        }
    }

    /// Left `room` (the last offset issued is `off`); forgets the spans the history no longer
    /// holds anything of.
    fn left(&mut self, room: &str, off: u64, t: &Trimmed) {
        if let Some(s) = self
            .spans
            .iter_mut()
            .find(|s| s.to == OPEN && &*s.room == room)
        {
            s.to = off;
        }
        let mut gone = self.gone;
        self.spans.retain(|s| {
            if s.to == OPEN || s.to > t.all {
                return true;
            }
            // Everything up to `s.to` is out of the history: what it held of the room then
            // is gone (a resume from before it is evicted).
            if let Some(w) = t.rooms.get(&s.room).map(RoomMarks::any) {
                if w > s.from {
                    gone = gone.max(s.to.min(w));
                }
            }
            false
        });
        while self.spans.iter().filter(|s| s.to != OPEN).count() > MAX_SPANS {
            let Some(i) = self.spans.iter().position(|s| s.to != OPEN) else {
                break;
            };
            gone = gone.max(self.spans.remove(i).to);
        }
        self.gone = gone;
    }

    /// Live on the connection at `addr` from offset `off` on.
    fn live_at(&mut self, addr: ConnAddr, off: u64, t: &Trimmed) {
        // Most sessions are live on one connection in their life: no spare capacity.
        self.addrs.reserve_exact(1);
        self.addrs.push((addr, off));
        // A connection ended when the next began: once the history holds nothing from its
        // time, its exclusions no longer matter.
        while self.addrs.len() > 1 && self.addrs[1].1 <= t.all {
            self.addrs.remove(0);
        }
        if self.addrs.len() > MAX_ADDRS {
            self.gone = self.gone.max(self.addrs[1].1);
            self.addrs.remove(0);
        }
    }
}

#[derive(Default)]
pub(crate) struct State {
    next_off: u64,
    logs: HashMap<&'static str, Log>,
    sessions: HashMap<String, Session>,
    /// Tokens of sessions this node let go of whose records are being deleted from the
    /// cluster's store: another node's resume of one is refused (`unknown`) meanwhile, so a
    /// token resumes once.
    handing: std::collections::HashSet<String>,
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
                    trimmed: Trimmed::default(),
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
    pub(crate) fn record(
        &mut self,
        module: &str,
        off: u64,
        target: Target,
        except: Option<Arc<[ConnAddr]>>,
        frame: Message,
    ) {
        if let Some(log) = self.logs.get_mut(module) {
            log.record(off, target, except, frame, Instant::now());
        }
    }

    /// The live connection `conn` of a recovery module joined `room` (called under the lock,
    /// with the room table changed under it too).
    fn joined(&mut self, conn: ConnectionId, room: &str, name: Option<Arc<str>>) {
        let off = self.next_off;
        if let Some(s) = self
            .by_conn
            .get(&conn)
            .and_then(|t| self.sessions.get_mut(t))
        {
            s.joined_as(room, name, off);
        }
    }

    /// The live connection `conn` of a recovery module left `room`.
    fn left(&mut self, conn: ConnectionId, room: &str) {
        let off = self.next_off;
        let State {
            by_conn,
            sessions,
            logs,
            ..
        } = self;
        if let Some(s) = by_conn.get(&conn).and_then(|t| sessions.get_mut(t)) {
            if let Some(log) = logs.get(s.module) {
                s.left(room, off, &log.trimmed);
            }
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
            log.trimmed.sweep(now, window);
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
    /// The connections it leaves out (recorded with it; `None` for none).
    except: Option<Arc<[ConnAddr]>>,
    frames: Vec<(&'static str, Message)>,
    /// Delivered from the cluster's shared log: every recovery module records it.
    shared: bool,
}

impl<'g> Pushing<'g> {
    pub(crate) fn new(
        store: &'g RecoveryStore,
        target: Option<Target>,
        module: Option<&'g str>,
        except: Option<Arc<[ConnAddr]>>,
    ) -> Self {
        Pushing {
            st: store.lock(),
            off: None,
            target,
            module,
            except,
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
        except: Option<Arc<[ConnAddr]>>,
        off: u64,
    ) -> Self {
        let mut p = Pushing::new(store, target, module, except);
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
            let except = self.except.clone();
            self.st.record(module.path, off, t, except, frame.clone());
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
            let except = self.except.clone();
            self.st.record(path, n, target.clone(), except, frame);
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
        Ask::Resume { token, off } => match resume_taking_over(&mut st, conn, &token, off, now) {
            Ok(((mut session, frames), took_over)) => {
                conn.set_session_start(if took_over {
                    SessionStart::TookOver
                } else {
                    SessionStart::Resumed
                });
                session.taken_over = false;
                shared::unsave(conn.server(), &mut st, &token, &mut session);
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
    if resumed.is_none() {
        conn.set_session_start(SessionStart::Fresh);
    }
    if let Some(o) = &outcome {
        let label = o.map_or_else(NotResumed::as_str, |_| "resumed");
        crate::runtime::metrics::resume(path, label);
    }
    let token = new_token();
    let (mut session, replay) = resumed.unwrap_or_else(|| {
        let session = Session {
            id: shared::session_id(),
            module: conn.module().path,
            start_off: st.next_off,
            live: Some(conn.clone()),
            rooms: Vec::new(),
            label: None,
            dropped_at: None,
            saved: false,
            saving: None,
            taken_over: false,
            spans: Vec::new(),
            addrs: Vec::new(),
            gone: 0,
        };
        (session, Vec::new())
    });
    let addr = ConnAddr {
        node: conn.server().node_id().clone(),
        fd: conn.fd(),
    };
    let off = st.next_off;
    if let Some(log) = st.logs.get(path) {
        session.live_at(addr, off, &log.trimmed);
    }
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
    /// or why not. Everything is checked first: a refused resume leaves the session as it was
    /// (still resumable; its connection, if still live, untouched), except one that expired
    /// (gone). Only a resume that succeeds takes over: a connection still live on the session
    /// is closed (4000).
    fn resume(
        &mut self,
        conn: &Connection,
        token: &str,
        off: Option<u64>,
        now: Instant,
    ) -> Result<(Session, Vec<Message>), NotResumed> {
        // Kept one more window: asked again, an expired token is still `expired` (as the
        // cluster's store answers).
        if self.expired.contains_key(token) {
            return Err(NotResumed::Expired);
        }
        let path = conn.module().path;
        let Some(log) = self.logs.get(path) else {
            return Err(NotResumed::Unknown);
        };
        let Some(s) = self.sessions.get(token).filter(|s| s.module == path) else {
            return Err(NotResumed::Unknown);
        };
        if s.dropped_at
            .is_some_and(|at| now.saturating_duration_since(at) > log.settings.window)
        {
            if let Some(s) = self.sessions.remove(token) {
                if let Some(log) = self.logs.get_mut(path) {
                    unindex(log, &s.rooms);
                }
            }
            return Err(NotResumed::Expired);
        }
        // An offset this server issued to this session: from its start to the latest.
        let from = match off {
            None => s.start_off,
            Some(o) if o < s.start_off || o > self.next_off => return Err(NotResumed::Unknown),
            Some(o) => o,
        };
        if s.lost(&log.trimmed, from) {
            return Err(NotResumed::Evicted);
        }
        let frames: Vec<Message> = log
            .entries
            .iter()
            .filter(|e| s.wants(e, from))
            .map(|e| e.frame.clone())
            .collect();
        // It resumes: take it over.
        let Some(mut s) = self.sessions.remove(token) else {
            return Err(NotResumed::Unknown);
        };
        let (rooms, label) = match s.live.take() {
            // A session still live on a connection (half-open): that connection is over.
            Some(old) => {
                self.by_conn.remove(&old.id());
                let taken = (old.rooms(), old.label());
                tracing::info!(fd = %old.fd(), "closing: {REPLACED} (4000)");
                old.force_close(close_code::SESSION_RESUMED, REPLACED);
                taken
            }
            None => {
                if let Some(log) = self.logs.get_mut(path) {
                    unindex(log, &s.rooms);
                }
                (std::mem::take(&mut s.rooms), s.label.take())
            }
        };
        s.live = Some(conn.clone());
        s.dropped_at = None;
        for r in &rooms {
            // Not `conn.join`: that takes this lock to record the membership, which goes on
            // (the session's spans stay open).
            if let Err(e) = conn.server().rooms().join_now(conn, r) {
                tracing::warn!(fd = %conn.fd(), room = %r, error = %e, "resume: room not rejoined");
            }
        }
        if let Some(l) = &label {
            conn.set_label(l);
        }
        Ok((s, frames))
    }
}

/// The store of `conn`'s module, if it keeps sessions: joins and leaves are recorded in it.
fn tracked(conn: &Connection) -> Option<&RecoveryStore> {
    conn.module().limits.recovery?;
    conn.server().recovery()
}

/// A join of a connection: done by `change` under the store's lock (if its module keeps
/// sessions), so that its session's membership begins exactly between two pushes.
pub(crate) fn join<E>(
    conn: &Connection,
    room: &str,
    change: impl FnOnce() -> Result<bool, E>,
) -> Result<bool, E> {
    let Some(store) = tracked(conn) else {
        return change();
    };
    let mut st = store.lock();
    let r = change();
    if matches!(r, Ok(true)) {
        let name = conn.server().rooms().table().name(room);
        st.joined(conn.id(), room, name);
    }
    r
}

/// A leave of a connection, as [`join`].
pub(crate) fn leave(conn: &Connection, room: &str, change: impl FnOnce() -> bool) -> bool {
    let Some(store) = tracked(conn) else {
        return change();
    };
    let mut st = store.lock();
    let left = change();
    if left {
        st.left(conn.id(), room);
    }
    left
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
        if let Some(mut s) = st.sessions.remove(&token) {
            shared::unsave(conn.server(), &mut st, &token, &mut s);
        }
    } else if let Some(s) = st.sessions.get_mut(&token) {
        s.live = None;
        s.dropped_at = Some(now);
        s.rooms = conn.rooms();
        s.label = conn.label();
        if !s.saved {
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

/// [`State::resume`], and whether it takes the session over from a connection that still
/// looked open (here, or on another node that handed it over).
fn resume_taking_over(
    st: &mut State,
    conn: &Connection,
    token: &str,
    off: Option<u64>,
    now: Instant,
) -> Result<((Session, Vec<Message>), bool), NotResumed> {
    let took_over = st
        .sessions
        .get(token)
        .is_some_and(|s| s.live.is_some() || s.taken_over);
    st.resume(conn, token, off, now).map(|r| (r, took_over))
}

/// What becomes of the session of `conn`, which ended with `code` (read before
/// [`closed`] acts on it): the `session` of its `CloseInfo`.
pub(crate) fn fate(conn: &Connection, code: u16) -> SessionEnd {
    let Some(store) = conn.server().recovery() else {
        return SessionEnd::None;
    };
    let st = store.lock();
    if !st.has(conn.module_path()) {
        return SessionEnd::None;
    }
    if !st.by_conn.contains_key(&conn.id()) {
        SessionEnd::TakenOver
    } else if code == close_code::NORMAL {
        SessionEnd::Ended
    } else {
        SessionEnd::Kept
    }
}

pub(crate) mod shared;
#[cfg(test)]
mod tests;
