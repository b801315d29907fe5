//! Network rules of a sandbox policy: which hosts a sandboxed tool may reach.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::scalar::{Scalar, deserialize_scalar};

mod address;

pub use address::{canonical, is_special};

/// One `network.allow` or `network.deny` entry: `host`, `host:port`, `*.example.com`,
/// `https://host:443`, an IP address or a CIDR range.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NetRule {
    /// The scheme, when the rule names one (`https://...`); any scheme otherwise.
    pub scheme: Option<Scheme>,
    /// Which hosts the rule covers.
    pub host: HostPattern,
    /// The port, when the rule names one; any port otherwise.
    pub port: Option<u16>,
    text: String,
}

/// The schemes a rule may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

/// The hosts a rule covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// `*`: every public host. Private, loopback and link-local addresses still need their own
    /// rule: they are denied unless a rule names their range.
    Any,
    /// Exactly this host name (lowercase).
    Name(String),
    /// `*.example.com`: every name under `example.com` (not `example.com` itself).
    Subdomains(String),
    /// Exactly this address.
    Ip(IpAddr),
    /// Every address in this range.
    Cidr(IpNet),
}

impl fmt::Display for NetRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for NetRule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for NetRule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_scalar(d)
    }
}

impl Scalar for NetRule {
    const EXPECTING: &'static str = "a host, host:port, *.domain, scheme://host:port or CIDR";

    fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let bad = |why: &str| format!("invalid network rule `{text}`: {why}");
        if t.is_empty() {
            return Err(bad("empty"));
        }
        let (scheme, rest) = match t.split_once("://") {
            Some(("http", rest)) => (Some(Scheme::Http), rest),
            Some(("https", rest)) => (Some(Scheme::Https), rest),
            Some((other, _)) => {
                return Err(bad(&format!(
                    "unknown scheme `{other}` (use http or https)"
                )));
            }
            None => (None, t),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') && scheme.is_some() {
            return Err(bad("a rule names a host, not a path"));
        }
        if rest.contains('/') {
            let net: IpNet = rest
                .parse()
                .map_err(|_| bad("not a valid CIDR range such as 10.0.0.0/8"))?;
            return Ok(NetRule {
                scheme,
                host: HostPattern::Cidr(net),
                port: None,
                text: t.to_owned(),
            });
        }
        if let Ok(ip) = rest.parse::<IpAddr>() {
            return Ok(NetRule {
                scheme,
                host: HostPattern::Ip(ip),
                port: None,
                text: t.to_owned(),
            });
        }
        let (host, port) = split_port(rest).map_err(|why| bad(&why))?;
        let host = host_pattern(host).map_err(|why| bad(&why))?;
        Ok(NetRule {
            scheme,
            host,
            port,
            text: t.to_owned(),
        })
    }
}

/// Splits `host:port` or `[v6]:port`; the port is optional.
fn split_port(s: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if let Some(v6) = s.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or("unclosed `[` in an IPv6 address")?;
        match after.strip_prefix(':') {
            Some(p) => (addr, Some(p)),
            None if after.is_empty() => (addr, None),
            None => return Err(format!("unexpected `{after}` after the IPv6 address")),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(format!("`{p}` is not a port number (1-65535)")),
        },
        None => None,
    };
    Ok((host, port))
}

fn host_pattern(host: &str) -> Result<HostPattern, String> {
    if host == "*" {
        return Ok(HostPattern::Any);
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(HostPattern::Ip(ip));
    }
    let lower = host.to_ascii_lowercase();
    let (wildcard, name) = match lower.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, lower.as_str()),
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(if host.contains('*') {
            "`*` may only stand alone or as the first label (`*.example.com`)".to_owned()
        } else {
            format!("`{host}` is not a valid host name")
        });
    }
    Ok(if wildcard {
        HostPattern::Subdomains(name.to_owned())
    } else {
        HostPattern::Name(name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> NetRule {
        NetRule::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parses_every_documented_form() {
        assert_eq!(
            rule("api.github.com").host,
            HostPattern::Name("api.github.com".into())
        );
        assert_eq!(rule("API.GitHub.com:443").port, Some(443));
        assert_eq!(
            rule("*.example.com").host,
            HostPattern::Subdomains("example.com".into())
        );
        let origin = rule("https://example.com:8443");
        assert_eq!(
            (origin.scheme, origin.port),
            (Some(Scheme::Https), Some(8443))
        );
        assert_eq!(
            rule("10.0.0.0/8").host,
            HostPattern::Cidr("10.0.0.0/8".parse().unwrap())
        );
        assert_eq!(rule("::1").host, HostPattern::Ip("::1".parse().unwrap()));
        assert_eq!(rule("[::1]:8080").port, Some(8080));
        assert_eq!(rule("*").host, HostPattern::Any);
        assert_eq!(
            rule("169.254.169.254").host,
            HostPattern::Ip("169.254.169.254".parse().unwrap())
        );
    }

    #[test]
    fn rejects_malformed_rules() {
        for bad in [
            "",
            "ftp://x.com",
            "x.com:0",
            "x.com:99999",
            "a.*.com",
            "https://x.com/path",
            "10.0.0.0/33",
            "bad_host!",
            "[::1",
            "-x.com",
        ] {
            assert!(NetRule::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}

/// Whether host name `name` (not an address) may be looked up for a request with `scheme`
/// (and `port`, when known): only when some `allow` rule could cover it by name — `*`, the
/// name itself or a `*.domain` above it, with a matching scheme and port. A rule naming an
/// address or a range covers that address in a URL, not names that resolve into it. Nothing is
/// looked up for a name no rule names, so a name cannot carry data out as a DNS query.
pub fn may_resolve(allow: &[NetRule], scheme: &str, name: &str, port: Option<u16>) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    allow.iter().any(|rule| {
        rule.scheme_ok(scheme)
            && port.is_none_or(|p| rule.port.is_none_or(|rp| rp == p))
            && match &rule.host {
                HostPattern::Any => true,
                HostPattern::Name(n) => *n == name,
                HostPattern::Subdomains(domain) => name.ends_with(&format!(".{domain}")),
                HostPattern::Ip(_) | HostPattern::Cidr(_) => false,
            }
    })
}

/// The host names of the `deny` rules that apply to `scheme` at `port`: what they resolve to
/// is denied too, whatever name or address a request uses.
pub fn denied_names<'a>(
    deny: &'a [NetRule],
    scheme: &'a str,
    port: u16,
) -> impl Iterator<Item = (&'a NetRule, &'a str)> + 'a {
    deny.iter().filter_map(move |rule| match &rule.host {
        HostPattern::Name(name)
            if rule.scheme_ok(scheme) && rule.port.is_none_or(|p| p == port) =>
        {
            Some((rule, name.as_str()))
        }
        _ => None,
    })
}

impl NetRule {
    /// Whether the rule names `ip` by address or range (what a special address needs), in any
    /// of the forms that carry the same IPv4 address ([`canonical`]).
    fn names_address(&self, ip: IpAddr) -> bool {
        let plain = canonical(ip);
        match &self.host {
            HostPattern::Ip(a) => canonical(*a) == plain,
            HostPattern::Cidr(net) => net.contains(&ip) || net.contains(&plain),
            _ => false,
        }
    }

    fn scheme_ok(&self, scheme: &str) -> bool {
        match self.scheme {
            None => true,
            Some(Scheme::Http) => scheme == "http",
            Some(Scheme::Https) => scheme == "https",
        }
    }

    /// Whether the rule covers a request to `host` (as written in the URL) at `ip`; a special
    /// address (see [`is_special`]) is covered only by a rule naming its address or range.
    pub fn covers(&self, scheme: &str, host: &str, port: u16, ip: IpAddr) -> bool {
        self.matches(scheme, host, port, ip, true)
    }

    fn matches(&self, scheme: &str, host: &str, port: u16, ip: IpAddr, strict: bool) -> bool {
        if !self.scheme_ok(scheme) || self.port.is_some_and(|p| p != port) {
            return false;
        }
        if self.names_address(ip) {
            return true;
        }
        if strict && is_special(ip) {
            return false;
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        match &self.host {
            HostPattern::Any => true,
            HostPattern::Name(name) => *name == host,
            HostPattern::Subdomains(domain) => host.ends_with(&format!(".{domain}")),
            HostPattern::Ip(_) | HostPattern::Cidr(_) => false,
        }
    }
}

/// Decides a request to `host` at `ip` under `allow` and `deny` (deny wins; nothing is allowed
/// that no rule allows). The error says why, for the tool to report.
pub fn check(
    allow: &[NetRule],
    deny: &[NetRule],
    scheme: &str,
    host: &str,
    port: u16,
    ip: IpAddr,
) -> Result<(), String> {
    // A deny entry needs no range for special addresses: naming the host is enough.
    if let Some(rule) = deny
        .iter()
        .find(|r| r.matches(scheme, host, port, ip, false))
    {
        return Err(format!(
            "{scheme}://{host}:{port} ({ip}) is denied by the policy's network.deny entry `{rule}`"
        ));
    }
    if allow.iter().any(|r| r.covers(scheme, host, port, ip)) {
        return Ok(());
    }
    if is_special(ip) {
        return Err(format!(
            "{host} resolves to {ip}, a loopback, private or link-local address: the policy must name it in network.allow (for example `{ip}` or its CIDR range)"
        ));
    }
    Err(format!(
        "{scheme}://{host}:{port} is not allowed by the policy's network.allow"
    ))
}

/// The first of `addrs` (what `host` resolved to) that `allow` and `deny` let a request to
/// `scheme://host:port` reach: the address to connect to, so that what was checked is what is
/// reached. When none is allowed, why the last one was refused.
pub fn choose(
    allow: &[NetRule],
    deny: &[NetRule],
    scheme: &str,
    host: &str,
    port: u16,
    addrs: &[std::net::SocketAddr],
) -> Result<std::net::SocketAddr, String> {
    let mut refusal = None;
    for addr in addrs {
        match check(allow, deny, scheme, host, port, addr.ip()) {
            Ok(()) => return Ok(*addr),
            Err(why) => refusal = Some(why),
        }
    }
    Err(refusal.unwrap_or_else(|| format!("{host} has no address")))
}

#[cfg(test)]
mod decide {
    use super::*;

    fn rules(list: &[&str]) -> Vec<NetRule> {
        list.iter().map(|r| NetRule::parse(r).unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn names_wildcards_ports_and_schemes() {
        let allow = rules(&[
            "api.example.com",
            "*.corp.com",
            "https://secure.io",
            "data.org:8443",
        ]);
        let ok =
            |s: &str, h: &str, p: u16| check(&allow, &[], s, h, p, ip("93.184.216.34")).is_ok();
        assert!(ok("https", "api.example.com", 443));
        assert!(ok("http", "API.example.com", 80));
        assert!(ok("https", "a.b.corp.com", 443));
        assert!(
            !ok("https", "corp.com", 443),
            "*.corp.com does not cover corp.com"
        );
        assert!(ok("https", "secure.io", 443));
        assert!(
            !ok("http", "secure.io", 80),
            "the scheme is part of the rule"
        );
        assert!(ok("https", "data.org", 8443));
        assert!(
            !ok("https", "data.org", 443),
            "the port is part of the rule"
        );
        assert!(!ok("https", "other.net", 443));
    }

    #[test]
    fn special_addresses_need_a_rule_naming_their_range_and_deny_wins() {
        let any = rules(&["*", "metadata.internal"]);
        for addr in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.9",
            "169.254.169.254",
            "::1",
            "::ffff:127.0.0.1",
            "fd00::1",
            "100.64.0.1",
            "0.0.0.0",
        ] {
            let err = check(&any, &[], "http", "metadata.internal", 80, ip(addr)).unwrap_err();
            assert!(err.contains("must name it"), "{addr}: {err}");
        }
        let local = rules(&["127.0.0.1"]);
        assert!(check(&local, &[], "http", "localhost", 8080, ip("127.0.0.1")).is_ok());
        assert!(
            check(
                &local,
                &[],
                "http",
                "localhost",
                8080,
                ip("::ffff:127.0.0.1")
            )
            .is_ok()
        );
        assert!(check(&local, &[], "http", "x", 80, ip("127.0.0.2")).is_err());
        let range = rules(&["127.0.0.0/8"]);
        assert!(check(&range, &[], "http", "x", 80, ip("127.0.0.2")).is_ok());
        let deny = rules(&["127.0.0.2"]);
        let err = check(&range, &deny, "http", "x", 80, ip("127.0.0.2")).unwrap_err();
        assert!(err.contains("network.deny entry `127.0.0.2`"), "{err}");
        let deny_name = rules(&["blocked.example.com"]);
        assert!(
            check(
                &rules(&["*"]),
                &deny_name,
                "https",
                "blocked.example.com",
                443,
                ip("93.184.216.34")
            )
            .is_err()
        );
        assert!(
            check(&[], &[], "https", "example.com", 443, ip("93.184.216.34")).is_err(),
            "nothing allowed by default"
        );
    }

    #[test]
    fn every_form_of_a_special_address_is_special() {
        for addr in [
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::10.0.0.1",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::",
            "2002:c0a8:1::1",
            "2001::1",
            "2001:db8::1",
            "fec0::1",
            "100::1",
            "::ffff:0:127.0.0.1",
            "198.18.0.1",
            "192.0.0.8",
            "240.0.0.1",
        ] {
            assert!(is_special(ip(addr)), "{addr} must be special");
            let err = check(&rules(&["*"]), &[], "http", "x.example", 80, ip(addr)).unwrap_err();
            assert!(err.contains("must name it"), "{addr}: {err}");
        }
        for public in [
            "93.184.216.34",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
            "2606:4700::1",
        ] {
            assert!(!is_special(ip(public)), "{public} is public");
        }
        // Denying an address denies it in every form that carries it.
        let deny = rules(&["127.0.0.1"]);
        let allow = rules(&["127.0.0.0/8", "::/0"]);
        for form in [
            "127.0.0.1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
        ] {
            let err = check(&allow, &deny, "http", "x", 80, ip(form)).unwrap_err();
            assert!(err.contains("network.deny"), "{form}: {err}");
        }
    }

    #[test]
    fn only_names_a_rule_names_may_be_resolved() {
        let allow = rules(&[
            "api.example.com",
            "*.corp.com",
            "https://secure.io",
            "data.org:8443",
            "10.0.0.0/8",
        ]);
        let may = |s: &str, h: &str, p: Option<u16>| may_resolve(&allow, s, h, p);
        assert!(may("https", "API.example.com.", Some(443)));
        assert!(may("https", "a.corp.com", Some(443)));
        assert!(!may("https", "corp.com", Some(443)));
        assert!(!may("https", "exfil.attacker.net", Some(443)));
        assert!(may("https", "secure.io", Some(443)));
        assert!(!may("http", "secure.io", Some(80)));
        assert!(
            !may("tcp", "secure.io", None),
            "an https rule is not for raw sockets"
        );
        assert!(may("https", "data.org", Some(8443)));
        assert!(!may("https", "data.org", Some(443)));
        assert!(
            !may("http", "internal.host", Some(80)),
            "a range does not cover names"
        );
        assert!(!may_resolve(&[], "https", "example.com", Some(443)));
        assert!(may_resolve(
            &rules(&["*"]),
            "https",
            "anything.net",
            Some(443)
        ));
    }
}
