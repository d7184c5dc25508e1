//! The `cluster` section: several replicas behind a balancer, sharing a Redis for membership
//! and session placement (docs/scale-out.md). Absent, the gateway is one replica, as ever.

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;

use super::types::{Advertise, ClusterConfig, ServerConfig};
use super::walk::{Diags, MINUTE, Obj, Secs, kind, read_str};

/// The shortest hop secret accepted, in bytes.
const MIN_SECRET: usize = 32;
/// A session key: 32 bytes (ChaCha20-Poly1305), given in base64.
const KEY_BYTES: usize = 32;

pub(super) fn cluster(
    mut o: Obj<'_>,
    server: &ServerConfig,
    d: &mut Diags<'_>,
) -> Option<ClusterConfig> {
    let redis_uri = o.read(d, "redis_uri", |v| redis_uri(read_str(v)?));
    let advertise = o.read(d, "advertise", |v| advertise(read_str(v)?));
    let secret = o.read(d, "secret", |v| {
        let s = read_str(v)?;
        if s.len() < MIN_SECRET {
            return Err(format!(
                "must be at least {MIN_SECRET} bytes (the replicas' shared HMAC key), got {}",
                s.len()
            ));
        }
        Ok(s.as_bytes().to_vec())
    });
    let session_keys = o.read(d, "session_keys", session_keys);
    let member_ttl = o.secs(
        d,
        "member_ttl",
        Duration::from_secs(3),
        Secs {
            zero_ok: false,
            max: MINUTE,
        },
    );
    let name = o.string(d, "name").unwrap_or_else(|| "default".into());
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        d.error(
            &o.key("name"),
            "must be non-empty and use only [A-Za-z0-9_.-] (it prefixes the Redis keys)",
        );
    }
    if member_ttl < Duration::from_millis(300) {
        d.error(
            &o.key("member_ttl"),
            format!(
                "must be at least 0.3 seconds (a replica renews it every third), got {}",
                member_ttl.as_secs_f64()
            ),
        );
    }
    let absent = |o: &Obj<'_>, key: &str| !o.has(key);
    let required = [
        (
            "redis_uri",
            redis_uri.is_none(),
            "the Redis every replica shares (redis://host:port[/db])",
        ),
        (
            "secret",
            secret.is_none(),
            "a random string of 32 bytes or more, the same on every replica",
        ),
        (
            "session_keys",
            session_keys.is_none(),
            "an array of base64 32-byte keys, the same on every replica (the first seals)",
        ),
        (
            "advertise",
            advertise.is_none() && server.host.is_unspecified(),
            "the host:port the other replicas reach this one at (server.host is a wildcard)",
        ),
    ];
    for (key, unset, what) in required {
        if unset && absent(&o, key) {
            d.error(&o.key(key), format!("is required: {what}"));
        }
    }
    if server.tls.is_some() {
        d.error(
            &o.key("redis_uri"),
            "cluster with server TLS is not supported: terminate TLS at the balancer and serve \
             plain HTTP on a private network",
        );
    }
    let advertise = advertise
        .or_else(|| (!server.host.is_unspecified()).then_some(Advertise::Bound(server.host)));
    o.finish(d);
    Some(ClusterConfig {
        redis_uri: redis_uri?,
        advertise: advertise?,
        secret: secret?,
        session_keys: session_keys?,
        member_ttl,
        name,
    })
}

fn redis_uri(uri: &str) -> Result<String, String> {
    if !uri.starts_with("redis://") {
        return Err(format!(
            "must be a redis://host:port[/db] URI, got {uri:?} (rediss:// is not supported)"
        ));
    }
    redis::Client::open(uri)
        .map(|_| uri.to_owned())
        .map_err(|e| format!("invalid Redis URI {uri:?}: {e}"))
}

/// `host:port`: an IP or a DNS name, and a port.
fn advertise(s: &str) -> Result<Advertise, String> {
    let bad = || format!("expected host:port (e.g. \"10.0.0.7:8080\"), got {s:?}");
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if port == 0
        || host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
    {
        return Err(bad());
    }
    if host.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified()) {
        return Err(format!(
            "must be an address other replicas can reach, got the wildcard {s:?}"
        ));
    }
    Ok(Advertise::Fixed(s.to_owned()))
}

fn session_keys(v: &serde_json::Value) -> Result<Vec<[u8; KEY_BYTES]>, String> {
    let serde_json::Value::Array(items) = v else {
        return Err(format!("expected an array of base64 keys, got {}", kind(v)));
    };
    if items.is_empty() {
        return Err("must hold at least one key (the first seals new session ids)".into());
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let text = read_str(item).map_err(|e| format!("[{i}]: {e}"))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|e| format!("[{i}]: not base64: {e}"))?;
            <[u8; KEY_BYTES]>::try_from(bytes.as_slice()).map_err(|_| {
                format!(
                    "[{i}]: must decode to {KEY_BYTES} bytes, got {} (try `openssl rand -base64 32`)",
                    bytes.len()
                )
            })
        })
        .collect()
}
