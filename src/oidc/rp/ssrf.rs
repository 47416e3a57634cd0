//! Where an ENT's OpenID Provider may lead the gateway (against SSRF): the deny list of
//! special-purpose addresses (IPv4, IPv6, and IPv4 embedded in IPv6 in mapped, compatible,
//! NAT64 and 6to4 forms, checked against the IPv4 list) and the URL policy built on it.
//!
//! By default only public addresses over https are reached. An ENT whose configuration sets
//! `allow_private_network = true` (trials, tests, the demo on loopback) may also be reached on
//! loopback and private addresses, over http there.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// IPv4 ranges never reached without `allow_private_network` (RFC 6890 and its updates).
const DENIED_V4: [(Ipv4Addr, u8); 16] = [
    (Ipv4Addr::new(0, 0, 0, 0), 8),          // "this network"
    (Ipv4Addr::new(10, 0, 0, 0), 8),         // private
    (Ipv4Addr::new(100, 64, 0, 0), 10),      // shared address space (CGN)
    (Ipv4Addr::new(127, 0, 0, 0), 8),        // loopback
    (Ipv4Addr::new(169, 254, 0, 0), 16),     // link-local (cloud metadata)
    (Ipv4Addr::new(172, 16, 0, 0), 12),      // private
    (Ipv4Addr::new(192, 0, 0, 0), 24),       // IETF protocol assignments
    (Ipv4Addr::new(192, 0, 2, 0), 24),       // TEST-NET-1
    (Ipv4Addr::new(192, 88, 99, 0), 24),     // 6to4 relay anycast
    (Ipv4Addr::new(192, 168, 0, 0), 16),     // private
    (Ipv4Addr::new(198, 18, 0, 0), 15),      // benchmarking
    (Ipv4Addr::new(198, 51, 100, 0), 24),    // TEST-NET-2
    (Ipv4Addr::new(203, 0, 113, 0), 24),     // TEST-NET-3
    (Ipv4Addr::new(224, 0, 0, 0), 4),        // multicast
    (Ipv4Addr::new(240, 0, 0, 0), 4),        // reserved, with the broadcast address
    (Ipv4Addr::new(255, 255, 255, 255), 32), // limited broadcast
];

/// IPv6 ranges never reached without `allow_private_network`. The forms that embed an IPv4
/// address are handled by [`embedded_v4`] before this list.
const DENIED_V6: [(Ipv6Addr, u8); 10] = [
    (Ipv6Addr::UNSPECIFIED, 128),                         // ::/128
    (Ipv6Addr::LOCALHOST, 128),                           // ::1/128
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48),  // local-use NAT64 (RFC 8215)
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64),      // discard-only
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32),     // Teredo (embeds an obfuscated IPv4)
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),      // unique local
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),     // link-local
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10),     // site-local (deprecated)
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),      // multicast
];

fn in_v4(ip: Ipv4Addr, (net, len): (Ipv4Addr, u8)) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    u32::from(ip) & mask == u32::from(net) & mask
}

fn in_v6(ip: Ipv6Addr, (net, len): (Ipv6Addr, u8)) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    u128::from(ip) & mask == u128::from(net) & mask
}

/// The IPv4 address an IPv6 address stands for, in the forms a network may route to it:
/// IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d` (deprecated), SIIT
/// `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d` and 6to4 `2002:aabb:ccdd::/48`.
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new(
        (s[6] >> 8) as u8,
        (s[6] & 0xff) as u8,
        (s[7] >> 8) as u8,
        (s[7] & 0xff) as u8,
    );
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low),
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some(low),
        // `::` and `::1` are IPv6's own unspecified and loopback addresses, in the v6 list.
        [0, 0, 0, 0, 0, 0, _, _] if u128::from(ip) > 1 => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            (hi & 0xff) as u8,
            (lo >> 8) as u8,
            (lo & 0xff) as u8,
        )),
        _ => None,
    }
}

/// Whether `ip` is on the deny list: anything but a public unicast address.
pub fn is_denied(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => DENIED_V4.iter().any(|r| in_v4(v4, *r)),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_denied(IpAddr::V4(v4)),
            None => DENIED_V6.iter().any(|r| in_v6(v6, *r)),
        },
    }
}

/// Whether the URL names a loopback address or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => {
            ip.is_loopback() || embedded_v4(ip).is_some_and(|v| v.is_loopback())
        }
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Whether the URL's host is a literal on the deny list, or `localhost`.
fn names_denied_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => is_denied(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => is_denied(IpAddr::V6(ip)),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => true,
    }
}

/// Whether `url` may be fetched: https to a host that is not a denied literal (names are
/// checked again when they resolve, see `fetch::PublicOnly`). With `allow_private`, also
/// loopback and private hosts, over https or plain http.
pub fn allowed_url(url: &Url, allow_private: bool) -> bool {
    let denied_host = names_denied_host(url);
    match url.scheme() {
        "https" => allow_private || !denied_host,
        "http" => allow_private && denied_host,
        _ => false,
    }
}

/// The addresses a name resolved to that the gateway may connect to: every one with
/// `allow_private`, else only those off the deny list.
pub fn reachable(
    addrs: Vec<std::net::SocketAddr>,
    allow_private: bool,
) -> Vec<std::net::SocketAddr> {
    addrs
        .into_iter()
        .filter(|a| allow_private || !is_denied(a.ip()))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn denied(s: &str) -> bool {
        is_denied(s.parse().unwrap())
    }

    #[test]
    fn every_special_ipv4_range_is_denied_at_both_ends() {
        for (first, last) in [
            ("0.0.0.0", "0.255.255.255"),
            ("10.0.0.0", "10.255.255.255"),
            ("100.64.0.0", "100.127.255.255"),
            ("127.0.0.0", "127.255.255.255"),
            ("169.254.0.0", "169.254.255.255"),
            ("172.16.0.0", "172.31.255.255"),
            ("192.0.0.0", "192.0.0.255"),
            ("192.0.2.0", "192.0.2.255"),
            ("192.168.0.0", "192.168.255.255"),
            ("198.18.0.0", "198.19.255.255"),
            ("198.51.100.0", "198.51.100.255"),
            ("203.0.113.0", "203.0.113.255"),
            ("224.0.0.0", "239.255.255.255"),
            ("240.0.0.0", "255.255.255.254"),
            ("255.255.255.255", "255.255.255.255"),
        ] {
            assert!(denied(first), "{first}");
            assert!(denied(last), "{last}");
        }
    }

    #[test]
    fn public_ipv4_next_to_the_ranges_is_reachable() {
        for ok in [
            "1.1.1.1",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.167.255.255",
            "198.17.255.255",
            "198.20.0.0",
            "203.0.112.255",
            "223.255.255.255",
            "93.184.216.34",
        ] {
            assert!(!denied(ok), "{ok}");
        }
    }

    #[test]
    fn every_special_ipv6_range_is_denied() {
        for bad in [
            "::",
            "::1",
            "fc00::1",
            "fdff:ffff::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
            "2001:db8::1",
            "2001:db8:ffff::1",
            "2001::1",
            "100::1",
            "64:ff9b:1::1",
        ] {
            assert!(denied(bad), "{bad}");
        }
        for ok in ["2606:4700::1111", "2a00:1450:4007::200e", "2001:4860::8888"] {
            assert!(!denied(ok), "{ok}");
        }
    }

    #[test]
    fn ipv4_embedded_in_ipv6_is_checked_against_the_ipv4_list() {
        for bad in [
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0:192.168.1.1",
            "::127.0.0.1",
            "::10.1.2.3",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::10.0.0.1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "2002:c0a8:0101::",
            "::ffff:224.0.0.1",
            "::ffff:255.255.255.255",
        ] {
            assert!(denied(bad), "{bad}");
        }
        for ok in [
            "::ffff:93.184.216.34",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
        ] {
            assert!(!denied(ok), "{ok}");
        }
    }

    #[test]
    fn urls_reach_public_https_only_unless_private_networks_are_allowed() {
        let ok = |u: &str, private| allowed_url(&Url::parse(u).unwrap(), private);
        assert!(ok(
            "https://ent.example.fr/.well-known/openid-configuration",
            false
        ));
        assert!(ok("https://93.184.216.34/", false));
        for bad in [
            "http://127.0.0.1:8080/jwks",
            "http://[::1]:8080/jwks",
            "http://localhost/jwks",
            "https://localhost/jwks",
            "https://127.0.0.1/",
            "https://[::ffff:127.0.0.1]/",
            "https://[64:ff9b::a9fe:a9fe]/latest",
            "https://[2002:a9fe:a9fe::]/",
            "https://10.0.0.1/",
            "https://198.18.0.1/",
            "https://240.0.0.1/",
            "https://224.0.0.1/",
            "https://[ff02::1]/",
            "http://ent.example.fr/",
            "ftp://ent.example.fr/",
            "file:///etc/passwd",
        ] {
            assert!(!ok(bad, false), "{bad}");
        }
        assert!(ok("http://127.0.0.1:8080/jwks", true));
        assert!(ok("http://[::1]:8080/jwks", true));
        assert!(ok("http://192.168.1.10/", true));
        assert!(ok("https://10.0.0.1/", true));
        assert!(
            !ok("http://ent.example.fr/", true),
            "plain http to a public name, never"
        );
        assert!(!ok("file:///etc/passwd", true));
    }

    #[test]
    fn resolved_addresses_keep_only_public_ones_by_default() {
        let a = |s: &str| s.parse::<std::net::SocketAddr>().unwrap();
        let mixed = vec![
            a("10.1.2.3:0"),
            a("93.184.216.34:0"),
            a("127.0.0.1:0"),
            a("[::ffff:127.0.0.1]:0"),
            a("[64:ff9b::a00:1]:0"),
        ];
        assert_eq!(reachable(mixed.clone(), false), vec![a("93.184.216.34:0")]);
        assert_eq!(reachable(mixed.clone(), true), mixed);
        assert!(reachable(vec![a("127.0.0.1:0")], false).is_empty());
    }
}
