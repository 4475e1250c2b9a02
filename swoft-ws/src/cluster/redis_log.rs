//! [`RedisLog`]: the cluster's shared log and session store over Redis (a stream and keys),
//! for `RedisAdapter` (see `history.rs` for what is stored and why).

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use bytes::Bytes;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cluster::count_dropped;
use crate::cluster::history::{LogReader, LogStore, offset};
use crate::runtime::middleware::BoxFuture;
use crate::runtime::remote::Taken;

const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one `XREAD` blocks.
const BLOCK_MS: u64 = 1000;
const BATCH: usize = 256;

struct Inner {
    client: Client,
    stream: String,
    prefix: String,
    conn: Mutex<Option<MultiplexedConnection>>,
    stop: CancellationToken,
}

/// The shared log over Redis.
pub(crate) struct RedisLog {
    inner: Arc<Inner>,
    tx: mpsc::Sender<Bytes>,
    rx: Mutex<Option<mpsc::Receiver<Bytes>>>,
}

impl RedisLog {
    pub(crate) fn new(client: Client, prefix: &str, queue: usize, stop: CancellationToken) -> Self {
        let (tx, rx) = mpsc::channel(queue.max(1));
        RedisLog {
            inner: Arc::new(Inner {
                client,
                stream: format!("{prefix}#log"),
                prefix: prefix.to_owned(),
                conn: Mutex::new(None),
                stop,
            }),
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }
}

async fn connect(client: &Client, response: Duration) -> redis::RedisResult<MultiplexedConnection> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(IO_TIMEOUT)
        .set_response_timeout(response);
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

impl Inner {
    /// The shared command connection (made again after a failure).
    async fn conn(&self) -> redis::RedisResult<MultiplexedConnection> {
        let cached = self
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(c) = cached {
            return Ok(c);
        }
        let c = connect(&self.client, IO_TIMEOUT).await?;
        *self.conn.lock().unwrap_or_else(PoisonError::into_inner) = Some(c.clone());
        Ok(c)
    }

    fn lost(&self) {
        *self.conn.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Appends what is queued, in pipelines of at most [`BATCH`], in order.
    async fn appender(self: Arc<Self>, mut rx: mpsc::Receiver<Bytes>, maxlen: usize) {
        let mut batch = Vec::with_capacity(BATCH);
        while rx.recv_many(&mut batch, BATCH).await > 0 {
            let mut pipe = redis::pipe();
            for e in &batch {
                pipe.cmd("XADD")
                    .arg(&self.stream)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(maxlen)
                    .arg("*")
                    .arg("p")
                    .arg(&e[..])
                    .ignore();
            }
            let done = match self.conn().await {
                Ok(mut c) => pipe.query_async::<()>(&mut c).await,
                Err(e) => Err(e),
            };
            if let Err(e) = done {
                self.lost();
                count_dropped("unavailable", batch.len() as u64);
                tracing::warn!(error = %e, pushes = batch.len(), "cluster: pushes not appended to the shared log (lost)");
            }
            batch.clear();
        }
    }

    /// Reads the log from its end as it is now, and hands each entry to the node.
    async fn tail(self: Arc<Self>, node: Weak<dyn LogReader>) {
        let mut last = String::new();
        let mut conn = None;
        while !self.stop.is_cancelled() {
            if node.strong_count() == 0 {
                return;
            }
            if conn.is_none() {
                match connect(&self.client, IO_TIMEOUT + Duration::from_millis(BLOCK_MS)).await {
                    Ok(c) => conn = Some(c),
                    Err(e) => {
                        tracing::warn!(error = %e, "cluster: shared log unreachable");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                }
            }
            let Some(c) = conn.as_mut() else { continue };
            if last.is_empty() {
                match self.top(c).await {
                    Ok(top) => {
                        if let Some(n) = node.upgrade() {
                            n.log_starts_at(offset(&top).unwrap_or(0));
                        }
                        last = top;
                    }
                    Err(_) => conn = None,
                }
                continue;
            }
            let mut cmd = redis::cmd("XREAD");
            cmd.arg("BLOCK")
                .arg(BLOCK_MS)
                .arg("COUNT")
                .arg(BATCH)
                .arg("STREAMS")
                .arg(&self.stream)
                .arg(&last);
            let read = cmd.query_async::<Value>(c);
            let reply = tokio::select! {
                r = read => r,
                () = self.stop.cancelled() => return,
            };
            match reply {
                Ok(v) => {
                    let Some(n) = node.upgrade() else { return };
                    for (id, entry) in entries(v) {
                        match offset(&id) {
                            Some(off) => n.on_logged(off, &entry),
                            None => tracing::warn!(
                                id,
                                "cluster: a shared log entry with an id that is no offset; skipped"
                            ),
                        }
                        last = id;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cluster: reading the shared log failed; reconnecting");
                    conn = None;
                }
            }
        }
    }

    /// The id of the log's last entry (`0-0` when empty).
    async fn top(&self, c: &mut MultiplexedConnection) -> redis::RedisResult<String> {
        let v: Value = redis::cmd("XREVRANGE")
            .arg(&self.stream)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(c)
            .await?;
        Ok(entries(v)
            .into_iter()
            .next()
            .map_or_else(|| "0-0".to_owned(), |(id, _)| id))
    }
}

/// The entries of an `XREAD` or `XRANGE` answer: (id, the `p` field).
fn entries(v: Value) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let list = match v {
        Value::Array(streams) => streams,
        Value::Map(m) => m.into_iter().map(|(_, v)| v).collect(),
        _ => return out,
    };
    for item in list {
        match item {
            // XREAD: [name, entries]
            Value::Array(mut pair)
                if pair.len() == 2
                    && matches!(pair[1], Value::Array(_))
                    && !matches!(pair[0], Value::Array(_))
                    && is_stream_entries(&pair[1]) =>
            {
                if let Value::Array(es) = pair.remove(1) {
                    out.extend(es.into_iter().filter_map(entry));
                }
            }
            // XRANGE: the entries themselves
            other => out.extend(entry(other)),
        }
    }
    out
}

fn is_stream_entries(v: &Value) -> bool {
    matches!(v, Value::Array(es) if es.iter().all(|e| matches!(e, Value::Array(x) if x.len() == 2 && matches!(x[1], Value::Array(_)))))
}

fn entry(v: Value) -> Option<(String, Vec<u8>)> {
    let Value::Array(mut e) = v else { return None };
    if e.len() != 2 {
        return None;
    }
    let fields = e.pop()?;
    let id = match e.pop()? {
        Value::BulkString(b) => String::from_utf8(b).ok()?,
        Value::SimpleString(s) => s,
        _ => return None,
    };
    let Value::Array(fields) = fields else {
        return None;
    };
    let mut it = fields.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        if matches!(&k, Value::BulkString(b) if b == b"p") {
            if let Value::BulkString(b) = v {
                return Some((id, b));
            }
        }
    }
    None
}

impl LogStore for RedisLog {
    fn append(&self, entry: Bytes) {
        if self.tx.try_send(entry).is_err() {
            count_dropped("queue_full", 1);
            tracing::warn!("cluster: the shared log's queue is full; a push is lost");
        }
    }

    fn start(&self, node: Weak<dyn LogReader>, maxlen: usize) {
        let Some(rx) = self
            .rx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        tokio::spawn(self.inner.clone().appender(rx, maxlen));
        tokio::spawn(self.inner.clone().tail(node));
    }

    fn save(&self, token: &str, record: String, window: Duration) -> BoxFuture<'static, bool> {
        let inner = self.inner.clone();
        let (key, tomb) = keys(&inner.prefix, token);
        Box::pin(async move {
            let ms = window.as_millis().max(1) as u64;
            let mut pipe = redis::pipe();
            pipe.cmd("SET")
                .arg(&key)
                .arg(record)
                .arg("PX")
                .arg(ms)
                .ignore();
            pipe.cmd("SET")
                .arg(&tomb)
                .arg(1)
                .arg("PX")
                .arg(ms * 2)
                .ignore();
            let done = match inner.conn().await {
                Ok(mut c) => pipe.query_async::<()>(&mut c).await,
                Err(e) => Err(e),
            };
            if let Err(e) = &done {
                inner.lost();
                tracing::warn!(error = %e, "cluster: a dropped session was not saved (it resumes on this node only)");
            }
            done.is_ok()
        })
    }

    fn take(&self, token: &str) -> BoxFuture<'static, Taken> {
        let inner = self.inner.clone();
        let (key, tomb) = keys(&inner.prefix, token);
        Box::pin(async move {
            let got = async {
                let mut c = inner.conn().await?;
                // One transaction: a save landing between the two reads would otherwise
                // make a session dropped a moment ago look expired.
                let (rec, expired): (Option<String>, bool) = redis::pipe()
                    .atomic()
                    .cmd("GETDEL")
                    .arg(&key)
                    .cmd("EXISTS")
                    .arg(&tomb)
                    .query_async(&mut c)
                    .await?;
                if let Some(rec) = rec {
                    let _: () = redis::cmd("DEL").arg(&tomb).query_async(&mut c).await?;
                    return Ok(Taken::Found(rec));
                }
                Ok::<_, redis::RedisError>(if expired {
                    Taken::Expired
                } else {
                    Taken::Unknown
                })
            };
            match got.await {
                Ok(t) => t,
                Err(e) => {
                    inner.lost();
                    tracing::warn!(error = %e, "cluster: the session store is unreachable; the resume answers `unknown`");
                    Taken::Unknown
                }
            }
        })
    }
    /// Deletes a session's record and its expiry marker (its node let go of it: a token
    /// resumes once). A failure is logged: the record then lives out its window.
    fn delete(&self, token: &str) -> BoxFuture<'static, ()> {
        let inner = self.inner.clone();
        let (key, tomb) = keys(&inner.prefix, token);
        Box::pin(async move {
            let done = match inner.conn().await {
                Ok(mut c) => {
                    redis::cmd("DEL")
                        .arg(&key)
                        .arg(&tomb)
                        .query_async::<()>(&mut c)
                        .await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = done {
                inner.lost();
                tracing::warn!(error = %e, "cluster: a session record was not deleted (it lives out its window)");
            }
        })
    }
}

fn keys(prefix: &str, token: &str) -> (String, String) {
    (
        format!("{prefix}#session#{token}"),
        format!("{prefix}#expired#{token}"),
    )
}
