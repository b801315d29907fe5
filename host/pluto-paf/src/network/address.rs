//! Which addresses are special (reachable only when a rule names them), in every form that
//! reaches them.

use std::net::IpAddr;

/// Whether `ip` is an address a sandboxed tool may reach only when a rule names its range:
/// loopback, private, link-local (cloud metadata at 169.254.169.254), unspecified, shared
/// (100.64.0.0/10), benchmarking, reserved, multicast, broadcast, documentation; in IPv6 also
/// unique-local, link-local, site-local, documentation, discard-only and Teredo (whose IPv4
/// address is hidden), and every IPv6 form that carries an IPv4 address (IPv4-mapped,
/// IPv4-compatible, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) when that IPv4 address is special.
pub fn is_special(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || o[0] >= 240
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x2001 && s[1] == 0)
                || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
                || s[0..4] == [0, 0, 0, 0]
        }
    }
}

/// The IPv4 address an IPv6 address stands for, where it carries one: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) and 6to4
/// (`2002:AABB:CCDD::/48`); any other address as it is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else {
        return ip;
    };
    let s = v6.segments();
    let o = v6.octets();
    let v4 = |a: u8, b: u8, c: u8, d: u8| IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d));
    if let Some(mapped) = v6.to_ipv4_mapped() {
        return IpAddr::V4(mapped);
    }
    if s[0..6] == [0, 0, 0, 0, 0, 0] && !v6.is_loopback() && !v6.is_unspecified() {
        return v4(o[12], o[13], o[14], o[15]);
    }
    if s[0..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return v4(o[12], o[13], o[14], o[15]);
    }
    if s[0] == 0x2002 {
        return v4(o[2], o[3], o[4], o[5]);
    }
    ip
}
