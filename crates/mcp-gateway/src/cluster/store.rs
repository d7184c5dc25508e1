//! What the replicas share in Redis, under `mcp-gateway:cluster:{name}:`:
//! - `member:{id}` = the member's internal address, a lease of `member_ttl` renewed every
//!   third of it; `members` = the set of ids ever seen (pruned of expired leases);
//! - `pin:{session}` = the member owning a REST session, claimed with `SET NX` and renewed by
//!   its owner while the session lives.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::member::MemberId;

/// Claim `KEYS[1]` for `ARGV[1]` unless another member holds it; returns the holder.
const CLAIM: &str = r"
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
";

/// Renew each pin of `KEYS` held by `ARGV[1]` (or lost meanwhile, then taken again).
const RENEW: &str = r"
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if (not v) or v == ARGV[1] then
    redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
  end
end
return #KEYS
";

/// Delete `KEYS[1]` if it still holds `ARGV[1]`.
const UNPIN: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

pub(super) struct Store {
    connection: ConnectionManager,
    prefix: String,
    claim: redis::Script,
    renew: redis::Script,
    unpin: redis::Script,
}

pub(super) type StoreResult<T> = Result<T, redis::RedisError>;

impl Store {
    /// A lazily connecting client: a replica starts while Redis is down and is not ready
    /// until it has joined.
    pub(super) fn new(uri: &str, name: &str, timeout: Duration) -> Result<Self, String> {
        let client = redis::Client::open(uri).map_err(|e| e.to_string())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection =
            ConnectionManager::new_lazy_with_config(client, config).map_err(|e| e.to_string())?;
        Ok(Self {
            connection,
            prefix: format!("mcp-gateway:cluster:{name}:"),
            claim: redis::Script::new(CLAIM),
            renew: redis::Script::new(RENEW),
            unpin: redis::Script::new(UNPIN),
        })
    }

    fn member_key(&self, id: &MemberId) -> String {
        format!("{}member:{id}", self.prefix)
    }

    fn pin_key(&self, session: &str) -> String {
        format!("{}pin:{session}", self.prefix)
    }

    fn members_key(&self) -> String {
        format!("{}members", self.prefix)
    }

    /// Renew this member's lease and read every live member's address.
    pub(super) async fn beat(
        &self,
        me: &MemberId,
        address: &str,
        ttl: Duration,
    ) -> StoreResult<Vec<(MemberId, String)>> {
        let mut c = self.connection.clone();
        let (ids,): (Vec<String>,) = redis::pipe()
            .cmd("SET")
            .arg(self.member_key(me))
            .arg(address)
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .ignore()
            .cmd("SADD")
            .arg(self.members_key())
            .arg(me.to_string())
            .ignore()
            .cmd("SMEMBERS")
            .arg(self.members_key())
            .query_async(&mut c)
            .await?;
        let ids: Vec<MemberId> = ids.iter().filter_map(|s| s.parse().ok()).collect();
        let keys: Vec<String> = ids.iter().map(|id| self.member_key(id)).collect();
        let addresses: Vec<Option<String>> =
            redis::cmd("MGET").arg(&keys).query_async(&mut c).await?;
        let mut live = Vec::new();
        let mut gone = Vec::new();
        for (id, address) in ids.into_iter().zip(addresses) {
            match address {
                Some(address) => live.push((id, address)),
                None => gone.push(id.to_string()),
            }
        }
        if !gone.is_empty() {
            let _: () = redis::cmd("SREM")
                .arg(self.members_key())
                .arg(&gone)
                .query_async(&mut c)
                .await?;
        }
        Ok(live)
    }

    /// End this member's lease now (drain): its sessions are unknown everywhere from now on.
    pub(super) async fn leave(&self, me: &MemberId) -> StoreResult<()> {
        let mut c = self.connection.clone();
        redis::pipe()
            .cmd("DEL")
            .arg(self.member_key(me))
            .ignore()
            .cmd("SREM")
            .arg(self.members_key())
            .arg(me.to_string())
            .ignore()
            .query_async(&mut c)
            .await
    }

    /// The address of `member` while its lease lives.
    pub(super) async fn member(&self, member: &MemberId) -> StoreResult<Option<String>> {
        let mut c = self.connection.clone();
        redis::cmd("GET")
            .arg(self.member_key(member))
            .query_async(&mut c)
            .await
    }

    /// The member `session` is pinned to, if any.
    pub(super) async fn pin(&self, session: &str) -> StoreResult<Option<MemberId>> {
        let mut c = self.connection.clone();
        let v: Option<String> = redis::cmd("GET")
            .arg(self.pin_key(session))
            .query_async(&mut c)
            .await?;
        Ok(v.and_then(|v| v.parse().ok()))
    }

    /// Pin `session` to `me` unless it is pinned already; returns the member it is pinned to.
    pub(super) async fn claim(
        &self,
        session: &str,
        me: &MemberId,
        ttl: Duration,
    ) -> StoreResult<Option<MemberId>> {
        let mut c = self.connection.clone();
        let holder: String = self
            .claim
            .key(self.pin_key(session))
            .arg(me.to_string())
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut c)
            .await?;
        Ok(holder.parse().ok())
    }

    /// Renew the pins of the sessions `me` holds.
    pub(super) async fn renew(
        &self,
        sessions: &[String],
        me: &MemberId,
        ttl: Duration,
    ) -> StoreResult<()> {
        let mut c = self.connection.clone();
        for chunk in sessions.chunks(500) {
            let mut invocation = self.renew.prepare_invoke();
            for s in chunk {
                invocation.key(self.pin_key(s));
            }
            invocation.arg(me.to_string()).arg(ttl.as_millis() as u64);
            let _: i64 = invocation.invoke_async(&mut c).await?;
        }
        Ok(())
    }

    /// Drop `session`'s pin if it still names `owner` (a member whose lease is gone).
    pub(super) async fn unpin(&self, session: &str, owner: &MemberId) -> StoreResult<()> {
        let mut c = self.connection.clone();
        let _: i64 = self
            .unpin
            .key(self.pin_key(session))
            .arg(owner.to_string())
            .invoke_async(&mut c)
            .await?;
        Ok(())
    }
}
