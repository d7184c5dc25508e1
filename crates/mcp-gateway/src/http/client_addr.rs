//! The address a request comes from: the peer, or behind trusted proxies the client they name;
//! and the address a per-address budget is kept for.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderMap;

use crate::config::{IpNet, canonical};

/// The address a request comes from, after trusted proxies (inserted by the auth middleware).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientAddr(pub IpAddr);

/// The client of a request: the peer, unless the peer is a trusted proxy; then the rightmost
/// `X-Forwarded-For` hop that is not a trusted proxy (the leftmost if all are). A hop that is
/// not an address stops the walk: what lies left of it cannot be trusted.
pub(crate) fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    let mut client = canonical(peer);
    if !is_trusted(client) {
        return client;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else { break };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

/// `1.2.3.4`, `1.2.3.4:5678`, `::1` or `[::1]:5678`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    hop.parse::<SocketAddr>().ok().map(|s| canonical(s.ip()))
}

/// The address a per-address budget is kept for: IPv4 as is, IPv6 by its /64 (one host usually
/// holds a whole /64, so per-address budgets would otherwise be free to multiply).
pub(crate) fn budget_addr(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !(u128::MAX >> 64)).into()),
        v4 => v4,
    }
}

pub(crate) fn peer_of(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter()
            .map(|s| {
                let (a, p) = s.split_once('/').unwrap_or((s, ""));
                let addr: IpAddr = a.parse().unwrap();
                let prefix = p.parse().unwrap_or(if addr.is_ipv4() { 32 } else { 128 });
                IpNet { addr, prefix }
            })
            .collect()
    }

    fn check(peer: &str, xff: &[&str], trusted: &[&str], expected: &str) {
        let mut headers = HeaderMap::new();
        for v in xff {
            headers.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        let got = client_addr(peer.parse().unwrap(), &headers, &nets(trusted));
        assert_eq!(
            got,
            expected.parse::<IpAddr>().unwrap(),
            "peer {peer}, X-Forwarded-For {xff:?}, trusted {trusted:?}"
        );
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        // Not a proxy: the header is ignored (anyone can send it).
        check("203.0.113.9", &["1.1.1.1"], &[], "203.0.113.9");
        check("203.0.113.9", &["1.1.1.1"], &["10.0.0.0/8"], "203.0.113.9");
        // A trusted proxy: the rightmost untrusted hop.
        check("10.0.0.2", &["1.1.1.1"], &["10.0.0.0/8"], "1.1.1.1");
        check(
            "10.0.0.2",
            &["6.6.6.6, 1.1.1.1, 10.0.0.7"],
            &["10.0.0.0/8"],
            "1.1.1.1",
        );
        check(
            "10.0.0.2",
            &["6.6.6.6", "1.1.1.1"],
            &["10.0.0.0/8"],
            "1.1.1.1",
        );
        // Every hop trusted: the leftmost.
        check(
            "10.0.0.2",
            &["10.0.0.9, 10.0.0.7"],
            &["10.0.0.0/8"],
            "10.0.0.9",
        );
        // Garbage stops the walk at the last good hop.
        check("10.0.0.2", &["1.1.1.1, junk"], &["10.0.0.0/8"], "10.0.0.2");
        check("10.0.0.2", &[], &["10.0.0.0/8"], "10.0.0.2");
        // Ports and IPv6, and IPv4-mapped peers.
        check("10.0.0.2", &["1.1.1.1:443"], &["10.0.0.0/8"], "1.1.1.1");
        check("::1", &["[2001:db8::1]:80"], &["::1"], "2001:db8::1");
        check("::ffff:10.0.0.2", &["1.1.1.1"], &["10.0.0.0/8"], "1.1.1.1");
    }

    #[test]
    fn ipv6_budgets_are_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(budget_addr(a), budget_addr(b));
        assert_ne!(budget_addr(a), budget_addr(c));
        assert_eq!(budget_addr(a).to_string(), "2001:db8:1:2::");
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(budget_addr(v4), v4);
        assert_eq!(budget_addr("::ffff:192.0.2.1".parse().unwrap()), v4);
    }
}
