//! Network rules of a sandbox policy: which hosts a sandboxed tool may reach.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::scalar::{Scalar, deserialize_scalar};

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
