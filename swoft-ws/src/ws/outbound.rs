//! A connection's outbound queue, and the writes that empty it.
//!
//! Every frame for a connection goes through its queue's lock, so frames keep their order
//! whoever sends them: the connection's own handlers, other connections' broadcasts, the
//! server API. What happens under the lock depends on the connection task:
//!
//! - **Waiting** (nothing queued, nothing being handled): a sender writes the frame straight to
//!   the socket (`try_write_vectored`, head and payload, no copy). A broadcast to 10,000 idle
//!   members is then 10,000 system calls and no task wake-up. Whatever the socket does not take
//!   is queued, and the connection task is woken to write the rest when the socket can take it.
//! - **Busy** (handling what it read): frames are queued, and the connection task writes them
//!   all with one vectored write once it has handled every frame it read. Sixteen pipelined
//!   requests cost one write for their sixteen replies.
//!
//! The queue is bounded in frames here and in payload bytes by its [`Connection`](crate::Connection).
//! It is not a tokio `mpsc`: that allocates its channel and a first block of 32 slots (~2 KiB)
//! with every connection, also the idle ones. This is one small `Arc`; its `VecDeque` grows with
//! what is queued and is given back once drained.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use crate::ws::Message;
use bytes::Bytes;
use futures_util::task::AtomicWaker;
use tokio::net::TcpStream;

/// The most pongs that wait in a queue, one per ping. Past it, a newer ping's payload replaces
/// the last waiting pong's (RFC 6455 section 5.5.3: an endpoint "MAY elect to send a Pong frame
/// for only the most recently processed Ping frame"), so a ping flood costs bounded space.
/// Below it every ping gets its own pong, as clients (and Autobahn's cases 2.10 and 2.11)
/// expect.
const MAX_PONGS: usize = 16;

use crate::ws::codec::{self, Head};
use crate::ws::deflate::{self, Once, Params, RSV1};

/// The most frames one vectored write takes (two slices each: head and payload).
const WRITE_BATCH: usize = 32;

/// Payloads up to this size that stay queued while the socket is full are copied out of the
/// buffer they are a slice of (see [`Entry::unshare`]).
const COPY_OUT: usize = 4 << 10;

/// The payload size of a frame: what the outbound byte limit counts.
pub(crate) fn payload_len(m: &Message) -> usize {
    match m {
        Message::Text(t) => t.len(),
        Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b.len(),
        Message::Close(_) => 0,
    }
}

/// A queued entry.
enum Entry {
    /// A frame as it was sent: its payload is written as it is (shared, not copied).
    Frame(Message),
    /// A frame of the connection's own with its payload encoded (a close frame).
    Raw(u8, Bytes),
    /// A data frame compressed by permessage-deflate: its opcode and compressed payload, sent
    /// with RSV1 (RFC 7692 §6).
    Deflated(u8, Bytes),
    /// A pong; its payload is the next of [`State::pongs`] (in queue order). At most
    /// [`MAX_PONGS`] wait, and they do not count against the queue's capacity.
    Pong,
}

impl Entry {
    fn frame(m: Message) -> Entry {
        match m {
            Message::Close(Some(c)) => {
                Entry::Raw(codec::OP_CLOSE, codec::close_payload(c.code, &c.reason))
            }
            m => Entry::Frame(m),
        }
    }

    /// The opcode and payload to write; `pong` is the payload if it is a pong.
    fn parts<'a>(&'a self, pong: &'a [u8]) -> (u8, &'a [u8]) {
        match self {
            Entry::Frame(Message::Text(t)) => (codec::OP_TEXT, t.as_bytes()),
            Entry::Frame(Message::Binary(b)) => (codec::OP_BINARY, b),
            Entry::Frame(Message::Ping(b)) => (codec::OP_PING, b),
            Entry::Frame(Message::Pong(b)) => (codec::OP_PONG, b),
            Entry::Frame(Message::Close(_)) => (codec::OP_CLOSE, &[]),
            Entry::Raw(op, b) => (*op, b),
            Entry::Deflated(op, b) => (*op | RSV1, b),
            Entry::Pong => (codec::OP_PONG, pong),
        }
    }

    /// A copy of a small payload in an allocation of its own. A message's payload is a slice
    /// of the read buffer it arrived in (no copy on the message path); queued, it would keep
    /// that whole buffer (4 KiB, or up to twice a large message) alive while the queue counts
    /// only the payload: 1,024 queued 4-byte echoes would pin 4 MiB against a 1 MiB limit.
    /// Copied out, a queued frame holds what it counts (larger payloads at most about twice
    /// that: the read buffer grows at most by what arrived). Done only for frames that stay
    /// queued while the socket is full, once each, so the message path pays nothing.
    fn unshare(&mut self) {
        match self {
            Entry::Frame(Message::Binary(b)) if b.len() <= COPY_OUT => {
                *b = Bytes::copy_from_slice(b);
            }
            Entry::Frame(Message::Text(t)) if t.len() <= COPY_OUT => {
                *t = t.as_str().to_owned().into();
            }
            _ => {}
        }
    }

    /// The bytes it counts in the queue's payload total.
    fn counted(&self) -> usize {
        match self {
            Entry::Frame(m) => payload_len(m),
            Entry::Deflated(_, b) => b.len(),
            _ => 0,
        }
    }
}

/// A data frame compressed by the connection's own compressor (context takeover), or as it
/// is if it is not one to compress or zlib failed. Called under the queue's lock.
fn compress_in_context(d: &deflate::Sending, e: Entry) -> Entry {
    let Entry::Frame(m) = e else {
        return e;
    };
    let c = d
        .compressible(&m)
        .and_then(|(op, p)| Some((op, d.compress(p)?)));
    c.map_or(Entry::Frame(m), |(op, c)| Entry::Deflated(op, c))
}

/// The head and payload of `(opcode, payload)`, less the first `skip` bytes (already written).
fn slices<'a>(head: &'a Head, payload: &'a [u8], skip: usize) -> [&'a [u8]; 2] {
    let h = head.as_slice();
    if skip < h.len() {
        [&h[skip..], payload]
    } else {
        [&[], &payload[skip - h.len()..]]
    }
}

/// The bytes an entry takes on the wire.
fn wire_len(e: &Entry, pong: &[u8]) -> usize {
    let (op, p) = e.parts(pong);
    Head::new(op, p.len()).as_slice().len() + p.len()
}

/// Frames up to this size are copied into one buffer on the stack and written with `send`,
/// not `writev`: the kernel's vectored path costs more than the copy (`fdget_pos`,
/// `vfs_writev` and the iovec import were 9% of server CPU in a 10,000-member broadcast).
const SMALL: usize = 512;

/// One write of `bufs` to the socket (`WouldBlock` when it is full).
pub(crate) fn write_tcp(tcp: &TcpStream, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    match bufs {
        [one] => tcp.try_write(one),
        _ => {
            let len: usize = bufs.iter().map(|b| b.len()).sum();
            if len > SMALL {
                return tcp.try_write_vectored(bufs);
            }
            let mut flat = [0u8; SMALL];
            let mut at = 0;
            for b in bufs {
                flat[at..at + b.len()].copy_from_slice(b);
                at += b.len();
            }
            tcp.try_write(&flat[..at])
        }
    }
}

/// A connection's outbound queue; `capacity` is in frames; `deflate`: the permessage-deflate
/// terms agreed, if any (data frames are then compressed as they are queued).
pub(crate) fn queue(
    capacity: usize,
    tcp: Option<Arc<TcpStream>>,
    deflate: Option<Params>,
) -> (OutboundTx, OutboundRx) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            entries: VecDeque::new(),
            pongs: VecDeque::new(),
            written: 0,
            closed: false,
            direct: false,
            tcp,
            fresh: 0,
        }),
        deflate: deflate.map(deflate::Sending::new),
        waker: AtomicWaker::new(),
        capacity: capacity.max(1),
        queued: AtomicUsize::new(0),
    });
    (OutboundTx(shared.clone()), OutboundRx(shared))
}

struct Shared {
    state: Mutex<State>,
    /// permessage-deflate, if agreed (boxed: a plain connection's queue is one pointer
    /// larger, no more).
    deflate: Option<Box<deflate::Sending>>,
    /// The connection task, when it found the queue empty or the socket full.
    waker: AtomicWaker,
    capacity: usize,
    /// Payload bytes queued (not those written directly).
    queued: AtomicUsize,
}

struct State {
    entries: VecDeque<Entry>,
    /// Bytes of the front entry already written.
    written: usize,
    closed: bool,
    /// The connection task waits with nothing queued: senders may write to the socket.
    direct: bool,
    /// The socket for those writes (`None`: not a plain TCP socket, or closed).
    tcp: Option<Arc<TcpStream>>,
    /// The payloads of the queued [`Entry::Pong`]s, in queue order.
    pongs: VecDeque<Bytes>,
    /// Entries at the back queued since the socket was last found full: their payloads may
    /// still be slices of a read buffer ([`Entry::unshare`]). (A `u32` in the bools' padding:
    /// the state is no larger for it.)
    fresh: u32,
}

impl State {
    /// Takes the front entry off the queue (with its payload if it is a pong).
    fn pop_front(&mut self) -> Option<(Entry, Option<Bytes>)> {
        let e = self.entries.pop_front()?;
        let pong = match e {
            Entry::Pong => self.pongs.pop_front(),
            _ => None,
        };
        Some((e, pong))
    }

    /// Queues `e` at the back.
    fn push_back(&mut self, e: Entry) {
        self.entries.push_back(e);
        self.fresh = self.fresh.saturating_add(1);
    }

    /// The socket is full, so what is queued stays a while: the payloads queued since it was
    /// last full are copied out of the buffers they share ([`Entry::unshare`]).
    fn unshare_fresh(&mut self) {
        let fresh = (self.fresh as usize).min(self.entries.len());
        let from = self.entries.len() - fresh;
        self.entries.range_mut(from..).for_each(Entry::unshare);
        self.fresh = 0;
    }

    /// The payload of the front entry if it is a pong.
    fn front_pong(&self) -> &[u8] {
        self.pongs.front().map_or(&[], |p| &p[..])
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why a frame was not sent.
pub(crate) enum QueueError {
    Full,
    Closed,
}

/// The senders' side (in the `Connection`).
pub(crate) struct OutboundTx(Arc<Shared>);

impl OutboundTx {
    /// Writes `m` to the socket at once if the connection task waits with nothing queued,
    /// else queues it, unless the queue is closed or full (in frames, or `byte_limit` payload
    /// bytes; a single frame larger than that is taken into an empty queue); never waits.
    ///
    /// With permessage-deflate agreed, a data frame from `min_size` on goes out compressed:
    /// without context takeover compressed here, before the lock (by `once` for a broadcast,
    /// which shares the bytes among its members), with it under the lock, by the
    /// connection's own compressor, once the frame is sure to be queued.
    pub(crate) fn try_send(
        &self,
        m: Message,
        byte_limit: usize,
        once: Option<&mut Once>,
    ) -> Result<(), QueueError> {
        let mut in_context = None;
        let entry = match self.0.deflate.as_deref() {
            None => Entry::frame(m),
            Some(d) => match d.compressible(&m) {
                Some((op, payload)) if d.params.server_no_context_takeover => {
                    let c = match once {
                        Some(once) => once.get(&d.params, payload),
                        None => deflate::compress_alone(&d.params, payload),
                    };
                    c.map_or_else(|| Entry::frame(m), |c| Entry::Deflated(op, c))
                }
                Some(_) => {
                    in_context = Some(d);
                    Entry::frame(m)
                }
                None => Entry::frame(m),
            },
        };
        let mut st = self.0.lock();
        if st.closed {
            return Err(QueueError::Closed);
        }
        if st.entries.len() - st.pongs.len() >= self.0.capacity {
            return Err(QueueError::Full);
        }
        let mut len = entry.counted();
        let queued = self.0.queued.load(Ordering::Relaxed);
        if queued != 0 && queued + len > byte_limit {
            return Err(QueueError::Full);
        }
        let entry = match in_context {
            None => entry,
            Some(d) => {
                let e = compress_in_context(d, entry);
                len = e.counted();
                e
            }
        };
        let mut written = 0;
        if let (true, Some(tcp)) = (st.direct, &st.tcp) {
            let (op, payload) = entry.parts(&[]);
            let head = Head::new(op, payload.len());
            let [a, b] = slices(&head, payload, 0);
            match write_tcp(tcp, &[IoSlice::new(a), IoSlice::new(b)]) {
                Ok(n) if n == a.len() + b.len() => return Ok(()),
                Ok(n) => written = n,
                // Full (or failed: the connection task finds out when it writes the rest).
                Err(_) => {}
            }
        }
        st.direct = false;
        let was_empty = st.entries.is_empty();
        if was_empty {
            st.written = written;
        }
        st.push_back(entry);
        self.0.queued.fetch_add(len, Ordering::Relaxed);
        drop(st);
        // The task waits on the queue only after it found it empty (under the lock); with
        // frames queued it is busy or waits for the socket to take more.
        if was_empty {
            self.0.waker.wake();
        }
        Ok(())
    }

    /// Drops what is queued, but a frame written in part (the close frame cannot follow half a
    /// frame).
    pub(crate) fn clear(&self) {
        let mut st = self.0.lock();
        let keep = usize::from(st.written > 0 && !st.entries.is_empty());
        let dropped: usize = st.entries.iter().skip(keep).map(Entry::counted).sum();
        st.entries.truncate(keep);
        let kept_pongs = usize::from(matches!(st.entries.front(), Some(Entry::Pong)));
        st.pongs.truncate(kept_pongs);
        if keep == 0 {
            st.entries = VecDeque::new();
        }
        drop(st);
        self.0.queued.fetch_sub(dropped, Ordering::Relaxed);
    }

    /// Whether the receiver closed the queue (or is gone).
    pub(crate) fn is_closed(&self) -> bool {
        self.0.lock().closed
    }

    /// Payload bytes waiting in the queue.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.0.queued.load(Ordering::Relaxed)
    }
}

/// The connection task's side. Dropping it closes the queue.
pub(crate) struct OutboundRx(Arc<Shared>);

impl OutboundRx {
    /// Writes what is queued with `write` (a vectored write that answers `WouldBlock` when the
    /// socket is full, after registering `cx` to be woken when it can take more).
    ///
    /// `Ready(Ok(()))` once the queue is empty. With `open`, senders may then write
    /// directly until [`shut_direct`](Self::shut_direct); the task is woken when something is
    /// queued. `Pending` when the socket is full.
    pub(crate) fn poll_write(
        &self,
        cx: &mut Context<'_>,
        open: bool,
        mut write: impl FnMut(&mut Context<'_>, &[IoSlice<'_>]) -> io::Result<usize>,
    ) -> Poll<io::Result<()>> {
        let mut st = self.0.lock();
        loop {
            if st.entries.is_empty() {
                self.0.waker.register(cx.waker());
                st.written = 0;
                st.direct = open && !st.closed;
                if st.entries.capacity() > 16 {
                    // Drained after a burst: do not keep its memory while idle.
                    st.entries = VecDeque::new();
                }
                if st.pongs.capacity() > 0 {
                    st.pongs = VecDeque::new();
                }
                return Poll::Ready(Ok(()));
            }
            let st = &mut *st;
            let mut heads = [Head::new(0, 0); WRITE_BATCH];
            let mut count = 0;
            let mut pongs = st.pongs.iter();
            for e in st.entries.iter().take(WRITE_BATCH) {
                let pong = match e {
                    Entry::Pong => pongs.next().map_or(&[][..], |p| &p[..]),
                    _ => &[],
                };
                let (op, p) = e.parts(pong);
                heads[count] = Head::new(op, p.len());
                count += 1;
            }
            let mut bufs = [IoSlice::new(&[]); WRITE_BATCH * 2];
            let mut n = 0;
            let mut skip = st.written;
            let mut pongs = st.pongs.iter();
            for (e, head) in st.entries.iter().zip(&heads[..count]) {
                let pong = match e {
                    Entry::Pong => pongs.next().map_or(&[][..], |p| &p[..]),
                    _ => &[],
                };
                let (_, p) = e.parts(pong);
                for s in slices(head, p, skip) {
                    if !s.is_empty() {
                        bufs[n] = IoSlice::new(s);
                        n += 1;
                    }
                }
                skip = 0;
            }
            let mut done = match write(cx, &bufs[..n]) {
                Ok(0) if n > 0 => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(done) => done,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    st.unshare_fresh();
                    return Poll::Pending;
                }
                Err(e) => return Poll::Ready(Err(e)),
            };
            // Take what was written off the front.
            let mut freed = 0;
            while done > 0 {
                let Some(front) = st.entries.front() else {
                    break;
                };
                let left = wire_len(front, st.front_pong()) - st.written;
                if done >= left {
                    done -= left;
                    freed += front.counted();
                    st.written = 0;
                    st.pop_front();
                } else {
                    st.written += done;
                    done = 0;
                }
            }
            // Empty frames (no bytes) at the front are written by now too.
            while st
                .entries
                .front()
                .is_some_and(|e| wire_len(e, st.front_pong()) == 0)
            {
                st.pop_front();
            }
            self.0.queued.fetch_sub(freed, Ordering::Relaxed);
        }
    }

    /// Senders queue from now on (the task is busy with what it read).
    pub(crate) fn shut_direct(&self) {
        self.0.lock().direct = false;
        // It writes what gets queued before it waits again: no wake-up needed meanwhile.
        drop(self.0.waker.take());
    }

    /// Queues a frame of the connection's own (a pong, the close frame), also when the queue
    /// is closed; when it is full, only with `force` (a pong may be left out: it answers only
    /// the latest ping anyway).
    pub(crate) fn push_control(&self, m: Message, force: bool) {
        let mut st = self.0.lock();
        if !force && st.entries.len() - st.pongs.len() >= self.0.capacity {
            return;
        }
        st.direct = false;
        if st.entries.is_empty() {
            st.written = 0;
        }
        let e = Entry::frame(m);
        self.0.queued.fetch_add(e.counted(), Ordering::Relaxed);
        st.push_back(e);
    }

    /// Queues the pong answering a ping with `payload`, also when the queue is full (nothing
    /// once it is closed: the close frame is on its way). Up to [`MAX_PONGS`] wait, one per
    /// ping, outside the queue's capacity; past that a newer ping replaces the last waiting
    /// pong's payload (RFC 6455 section 5.5.3), so a client that pings faster than it reads
    /// costs bounded space and is never closed as a slow consumer for it. (The last waiting
    /// pong is never one already written in part: that is the first, and `MAX_PONGS` > 1.)
    pub(crate) fn push_pong(&self, payload: &[u8]) {
        // A ping's payload (≤ 125 bytes) is a slice of the read buffer: copied, a waiting pong
        // does not keep that buffer alive.
        let payload = Bytes::copy_from_slice(payload);
        let mut st = self.0.lock();
        if st.closed {
            return;
        }
        if st.pongs.len() >= MAX_PONGS {
            if let Some(last) = st.pongs.back_mut() {
                *last = payload;
            }
            return;
        }
        st.pongs.push_back(payload);
        st.direct = false;
        if st.entries.is_empty() {
            st.written = 0;
        }
        st.push_back(Entry::Pong);
    }
    /// Refuses further entries, keeping those queued (they are written before the close).
    pub(crate) fn refuse(&self) {
        let mut st = self.0.lock();
        st.closed = true;
        st.direct = false;
        st.tcp = None;
    }

    /// The next queued message, taken off the queue (for the socket-less bench connection);
    /// `Some(None)` for a close frame.
    #[cfg(feature = "__bench")]
    pub(crate) fn pop(&self) -> Option<Option<Message>> {
        let mut st = self.0.lock();
        let (e, pong) = st.pop_front()?;
        self.0.queued.fetch_sub(e.counted(), Ordering::Relaxed);
        match e {
            Entry::Frame(m) => Some(Some(m)),
            Entry::Pong => Some(Some(Message::Pong(pong.unwrap_or_default()))),
            Entry::Deflated(_, b) => Some(Some(Message::Binary(b))),
            _ => Some(None),
        }
    }
}

impl Drop for OutboundRx {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.closed = true;
        st.direct = false;
        st.tcp = None;
        let dropped: usize = st.entries.iter().map(Entry::counted).sum();
        st.entries = VecDeque::new();
        st.pongs = VecDeque::new();
        self.0.queued.fetch_sub(dropped, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
