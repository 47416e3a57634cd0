//! Who a client is, for the limits: its address, or the network it controls.
//!
//! An IPv4 client is its address; an IPv6 client is its /64 (one subscriber line or one
//! host is given a whole /64, so counting addresses inside it would let one client be many).
//! Behind a reverse proxy the TCP peer is the proxy: `X-Forwarded-For` is read only from
//! trusted forwarders, from the right, and the first address that is not itself a trusted
//! forwarder is the client (the entries to its left were written by the client and prove
//! nothing).

use std::net::IpAddr;

use ipnet::IpNet;

/// The unit the limits count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    V4([u8; 4]),
    /// The first 64 bits.
    V6([u8; 8]),
    /// No address known (an in-process call).
    Unknown,
}

impl ClientKey {
    /// The key of `ip` (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self::V4(v4.octets()),
            IpAddr::V6(v6) => {
                let mut prefix = [0u8; 8];
                prefix.copy_from_slice(&v6.octets()[..8]);
                Self::V6(prefix)
            }
        }
    }

    /// The client behind `peer`, given the `X-Forwarded-For` values in order.
    pub fn behind<'a>(
        peer: Option<IpAddr>,
        forwarded_for: impl Iterator<Item = &'a str>,
        trusted: &[IpNet],
    ) -> Self {
        let Some(peer) = peer.map(|p| p.to_canonical()) else {
            return Self::Unknown;
        };
        let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
        if !is_trusted(&peer) {
            return Self::of(peer);
        }
        let hops: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match parse_hop(hop) {
                Some(ip) => {
                    client = ip;
                    if !is_trusted(&ip) {
                        break;
                    }
                }
                // An entry we cannot read: what lies to its left cannot be trusted either.
                None => break,
            }
        }
        Self::of(client)
    }
}

/// One `X-Forwarded-For` entry: an address, maybe with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:4711`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sa) = hop.parse::<std::net::SocketAddr>() {
        return Some(sa.ip().to_canonical());
    }
    hop.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| h.parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
}

/// For log lines: the network, never the whole address (`192.0.2.x`, `2001:db8:1:2::/64`).
impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::V4([a, b, c, _]) => write!(f, "{a}.{b}.{c}.x"),
            Self::V6(p) => {
                let mut full = [0u8; 16];
                full[..8].copy_from_slice(p);
                write!(f, "{}/64", std::net::Ipv6Addr::from(full))
            }
            Self::Unknown => f.write_str("unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().filter_map(|s| s.parse().ok()).collect()
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        assert_eq!(
            ClientKey::of(ip("2001:db8:1:2::1")),
            ClientKey::of(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            ClientKey::of(ip("2001:db8:1:2::1")),
            ClientKey::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            ClientKey::of(ip("::ffff:192.0.2.7")),
            ClientKey::of(ip("192.0.2.7"))
        );
        assert_eq!(ClientKey::of(ip("192.0.2.7")).to_string(), "192.0.2.x");
        assert_eq!(
            ClientKey::of(ip("2001:db8:1:2::1")).to_string(),
            "2001:db8:1:2::/64"
        );
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_forwarders_and_from_the_right() {
        let trusted = nets(&["10.0.0.0/8"]);
        let proxy = Some(ip("10.0.0.5"));
        // A stranger's own header is ignored.
        assert_eq!(
            ClientKey::behind(
                Some(ip("198.51.100.9")),
                ["203.0.113.1"].into_iter(),
                &trusted
            ),
            ClientKey::of(ip("198.51.100.9"))
        );
        // The proxy appended the client's address: the client's forged entries to its left
        // do not count.
        assert_eq!(
            ClientKey::behind(proxy, ["1.2.3.4, 198.51.100.9"].into_iter(), &trusted),
            ClientKey::of(ip("198.51.100.9"))
        );
        // Two proxies deep, several headers, ports.
        assert_eq!(
            ClientKey::behind(
                proxy,
                ["1.2.3.4", "[2001:db8::7]:4711, 10.1.1.1:80"].into_iter(),
                &trusted
            ),
            ClientKey::of(ip("2001:db8::7"))
        );
        // Garbage stops the walk at the last address read.
        assert_eq!(
            ClientKey::behind(proxy, ["1.2.3.4, garbage, 10.9.9.9"].into_iter(), &trusted),
            ClientKey::of(ip("10.9.9.9"))
        );
        // No header: the proxy itself.
        assert_eq!(
            ClientKey::behind(proxy, std::iter::empty(), &trusted),
            ClientKey::of(ip("10.0.0.5"))
        );
        assert_eq!(
            ClientKey::behind(None, std::iter::empty(), &trusted),
            ClientKey::Unknown
        );
    }
}
