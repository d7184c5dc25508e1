//! The shared store: every replica runs the same GCRA step inside Redis, one script call (one
//! round trip) per check, on Redis's own clock so replicas need no synchronised clocks.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::bucket::{Bucket, StoreError};
use super::gcra::Verdict;

/// KEYS = buckets; ARGV = interval, period (microseconds) per bucket. Charges every bucket or
/// none; returns allowed, remaining, reset, retry-after, per bucket (flattened).
/// TATs are stored as microseconds since 2023-11-14 (`EPOCH`) so they stay exact as Lua
/// doubles, written with `%.0f` (Lua's default number format would round them).
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = (tonumber(t[1]) - 1700000000) * 1000000 + tonumber(t[2])
local out = {}
local new = {}
local ok = true
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local period = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  local ahead = tat + interval - now
  if ahead <= period then
    new[i] = tat + interval
    out[#out + 1] = 1
    out[#out + 1] = math.floor((period - ahead) / interval)
    out[#out + 1] = ahead
    out[#out + 1] = 0
  else
    ok = false
    out[#out + 1] = 0
    out[#out + 1] = 0
    out[#out + 1] = tat - now
    out[#out + 1] = ahead - period
  end
end
if ok then
  for i = 1, #KEYS do
    local ttl = math.ceil((new[i] - now) / 1000) + 1000
    redis.call('SET', KEYS[i], string.format('%.0f', new[i]), 'PX', string.format('%.0f', ttl))
  end
end
return out
";

/// Prefix of every key the gateway writes.
const PREFIX: &str = "mcp-gateway:rl:";

pub struct RedisStore {
    connection: ConnectionManager,
    script: redis::Script,
}

impl RedisStore {
    /// A lazily connecting client: the gateway starts even when Redis is down, and reconnects
    /// by itself when it returns.
    pub fn new(uri: &str, timeout: Duration) -> Result<Self, StoreError> {
        let client =
            redis::Client::open(uri).map_err(|e| StoreError::Unreachable(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| StoreError::Unreachable(e.to_string()))?;
        Ok(Self {
            connection,
            script: redis::Script::new(SCRIPT),
        })
    }

    /// `PING`: whether Redis answers now (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map(drop)
            .map_err(|e| StoreError::Unreachable(e.to_string()))
    }

    pub async fn check(&self, buckets: &[Bucket]) -> Result<Vec<Verdict>, StoreError> {
        let mut invocation = self.script.prepare_invoke();
        for b in buckets {
            invocation
                .key(format!("{PREFIX}{}", b.key))
                .arg(b.quota.interval_us())
                .arg(b.quota.period_us);
        }
        let mut connection = self.connection.clone();
        let flat: Vec<i64> = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(|e| StoreError::Unreachable(e.to_string()))?;
        if flat.len() != buckets.len() * 4 {
            return Err(StoreError::Unreachable(format!(
                "unexpected script reply of {} numbers",
                flat.len()
            )));
        }
        let n = |x: i64| u64::try_from(x).unwrap_or(0);
        Ok(flat
            .chunks_exact(4)
            .map(|c| Verdict {
                allowed: c[0] == 1,
                remaining: n(c[1]),
                reset_us: n(c[2]),
                retry_after_us: n(c[3]),
                new_tat: 0,
            })
            .collect())
    }
}
