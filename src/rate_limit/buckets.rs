//! The limits as one process counts them: a token bucket per caller for the rate, and the
//! open websockets per user. A bucket holds `burst` requests and refills at the per-minute
//! rate; an empty one answers with the seconds until its next token, which the edge sends as
//! `Retry-After` on a 429.
//!
//! Alone, they are the limits of a single instance; behind several, they are what each
//! replica falls back to while the shared store ([`super::shared`]) is out of reach.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// Buckets kept before the full ones (as good as new) are forgotten.
const PRUNE_ABOVE: usize = 10_000;

/// The buckets of every caller.
#[derive(Debug)]
pub struct Buckets {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Buckets {
    /// `per_minute` requests a minute after a burst of `burst`; `None` when `per_minute` is 0
    /// (no limit).
    pub(super) fn new(per_minute: u32, burst: u32) -> Option<Self> {
        (per_minute > 0).then(|| Self {
            per_second: f64::from(per_minute) / 60.0,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Takes one request from `key`'s bucket, or says how many seconds until it holds one.
    pub(super) fn take(&self, key: &str) -> Result<(), u64> {
        self.take_at(key, Instant::now())
    }

    fn take_at(&self, key: &str, now: Instant) -> Result<(), u64> {
        // A panic elsewhere while holding the lock leaves counters, not broken invariants.
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, bucket| self.refilled(*bucket, now) < self.burst);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let tokens = self.refilled(*bucket, now);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                at: now,
            };
            Ok(())
        } else {
            *bucket = Bucket { tokens, at: now };
            // At least 1: `Retry-After: 0` would invite an immediate retry that fails again.
            let wait = ((1.0 - tokens) / self.per_second).ceil();
            Err((wait as u64).max(1))
        }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        (bucket.tokens + elapsed * self.per_second).min(self.burst)
    }
}

/// Open websockets per user.
#[derive(Debug, Default)]
pub(super) struct Sockets(Mutex<HashMap<String, usize>>);

/// One open websocket of a user, counted until dropped.
#[derive(Debug)]
pub(super) struct SocketCount {
    sockets: Arc<Sockets>,
    key: String,
}

impl Sockets {
    /// A place for one more websocket of `key`, unless they hold `max` already.
    pub(super) fn open(self: &Arc<Self>, key: &str, max: usize) -> Option<SocketCount> {
        let mut open = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key.to_owned()).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(SocketCount {
            sockets: self.clone(),
            key: key.to_owned(),
        })
    }
}

impl Drop for SocketCount {
    fn drop(&mut self) {
        let mut open = self
            .sockets
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_the_rate() {
        let limiter = Buckets::new(60, 3).expect("a rate");
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.take_at("a", start), Ok(()));
        }
        assert_eq!(limiter.take_at("a", start), Err(1));
        // Another caller has a bucket of its own.
        assert_eq!(limiter.take_at("b", start), Ok(()));
        // One a second comes back.
        assert_eq!(limiter.take_at("a", start + Duration::from_secs(1)), Ok(()));
        assert_eq!(limiter.take_at("a", start + Duration::from_secs(1)), Err(1));
    }

    #[test]
    fn retry_after_is_the_wait_for_one_request() {
        let limiter = Buckets::new(6, 1).expect("a rate");
        let start = Instant::now();
        assert_eq!(limiter.take_at("a", start), Ok(()));
        assert_eq!(limiter.take_at("a", start), Err(10));
        assert_eq!(limiter.take_at("a", start + Duration::from_secs(4)), Err(6));
        assert_eq!(
            limiter.take_at("a", start + Duration::from_secs(11)),
            Ok(())
        );
    }

    #[test]
    fn zero_per_minute_is_no_limit() {
        assert!(Buckets::new(0, 10).is_none());
    }
}
