//! Bounds on the service: how many verifications run at once and wait, and how a source
//! sending wrong API keys is slowed down.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// At most `workers` verifications on a worker at once, and at most `workers + queue`
/// requests in the service in all (on a worker, waiting for one, or waiting for their
/// commit): more are answered 503 at once.
pub struct Gate {
    workers: std::sync::Arc<Semaphore>,
    worker_count: usize,
    waiting: AtomicUsize,
    queue: AtomicUsize,
    in_service: std::sync::Arc<AtomicUsize>,
}

/// A request's place in the service, given back when it is answered (or dropped).
pub struct Admitted(std::sync::Arc<AtomicUsize>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The service is at its bound: the caller gets 503 and may try again.
#[derive(Debug)]
pub struct Overloaded;

impl Gate {
    pub fn new(workers: usize, queue: usize) -> Self {
        Self {
            workers: std::sync::Arc::new(Semaphore::new(workers.max(1))),
            worker_count: workers.max(1),
            waiting: AtomicUsize::new(0),
            queue: AtomicUsize::new(queue),
            in_service: std::sync::Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A place in the service for one request, unless it is full.
    pub fn admit(&self) -> Result<Admitted, Overloaded> {
        let limit = self.worker_count + self.queue.load(Ordering::Relaxed);
        let before = self.in_service.fetch_add(1, Ordering::AcqRel);
        let place = Admitted(std::sync::Arc::clone(&self.in_service));
        if before >= limit {
            return Err(Overloaded);
        }
        Ok(place)
    }

    pub fn resize_queue(&self, queue: usize) {
        self.queue.store(queue, Ordering::Relaxed);
    }

    /// Waits for a worker, unless too many wait already.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, Overloaded> {
        if let Ok(p) = std::sync::Arc::clone(&self.workers).try_acquire_owned() {
            return Ok(p);
        }
        let before = self.waiting.fetch_add(1, Ordering::AcqRel);
        // Counted out however the wait ends: also when the request is dropped while it
        // waits (its client gave up), or the queue would shrink by one each time.
        let _waiting = Waiting(&self.waiting);
        if before >= self.queue.load(Ordering::Relaxed) {
            return Err(Overloaded);
        }
        std::sync::Arc::clone(&self.workers)
            .acquire_owned()
            .await
            .map_err(|_| Overloaded)
    }
}

/// One place in the queue, given back when dropped.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Sources tracked at most; the oldest are forgotten first.
const MAX_SOURCES: usize = 10_000;
/// Bad keys from one source within this window count together.
const WINDOW: Duration = Duration::from_secs(600);
/// At most one audit event per source this often; the ones between are counted.
pub const AUDIT_EVERY: Duration = Duration::from_secs(10);
/// At most one bad-key audit event this often, whatever the source; the requests not
/// told yet are told by that source's next event.
pub const ANY_AUDIT_EVERY: Duration = Duration::from_secs(1);
/// Free attempts before answers slow down, and the longest delay.
const FREE: u32 = 3;
const MAX_DELAY: Duration = Duration::from_secs(5);

struct Source {
    first: Instant,
    count: u32,
    last_audit: Option<Instant>,
    unaudited: u64,
}

/// Wrong or missing API keys per source address.
#[derive(Default)]
pub struct BadKeys {
    sources: Mutex<HashMap<IpAddr, Source>>,
    /// The last audit event for any source: at most one a second in all, so sources
    /// that keep changing (a local user has 127.0.0.0/8) cannot flood the log.
    last_any: Mutex<Option<Instant>>,
}

/// What to do about one more bad key: wait this long before answering, and audit this
/// many requests now (0: not yet).
pub struct Penalty {
    pub delay: Duration,
    pub audit: u64,
}

impl BadKeys {
    pub fn record(&self, ip: IpAddr) -> Penalty {
        let now = Instant::now();
        let Ok(mut map) = self.sources.lock() else {
            return Penalty {
                delay: MAX_DELAY,
                audit: 1,
            };
        };
        if map.len() >= MAX_SOURCES && !map.contains_key(&ip) {
            map.retain(|_, s| now.duration_since(s.first) < WINDOW);
            if map.len() >= MAX_SOURCES
                && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.first).map(|(k, _)| *k)
            {
                map.remove(&oldest);
            }
        }
        let s = map.entry(ip).or_insert(Source {
            first: now,
            count: 0,
            last_audit: None,
            unaudited: 0,
        });
        if now.duration_since(s.first) >= WINDOW {
            s.first = now;
            s.count = 0;
        }
        s.count = s.count.saturating_add(1);
        s.unaudited += 1;
        let any_due = self
            .last_any
            .lock()
            .map(|mut l| {
                let due = l.is_none_or(|t| now.duration_since(t) >= ANY_AUDIT_EVERY);
                if due
                    && s.last_audit
                        .is_none_or(|t| now.duration_since(t) >= AUDIT_EVERY)
                {
                    *l = Some(now);
                }
                due
            })
            .unwrap_or(false);
        let audit = if any_due
            && s.last_audit
                .is_none_or(|t| now.duration_since(t) >= AUDIT_EVERY)
        {
            s.last_audit = Some(now);
            std::mem::take(&mut s.unaudited)
        } else {
            0
        };
        let delay = if s.count <= FREE {
            Duration::ZERO
        } else {
            let steps = (s.count - FREE).min(10);
            (Duration::from_millis(250) * (1u32 << steps.min(5))).min(MAX_DELAY)
        };
        Penalty { delay, audit }
    }

    /// A right key from this source: its count starts again.
    pub fn forgive(&self, ip: IpAddr) {
        if let Ok(mut map) = self.sources.lock()
            && let Some(s) = map.get_mut(&ip)
        {
            s.count = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bad_keys_slow_down_after_three_and_are_audited_once_per_window() {
        let b = BadKeys::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let first = b.record(ip);
        assert_eq!(first.delay, Duration::ZERO);
        assert_eq!(first.audit, 1);
        assert_eq!(b.record(ip).audit, 0);
        b.record(ip);
        let fourth = b.record(ip);
        assert!(
            fourth.delay >= Duration::from_millis(500),
            "{:?}",
            fourth.delay
        );
        for _ in 0..20 {
            assert!(b.record(ip).delay <= MAX_DELAY);
        }
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert_eq!(b.record(other).delay, Duration::ZERO);
    }

    #[test]
    fn many_sources_at_once_make_at_most_one_audit_event_a_second() {
        let b = BadKeys::default();
        let audited: u64 = (0..200u32)
            .map(|i| {
                let ip = IpAddr::from([127, 0, (i / 256) as u8, (i % 256) as u8]);
                u64::from(b.record(ip).audit > 0)
            })
            .sum();
        assert_eq!(audited, 1);
    }

    #[tokio::test]
    async fn a_full_queue_answers_overloaded() {
        let g = std::sync::Arc::new(Gate::new(1, 1));
        let held = g.enter().await.unwrap();
        let g2 = std::sync::Arc::clone(&g);
        let waiter = tokio::spawn(async move { g2.enter().await.map(drop) });
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(g.enter().await.is_err(), "a second waiter beyond the queue");
        drop(held);
        assert!(waiter.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_frees_its_place_in_the_queue() {
        let g = std::sync::Arc::new(Gate::new(1, 1));
        let held = g.enter().await.unwrap();
        for _ in 0..3 {
            let g2 = std::sync::Arc::clone(&g);
            let waiter = tokio::spawn(async move { g2.enter().await.map(drop) });
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(!waiter.is_finished(), "a waiter within the queue waits");
            waiter.abort();
            assert!(waiter.await.unwrap_err().is_cancelled());
        }
        let g2 = std::sync::Arc::clone(&g);
        let waiter = tokio::spawn(async move { g2.enter().await.map(drop) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "the queue still has its place");
        drop(held);
        assert!(waiter.await.unwrap().is_ok());
    }
}
