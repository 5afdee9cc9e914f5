//! The limits every replica shares, kept in Redis (REDIS_URL): the callers' token buckets and
//! the open websockets per user. Each check is one Lua script, which Redis runs atomically
//! with its own clock, so that two replicas taking from one bucket at once never both take its
//! last token, and replicas whose clocks differ agree on the refill.
//!
//! A websocket holds a member of its user's sorted set, scored by when it lapses. The replica
//! that holds it pushes that back every [`SOCKET_REFRESH`]; a replica that dies stops doing
//! so, and its sockets stop counting after [`SOCKET_LEASE`].
//!
//! Redis out of reach is not the users' fault: every call that fails, or takes longer than
//! [`RESPONSE_TIMEOUT`], answers `None`, and the caller counts in its own process instead.
//! The first failure is logged as a warning, the return as information; the gauge
//! `shared_limits_reachable` says which holds, and `shared_limits_fallbacks_total` counts the
//! decisions taken alone. After a failure, Redis is not asked again for [`RETRY_AFTER`], so
//! that an outage costs the requests nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;

/// Longest wait for Redis's answer (and for a connection) before deciding alone.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(250);
/// How long Redis is left alone after it failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How long a websocket counts without its replica's word.
const SOCKET_LEASE: Duration = Duration::from_secs(60);
/// How often a replica renews the leases of its websockets.
const SOCKET_REFRESH: Duration = Duration::from_secs(20);

/// A token bucket: KEYS[1] a hash {tokens, at (ms)}; ARGV tokens per millisecond, burst.
/// Returns 0 when a token was taken, else the seconds until one is there (at least 1).
static TAKE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local per_ms = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(bucket[1]) or burst
local at = tonumber(bucket[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * per_ms)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.max(1, math.ceil((1 - tokens) / per_ms / 1000))
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / per_ms) + 1000)
return wait
",
    )
});

/// One more websocket: KEYS[1] a sorted set of sockets scored by their lapse (ms); ARGV the
/// member, the most a user may hold, the lease (ms). Returns 1 when taken, 0 when full.
static OPEN: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
",
    )
});

/// Renews leases: KEYS the sorted sets, ARGV the lease (ms) then one member per key.
static RENEW: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local lease = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now + lease, ARGV[i + 1])
  redis.call('PEXPIRE', key, lease)
end
return #KEYS
",
    )
});

/// The shared store of one replica.
pub(super) struct Shared {
    client: redis::Client,
    connection: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    /// Prefix of every key (REDIS_KEY_PREFIX): deployments sharing a Redis stay apart.
    prefix: String,
    /// This replica's name in socket members.
    replica: String,
    /// Sockets this replica holds, by member: their set's key.
    held: Mutex<HashMap<String, String>>,
    next_socket: AtomicU64,
    /// No call to Redis before this instant (after a failure).
    quiet_until: Mutex<Option<Instant>>,
    reachable: AtomicBool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("Shared")
            .field("prefix", &self.prefix)
            .field("reachable", &self.reachable)
            .finish_non_exhaustive()
    }
}

/// A websocket counted in Redis; its member is removed when it is dropped.
#[derive(Debug)]
pub(super) struct SharedSocket {
    shared: Arc<Shared>,
    member: String,
}

impl Shared {
    /// The store at `url` (not contacted yet: a replica starts while Redis is down, and counts
    /// alone until it is back), and the task that renews this replica's socket leases.
    pub(super) fn start(url: &str, prefix: &str) -> Result<Arc<Self>, String> {
        let client = redis::Client::open(url).map_err(|e| format!("REDIS_URL: {e}"))?;
        let shared = Arc::new(Self {
            client,
            connection: tokio::sync::Mutex::new(None),
            prefix: prefix.to_owned(),
            replica: format!("{:016x}", rand::random::<u64>()),
            held: Mutex::new(HashMap::new()),
            next_socket: AtomicU64::new(0),
            quiet_until: Mutex::new(None),
            reachable: AtomicBool::new(true),
        });
        metrics::gauge!("shared_limits_reachable").set(1.0);
        tokio::spawn(renew_leases(Arc::downgrade(&shared)));
        Ok(shared)
    }

    /// Takes one token of `key`'s bucket: `Ok`, or the seconds to wait; `None` when Redis did
    /// not answer.
    pub(super) async fn take(
        &self,
        key: &str,
        per_minute: u32,
        burst: u32,
    ) -> Option<Result<(), u64>> {
        let per_ms = f64::from(per_minute) / 60_000.0;
        let key = format!("{}:rate:{key}", self.prefix);
        let wait: u64 = self
            .run(|mut connection| async move {
                TAKE.key(key)
                    .arg(per_ms)
                    .arg(burst)
                    .invoke_async(&mut connection)
                    .await
            })
            .await?;
        Some(if wait == 0 { Ok(()) } else { Err(wait) })
    }

    /// A place for one more websocket of `key`: `Some(Some(_))` when taken, `Some(None)` when
    /// the user holds `max` already; `None` when Redis did not answer.
    pub(super) async fn open(
        self: &Arc<Self>,
        key: &str,
        max: usize,
    ) -> Option<Option<SharedSocket>> {
        let set = format!("{}:sockets:{key}", self.prefix);
        let member = format!(
            "{}:{}",
            self.replica,
            self.next_socket.fetch_add(1, Ordering::Relaxed)
        );
        let lease = u64::try_from(SOCKET_LEASE.as_millis()).unwrap_or(u64::MAX);
        let (script_set, script_member) = (set.clone(), member.clone());
        let taken: i64 = self
            .run(|mut connection| async move {
                OPEN.key(script_set)
                    .arg(script_member)
                    .arg(max)
                    .arg(lease)
                    .invoke_async(&mut connection)
                    .await
            })
            .await?;
        if taken == 0 {
            return Some(None);
        }
        self.held_sockets().insert(member.clone(), set);
        Some(Some(SharedSocket {
            shared: self.clone(),
            member,
        }))
    }

    fn held_sockets(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs one command on the connection, made (again) when there is none.
    async fn run<T, F, Fut>(&self, command: F) -> Option<T>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let connection = self.redis().await?;
        match tokio::time::timeout(RESPONSE_TIMEOUT, command(connection)).await {
            Ok(Ok(answer)) => {
                self.reached();
                Some(answer)
            }
            Ok(Err(err)) => {
                self.failed(&err.to_string()).await;
                None
            }
            Err(_) => {
                self.failed("no answer in time").await;
                None
            }
        }
    }

    async fn redis(&self) -> Option<MultiplexedConnection> {
        if self.quiet() {
            metrics::counter!("shared_limits_fallbacks_total").increment(1);
            return None;
        }
        let mut connection = self.connection.lock().await;
        if let Some(open) = connection.as_ref() {
            return Some(open.clone());
        }
        // Another request may have failed while this one waited for the lock.
        if self.quiet() {
            metrics::counter!("shared_limits_fallbacks_total").increment(1);
            return None;
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        match self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(open) => {
                *connection = Some(open.clone());
                Some(open)
            }
            Err(err) => {
                drop(connection);
                self.failed(&err.to_string()).await;
                None
            }
        }
    }

    fn quiet(&self) -> bool {
        let quiet_until = self
            .quiet_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        quiet_until.is_some_and(|until| Instant::now() < until)
    }

    fn reached(&self) {
        if !self.reachable.swap(true, Ordering::Relaxed) {
            metrics::gauge!("shared_limits_reachable").set(1.0);
            tracing::info!("Redis is reachable again: the limits are shared by every replica");
        }
    }

    async fn failed(&self, reason: &str) {
        metrics::counter!("shared_limits_fallbacks_total").increment(1);
        *self
            .quiet_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + RETRY_AFTER);
        // The next call connects anew.
        *self.connection.lock().await = None;
        if self.reachable.swap(false, Ordering::Relaxed) {
            metrics::gauge!("shared_limits_reachable").set(0.0);
            tracing::warn!(
                "Redis is out of reach ({reason}): the rate limit and the websocket caps are \
                 counted by each replica alone until it is back"
            );
        }
    }
}

impl Drop for SharedSocket {
    fn drop(&mut self) {
        let Some(set) = self.shared.held_sockets().remove(&self.member) else {
            return;
        };
        let (shared, member) = (self.shared.clone(), std::mem::take(&mut self.member));
        // Out of Redis's reach, the lease lapses by itself.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                shared
                    .run(|mut connection| async move {
                        redis::cmd("ZREM")
                            .arg(set)
                            .arg(member)
                            .query_async::<i64>(&mut connection)
                            .await
                    })
                    .await;
            });
        }
    }
}

/// Renews the leases of the sockets `shared` holds, until it is gone.
async fn renew_leases(shared: Weak<Shared>) {
    let lease = u64::try_from(SOCKET_LEASE.as_millis()).unwrap_or(u64::MAX);
    loop {
        tokio::time::sleep(SOCKET_REFRESH).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let held: Vec<(String, String)> = shared
            .held_sockets()
            .iter()
            .map(|(member, set)| (member.clone(), set.clone()))
            .collect();
        for chunk in held.chunks(500) {
            let chunk = chunk.to_vec();
            shared
                .run(|mut connection| async move {
                    let mut renew = RENEW.prepare_invoke();
                    renew.arg(lease);
                    for (member, set) in &chunk {
                        renew.key(set).arg(member);
                    }
                    renew.invoke_async::<i64>(&mut connection).await
                })
                .await;
        }
    }
}
