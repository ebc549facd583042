//! The connections of a server, with which of them wait idle for their next request.
//!
//! Two things reach an idle connection from outside: the accept loop at the connection
//! cap, which closes the oldest idle keep-alive connection to make room for a new
//! client (as nginx does: otherwise idle browsers, or one client holding many idle
//! connections, would lock everyone else out until an idle timeout), and a shutdown,
//! which closes every idle connection at once.
//!
//! A connection registers once, when it is accepted. Going idle and leaving idle are
//! then one atomic store each, with no lock and no allocation, because a busy server
//! does both on every request; only the rare events (a full cap, a shutdown, a
//! connection's start and end) take the registry's lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Every connection being served.
#[derive(Default)]
pub(crate) struct Connections {
    registry: Mutex<Registry>,
    /// Set once at shutdown; idle connections close, busy ones after their response.
    stopping: AtomicBool,
    /// Accepts waiting for a connection to go idle; only then is going idle announced.
    waiting: AtomicUsize,
    /// Woken when a connection goes idle while an accept waits to make room.
    went_idle: Notify,
}

#[derive(Default)]
struct Registry {
    next: u64,
    slots: HashMap<u64, Arc<Slot>>,
}

/// One connection's state as others see it.
#[derive(Default)]
struct Slot {
    /// 0 while busy (or idle before its first request, which is never evicted);
    /// [`CLOSING`] once asked to close; otherwise when it went idle, in nanoseconds of
    /// the coarse monotonic clock, so the smallest is the oldest.
    idle_since: AtomicU64,
    /// Woken when asked to close or at shutdown. A wake-up is a hint; the state is in
    /// `idle_since` and [`Connections::stopping`].
    wake: Notify,
}

const BUSY: u64 = 0;
const CLOSING: u64 = u64::MAX;

impl Connections {
    /// Registers a connection just accepted; it is taken out when the handle drops.
    pub fn register(self: &Arc<Self>) -> Handle {
        let slot = Arc::new(Slot::default());
        let id = {
            let mut registry = self.lock();
            let id = registry.next;
            registry.next += 1;
            registry.slots.insert(id, Arc::clone(&slot));
            id
        };
        Handle {
            connections: Arc::clone(self),
            id,
            slot,
        }
    }

    /// Whether the server is shutting down.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Starts the shutdown: every idle connection closes now, every busy one after the
    /// response it is writing.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        for slot in self.lock().slots.values() {
            slot.wake.notify_one();
        }
    }

    /// Asks the connection idle for longest to close; false if none is idle.
    pub fn close_oldest(&self) -> bool {
        let registry = self.lock();
        loop {
            let oldest = registry
                .slots
                .values()
                .map(|slot| (slot.idle_since.load(Ordering::Acquire), slot))
                .filter(|&(since, _)| since != BUSY && since != CLOSING)
                .min_by_key(|&(since, _)| since);
            let Some((since, slot)) = oldest else {
                return false;
            };
            // It may have left idle since it was read: then look again.
            if slot
                .idle_since
                .compare_exchange(since, CLOSING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                slot.wake.notify_one();
                return true;
            }
        }
    }

    /// Completes when some connection is idle, at once if one is.
    pub async fn went_idle(&self) {
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        // Announced before looking, and a connection stamps itself idle before it
        // looks for waiters (both SeqCst): one of the two sees the other.
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        let any_idle = self.lock().slots.values().any(|slot| {
            let since = slot.idle_since.load(Ordering::SeqCst);
            since != BUSY && since != CLOSING
        });
        if !any_idle {
            self.went_idle.notified().await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A connection's place in the registry.
pub(crate) struct Handle {
    connections: Arc<Connections>,
    id: u64,
    slot: Arc<Slot>,
}

impl Handle {
    /// Marks the connection idle between requests: from now on it may be asked to
    /// close to make room.
    pub fn enter_idle(&self) {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
        let nanos = u64::try_from(now.tv_sec)
            .unwrap_or(0)
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::try_from(now.tv_nsec).unwrap_or(0));
        self.slot
            .idle_since
            .store(nanos.clamp(1, CLOSING - 1), Ordering::SeqCst);
        if self.connections.waiting.load(Ordering::SeqCst) > 0 {
            self.connections.went_idle.notify_one();
        }
    }

    /// Marks the connection busy again.
    pub fn leave_idle(&self) {
        self.slot.idle_since.store(BUSY, Ordering::Release);
    }

    /// Completes when this connection should close: it was asked to make room while
    /// idle, or the server is shutting down.
    pub async fn asked_to_close(&self) {
        loop {
            if self.slot.idle_since.load(Ordering::Acquire) == CLOSING
                || self.connections.stopping()
            {
                return;
            }
            self.slot.wake.notified().await;
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.connections.lock().slots.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_oldest_idle_connection_is_asked_to_close() {
        let all = Arc::new(Connections::default());
        let (a, b, c) = (all.register(), all.register(), all.register());
        assert!(!all.close_oldest(), "nobody is idle");
        a.enter_idle();
        std::thread::sleep(std::time::Duration::from_millis(20));
        b.enter_idle();
        // `c` is busy and never chosen.
        assert!(all.close_oldest());
        tokio::time::timeout(std::time::Duration::from_secs(1), a.asked_to_close())
            .await
            .expect("the oldest is asked first");
        assert!(all.close_oldest());
        tokio::time::timeout(std::time::Duration::from_secs(1), b.asked_to_close())
            .await
            .expect("then the next");
        assert!(!all.close_oldest(), "only busy or closing ones are left");
        // A connection asked while idle that got a request goes on being served.
        b.leave_idle();
        b.enter_idle();
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(50), b.asked_to_close());
        assert!(waiting.await.is_err(), "a stale wake-up does not close it");
        drop(c);
        assert_eq!(all.lock().slots.len(), 2);
    }

    #[tokio::test]
    async fn a_shutdown_reaches_every_connection() {
        let all = Arc::new(Connections::default());
        let (a, b) = (all.register(), all.register());
        all.stop();
        for h in [&a, &b] {
            tokio::time::timeout(std::time::Duration::from_secs(1), h.asked_to_close())
                .await
                .expect("closed at shutdown");
        }
    }
}
