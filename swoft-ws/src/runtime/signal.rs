//! A one-shot flag tasks can wait for: a connection has three (closing, draining, abort),
//! inline.

use std::sync::atomic::{AtomicBool, Ordering};

/// A flag set once that tasks can wait for: what a `CancellationToken` does here, without its
/// allocation and lock (a connection has three of them, inline).
pub(crate) struct Signal {
    set: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Signal {
    pub(crate) const fn new() -> Self {
        Signal {
            set: AtomicBool::new(false),
            notify: tokio::sync::Notify::const_new(),
        }
    }

    /// Sets the flag and wakes every waiter (once; later calls do nothing).
    pub(crate) fn cancel(&self) {
        if !self.set.swap(true, Ordering::AcqRel) {
            self.notify.notify_waiters();
        }
    }

    /// Whether the flag is set.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    /// Resolves once the flag is set.
    pub(crate) async fn cancelled(&self) {
        loop {
            let notified = self.notify.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check: a `cancel` in between still wakes it.
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Signal;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn a_signal_wakes_every_waiter_once_set_and_stays_set() {
        let s = Arc::new(Signal::new());
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move { s.cancelled().await })
            })
            .collect();
        tokio::task::yield_now().await;
        assert!(!s.is_cancelled());
        s.cancel();
        s.cancel();
        for w in waiters {
            tokio::time::timeout(Duration::from_secs(5), w)
                .await
                .expect("woken")
                .unwrap();
        }
        assert!(s.is_cancelled());
        // Set before the wait: resolves at once.
        tokio::time::timeout(Duration::from_secs(5), s.cancelled())
            .await
            .expect("already set");
    }
}
