//! Addresses a plugin may not reach unless its manifest asks for private networks and
//! the admin's policy allows it: loopback, private, link-local (cloud metadata
//! included), CGNAT, multicast, broadcast, unspecified, documentation and reserved
//! ranges, in IPv4 and IPv6, and IPv4 addresses hidden in IPv6 forms (mapped,
//! compatible, NAT64, 6to4).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` is internal, or `None` for a public address.
pub fn internal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b) {
        (0, _) => "an unspecified (0.0.0.0/8) address",
        (127, _) => "a loopback address",
        (10, _) | (172, 16..=31) | (192, 168) => "a private network address",
        (169, 254) if ip == Ipv4Addr::new(169, 254, 169, 254) => "the cloud metadata address",
        (169, 254) => "a link-local address",
        (100, 64..=127) => "a carrier-grade NAT (100.64.0.0/10) address",
        (192, 0) if c == 0 || c == 2 => "a reserved (192.0.0.0/24 or documentation) address",
        (198, 18..=19) => "a benchmarking (198.18.0.0/15) address",
        (192, 88) if c == 99 => "a deprecated 6to4 relay (192.88.99.0/24) address",
        (198, 51) if c == 100 => "a documentation address",
        (203, 0) if c == 113 => "a documentation address",
        (224..=239, _) => "a multicast address",
        (240..=255, _) => "a reserved or broadcast address",
        _ => return None,
    })
}

fn internal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("an unspecified (::) address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    // IPv4 inside IPv6: ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible).
    if let Some(v4) = ip.to_ipv4_mapped() {
        return internal_v4(v4);
    }
    let s = ip.segments();
    if s[..6] == [0, 0, 0, 0, 0, 0] {
        return internal_v4(Ipv4Addr::from(((s[6] as u32) << 16) | s[7] as u32));
    }
    // NAT64 (64:ff9b::/96) and SIIT (::ffff:0:a.b.c.d) carry an IPv4 address too, as
    // does 6to4 (2002::/16).
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || s[..6] == [0, 0, 0, 0, 0xffff, 0] {
        return internal_v4(Ipv4Addr::from(((s[6] as u32) << 16) | s[7] as u32));
    }
    // Local-use NAT64 (64:ff9b:1::/48) and Teredo (2001::/32) hide an address that
    // cannot be checked here: refused.
    if s[..3] == [0x64, 0xff9b, 1] {
        return Some("a local-use NAT64 (64:ff9b:1::/48) address");
    }
    if s[..2] == [0x2001, 0] {
        return Some("a Teredo (2001::/32) tunnel address");
    }
    if s[0] == 0x2002 {
        return internal_v4(Ipv4Addr::from(((s[1] as u32) << 16) | s[2] as u32));
    }
    Some(match s[0] {
        0xfc00..=0xfdff => "a unique-local (private, fc00::/7) address",
        0xfe80..=0xfebf => "a link-local address",
        0xfec0..=0xfeff => "a site-local address",
        0xff00..=0xffff => "a multicast address",
        0x2001 if s[1] == 0x0db8 => "a documentation address",
        0x0100 if s[1..4] == [0, 0, 0] => "a discard-only (100::/64) address",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_every_internal_range() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.5",
            "100.64.0.1",
            "100.127.255.254",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "::ffff:0:7f00:1",
            "64:ff9b:1::1",
            "2001:0:4136:e378::1",
            "192.88.99.1",
        ] {
            let addr: IpAddr = ip.parse().unwrap();
            assert!(internal(addr).is_some(), "{ip} should be internal");
        }
    }

    #[test]
    fn allows_public_addresses() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            let addr: IpAddr = ip.parse().unwrap();
            assert_eq!(internal(addr), None, "{ip} is public");
        }
    }
}
