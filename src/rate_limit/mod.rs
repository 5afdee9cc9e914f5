//! The limits on each caller: requests per minute (per token subject, or per address without
//! a token), and websockets open at once per user.
//!
//! With REDIS_URL, every replica counts in the same place (`shared`), so that N replicas
//! allow what one does. Without it, or while Redis is out of reach, each process counts alone
//! (`buckets`): a caller spread over N replicas then gets up to N times the limit, which is
//! better than refusing every user, or than no limit at all. Behind a proxy, anonymous callers
//! share the proxy's address (put the proxy's own limit first).

mod buckets;
mod shared;

use std::sync::Arc;

use buckets::{Buckets, SocketCount, Sockets};
use shared::{Shared, SharedSocket};

/// The limits of one replica.
#[derive(Debug)]
pub struct Limiter {
    /// `None`: no rate limit (RATE_LIMIT_PER_MINUTE=0).
    rate: Option<Rate>,
    sockets: Arc<Sockets>,
    shared: Option<Arc<Shared>>,
}

#[derive(Debug)]
struct Rate {
    per_minute: u32,
    burst: u32,
    alone: Buckets,
}

/// One open websocket, counted until dropped (in this process, and in Redis when it answered).
#[derive(Debug)]
pub struct SocketSlot {
    _alone: SocketCount,
    _shared: Option<SharedSocket>,
}

impl Limiter {
    /// `per_minute` requests a minute after a burst of `burst` (0 per minute: no rate limit),
    /// shared through the Redis at `redis_url` when there is one, its keys under `prefix`.
    pub fn new(
        per_minute: u32,
        burst: u32,
        redis_url: Option<&str>,
        prefix: &str,
    ) -> Result<Self, String> {
        Ok(Self {
            rate: Buckets::new(per_minute, burst).map(|alone| Rate {
                per_minute,
                burst,
                alone,
            }),
            sockets: Arc::default(),
            shared: redis_url
                .map(|url| Shared::start(url, prefix))
                .transpose()?,
        })
    }

    /// Whether requests are limited at all.
    pub fn limits_rate(&self) -> bool {
        self.rate.is_some()
    }

    /// Takes one request of `key`'s rate, or says how many seconds until it may.
    pub async fn take(&self, key: &str) -> Result<(), u64> {
        let Some(rate) = &self.rate else {
            return Ok(());
        };
        if let Some(shared) = &self.shared
            && let Some(taken) = shared.take(key, rate.per_minute, rate.burst).await
        {
            return taken;
        }
        rate.alone.take(key)
    }

    /// A place for one more websocket of `key`, unless they hold `max` already.
    pub async fn open_socket(&self, key: &str, max: usize) -> Option<SocketSlot> {
        let alone = self.sockets.open(key, max)?;
        let shared = match &self.shared {
            Some(shared) => match shared.open(key, max).await {
                Some(Some(socket)) => Some(socket),
                Some(None) => return None,
                None => None,
            },
            None => None,
        };
        Some(SocketSlot {
            _alone: alone,
            _shared: shared,
        })
    }
}
