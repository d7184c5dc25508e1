//! The internal hop's authentication: an HMAC-SHA256, under the cluster's shared secret, over
//! what the forwarded request is and who sent it (method, path, time, sending member, the
//! principal the edge authenticated, the client's address, the body's digest). The owner
//! trusts the principal it carries: the client's credentials are checked once, at the edge.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::hmac;
use sha2::{Digest, Sha256};

use super::member::{hex, unhex};

/// How far a hop's time may be from the receiver's clock.
const SKEW: Duration = Duration::from_secs(30);

pub(crate) struct HopKey(hmac::Key);

/// What a hop says beside the request itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hop {
    /// The sending member (hex).
    pub from: String,
    /// Milliseconds since the Unix epoch, at the sender.
    pub time_ms: u64,
    /// The principal the edge authenticated, as `http` encodes it.
    pub principal: String,
    /// The client's address, as the edge found it.
    pub client: String,
}

impl HopKey {
    pub(crate) fn new(secret: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// The signature (hex) of `hop` over a request.
    pub(crate) fn sign(&self, method: &str, path: &str, hop: &Hop, body: &[u8]) -> String {
        let tag = hmac::sign(&self.0, &message(method, path, hop, body));
        hex(tag.as_ref())
    }

    /// Whether `signature` is `hop`'s over this request and `hop` is fresh at `now_ms`.
    pub(crate) fn verify(
        &self,
        method: &str,
        path: &str,
        hop: &Hop,
        body: &[u8],
        signature: &str,
        now_ms: u64,
    ) -> bool {
        let fresh = now_ms.abs_diff(hop.time_ms) <= SKEW.as_millis() as u64;
        let Some(tag) = unhex(signature) else {
            return false;
        };
        fresh && hmac::verify(&self.0, &message(method, path, hop, body), &tag).is_ok()
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn message(method: &str, path: &str, hop: &Hop, body: &[u8]) -> Vec<u8> {
    let digest = Sha256::digest(body);
    let mut m = Vec::with_capacity(160 + path.len());
    for part in [
        "mcp-gateway hop v1",
        method,
        path,
        &hop.time_ms.to_string(),
        &hop.from,
        &hop.principal,
        &hop.client,
    ] {
        m.extend_from_slice(part.as_bytes());
        m.push(0);
    }
    m.extend_from_slice(&digest);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop() -> Hop {
        Hop {
            from: "ab".repeat(16),
            time_ms: 1_000_000,
            principal: "k:alice".into(),
            client: "10.0.0.9".into(),
        }
    }

    #[test]
    fn a_signature_covers_every_part_of_the_hop() {
        let key = HopKey::new(&[1; 32]);
        let sig = key.sign("POST", "/services/s/call", &hop(), b"{}");
        let ok = |method: &str, path: &str, h: &Hop, body: &[u8], now: u64| {
            key.verify(method, path, h, body, &sig, now)
        };
        assert!(ok("POST", "/services/s/call", &hop(), b"{}", 1_000_000));
        assert!(
            ok("POST", "/services/s/call", &hop(), b"{}", 1_029_000),
            "within the skew"
        );
        assert!(
            !ok("POST", "/services/s/call", &hop(), b"{}", 1_031_000),
            "stale"
        );
        assert!(
            !ok("GET", "/services/s/call", &hop(), b"{}", 1_000_000),
            "method"
        );
        assert!(
            !ok("POST", "/services/t/call", &hop(), b"{}", 1_000_000),
            "path"
        );
        assert!(
            !ok("POST", "/services/s/call", &hop(), b"{ }", 1_000_000),
            "body"
        );
        for change in [
            Hop {
                principal: "a".into(),
                ..hop()
            },
            Hop {
                client: "10.0.0.8".into(),
                ..hop()
            },
            Hop {
                from: "cd".repeat(16),
                ..hop()
            },
            Hop {
                time_ms: 1_000_001,
                ..hop()
            },
        ] {
            assert!(
                !ok("POST", "/services/s/call", &change, b"{}", 1_000_000),
                "{change:?}"
            );
        }
        let other = HopKey::new(&[2; 32]);
        assert!(!other.verify("POST", "/services/s/call", &hop(), b"{}", &sig, 1_000_000));
        assert!(!key.verify("POST", "/services/s/call", &hop(), b"{}", "zz", 1_000_000));
        assert!(!key.verify("POST", "/services/s/call", &hop(), b"{}", "", 1_000_000));
    }
}
