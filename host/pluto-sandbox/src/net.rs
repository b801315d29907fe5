//! What a sandboxed call may reach on the network: `wasi:http` outgoing requests and
//! `wasi:sockets` TCP connections, both decided by the policy's `network` rules
//! ([`pluto_paf::network`]) on addresses the host resolved itself.
//!
//! - `wasi:http`: [`NetHooks::send_request`] resolves the request's host, checks every address
//!   against `allow`/`deny` (special ranges — loopback, private, link-local, IPv4-mapped — only
//!   when a rule names them) and connects to the address it checked, so a name that resolves to
//!   something else a moment later (DNS rebinding) gains nothing. `wasi:http` follows no
//!   redirects: each hop is a request of its own and is checked again. A refused request fails
//!   with `HTTP-request-denied` at once; the reason goes to the log.
//! - `wasi:sockets`: TCP connect only (no listen, no bind but the implicit one of a connect, no
//!   UDP), to an address an `allow` rule names by IP, CIDR or `*` — or that an allowed host name
//!   resolves to now; name lookup only when the policy allows some host.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use pluto_paf::network::{HostPattern, canonical, check, choose, denied_names, may_resolve};
use pluto_paf::policy::NetworkPolicy;
use tokio::net::TcpStream;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// How long a connection may take when the guest sets no connect timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The scheme name raw socket connections are checked under: only rules that name no scheme
/// (`host`, `host:port`, an address, a range, `*`) cover them.
const SOCKET_SCHEME: &str = "tcp";

/// The `wasi:http` hooks of one call: its policy's network rules.
pub(crate) struct NetHooks {
    pub network: Arc<NetworkPolicy>,
}

/// What the host gets back: the response and a future for the connection's remaining I/O.
type Sent = (
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
);

impl WasiHttpHooks for NetHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_errors: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Result<Sent, Error>> + Send> {
        let network = self.network.clone();
        Box::new(send(network, request, options))
    }
}

/// Sends `request` if the policy allows its destination, to the address that was checked.
async fn send(
    network: Arc<NetworkPolicy>,
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<Sent, Error> {
    let uri = request.uri().clone();
    let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
    let scheme = if https { "https" } else { "http" };
    let host = uri
        .host()
        .ok_or(Error::HttpRequestUriInvalid)?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let addr = destination(&network, scheme, &host, port)
        .await
        .map_err(|refused| {
            tracing::info!(%uri, reason = %refused, "sandboxed HTTP request refused");
            match refused {
                Refused::Policy(_) => Error::HttpRequestDenied,
                Refused::Lookup(why) => Error::DnsError {
                    rcode: Some(why),
                    info_code: None,
                },
            }
        })?;

    let connect_timeout = options
        .and_then(|o| o.connect_timeout)
        .unwrap_or(CONNECT_TIMEOUT);
    let tcp = tokio::time::timeout(connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| Error::ConnectionTimeout)?
        .map_err(Error::Connect)?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Stream> = if https {
        Box::new(tls(&host, tcp).await?)
    } else {
        Box::new(tcp)
    };
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, WasiBody>(TokioIo::new(stream)).await?;
    // The request line carries the path only; the Host header (set by wasi:http) names the host.
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(uri.path_and_query().map_or("/", |p| p.as_str()))
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    let driver = tokio::spawn(connection);
    let response = sender.send_request(request).await?;
    let io: Box<dyn Future<Output = Result<(), Error>> + Send> = Box::new(async move {
        match driver.await {
            Ok(result) => result.map_err(Error::from),
            Err(_) => Err(Error::ConnectionTerminated),
        }
    });
    Ok((
        response.map(|body| body.map_err(Error::from).boxed_unsync()),
        io,
    ))
}

/// Why a request may not go out.
#[derive(Debug)]
pub enum Refused {
    /// The policy's network rules refuse it.
    Policy(String),
    /// The name could not be resolved (only names the rules allow are looked up).
    Lookup(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Policy(why) | Refused::Lookup(why) => f.write_str(why),
        }
    }
}

/// The address a request to `scheme://host:port` may connect to under `network`, decided
/// before anything leaves the host: an address literal is checked as it is; a name is looked
/// up only when some `allow` rule names it ([`may_resolve`]), so a name no rule allows causes
/// no DNS query. Every address found is checked; the first allowed one is the destination (the
/// caller connects there, so what was checked is what is reached), unless a `network.deny`
/// host name resolves to it: deny `localhost` also denies `127.0.0.1`.
pub async fn destination(
    network: &NetworkPolicy,
    scheme: &str,
    host: &str,
    port: u16,
) -> Result<SocketAddr, Refused> {
    let addrs = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) if !may_resolve(&network.allow, scheme, host, Some(port)) => {
            return Err(Refused::Policy(format!(
                "{scheme}://{host}:{port} is not allowed by the policy's network.allow (the name was not looked up)"
            )));
        }
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| Refused::Lookup(format!("cannot resolve {host}: {e}")))?
            .collect(),
    };
    let addr = choose(&network.allow, &network.deny, scheme, host, port, &addrs)
        .map_err(Refused::Policy)?;
    for (rule, name) in denied_names(&network.deny, scheme, port) {
        if resolves_to(name, port, addr).await {
            return Err(Refused::Policy(format!(
                "{addr} is {name}, denied by the policy's network.deny entry `{rule}`"
            )));
        }
    }
    Ok(addr)
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// TLS to `host` over `tcp`, verified against the Mozilla roots (webpki-roots).
async fn tls(
    host: &str,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Error> {
    use rustls::pki_types::ServerName;
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.into(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::InternalError(Some(e.to_string())))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ServerName::from(ip),
        Err(_) => ServerName::try_from(host.to_owned()).map_err(Error::InvalidDnsNameError)?,
    };
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(Error::Tls)
}

/// Whether a guest may use socket address `addr` for `usage`: the implicit bind of a connect
/// and a TCP connect the policy allows; nothing else (no listen, accept, explicit bind, UDP).
pub(crate) async fn socket_allowed(
    network: &NetworkPolicy,
    addr: SocketAddr,
    usage: SocketAddrUse,
) -> bool {
    let allowed = match usage {
        SocketAddrUse::TcpBind => {
            if addr.ip().is_unspecified() && addr.port() == 0 {
                Ok(())
            } else {
                Err("binding a socket is not allowed in the sandbox".to_owned())
            }
        }
        SocketAddrUse::TcpConnect => connect_allowed(network, addr).await,
        other => Err(format!("{other:?} is not allowed in the sandbox")),
    };
    if let Err(why) = &allowed {
        tracing::info!(%addr, reason = %why, "sandboxed socket refused");
    }
    allowed.is_ok()
}

/// A TCP connect to `addr`: allowed when a rule names the address (IP, CIDR, `*`), or when an
/// allowed host name resolves to it now — and no deny rule names it or a host resolving to it.
async fn connect_allowed(network: &NetworkPolicy, addr: SocketAddr) -> Result<(), String> {
    let (ip, port) = (addr.ip(), addr.port());
    for rule in &network.deny {
        if let HostPattern::Name(name) = &rule.host
            && resolves_to(name, port, addr).await
        {
            return Err(format!(
                "{addr} is {name}, denied by the policy's network.deny entry `{rule}`"
            ));
        }
    }
    let literal = ip.to_string();
    let by_address = check(
        &network.allow,
        &network.deny,
        SOCKET_SCHEME,
        &literal,
        port,
        ip,
    );
    if by_address.is_ok() {
        return by_address;
    }
    for rule in &network.allow {
        if let HostPattern::Name(name) = &rule.host
            && rule.scheme.is_none()
            && rule.port.is_none_or(|p| p == port)
            && resolves_to(name, port, addr).await
        {
            return check(&network.allow, &network.deny, SOCKET_SCHEME, name, port, ip);
        }
    }
    by_address
}

/// Whether `name` (a policy's own rule, never a guest's) resolves to `addr`'s address, in any
/// of its forms.
async fn resolves_to(name: &str, port: u16, addr: SocketAddr) -> bool {
    let ip = canonical(addr.ip());
    match tokio::net::lookup_host((name, port)).await {
        Ok(mut found) => found.any(|a| canonical(a.ip()) == ip),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pluto_paf::network::NetRule;
    use pluto_paf::scalar::Scalar;

    fn policy(allow: &[&str], deny: &[&str]) -> NetworkPolicy {
        let rules = |l: &[&str]| l.iter().map(|r| NetRule::parse(r).unwrap()).collect();
        NetworkPolicy {
            allow: rules(allow),
            deny: rules(deny),
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn sockets_connect_only_where_the_policy_says() {
        let p = policy(&["127.0.0.1:8080", "localhost:9090", "*"], &[]);
        let connect = SocketAddrUse::TcpConnect;
        assert!(socket_allowed(&p, addr("127.0.0.1:8080"), connect).await);
        assert!(!socket_allowed(&p, addr("127.0.0.1:8081"), connect).await);
        // A name rule covers what the name resolves to now, but never a special address:
        // `localhost` resolves to loopback, which only a rule naming it opens.
        assert!(!socket_allowed(&p, addr("127.0.0.1:9090"), connect).await);
        let named = policy(&["localhost:9090", "127.0.0.0/8"], &[]);
        assert!(socket_allowed(&named, addr("127.0.0.1:9090"), connect).await);
        // `*` is not enough for special ranges.
        assert!(!socket_allowed(&p, addr("10.0.0.1:80"), connect).await);
        assert!(!socket_allowed(&p, addr("169.254.169.254:80"), connect).await);
        assert!(!socket_allowed(&p, addr("[::ffff:127.0.0.1]:80"), connect).await);
        assert!(socket_allowed(&p, addr("93.184.215.14:80"), connect).await);
        // Only the implicit bind of a connect; no listen, no accept, no UDP.
        assert!(socket_allowed(&p, addr("0.0.0.0:0"), SocketAddrUse::TcpBind).await);
        assert!(!socket_allowed(&p, addr("0.0.0.0:8080"), SocketAddrUse::TcpBind).await);
        assert!(!socket_allowed(&p, addr("0.0.0.0:0"), SocketAddrUse::TcpListen).await);
        assert!(!socket_allowed(&p, addr("127.0.0.1:8080"), SocketAddrUse::TcpAccept).await);
        assert!(!socket_allowed(&p, addr("127.0.0.1:8080"), SocketAddrUse::UdpBind).await);
    }

    #[tokio::test]
    async fn sockets_deny_wins_also_by_name() {
        let p = policy(&["127.0.0.0/8"], &["localhost"]);
        let connect = SocketAddrUse::TcpConnect;
        assert!(!socket_allowed(&p, addr("127.0.0.1:80"), connect).await);
        assert!(socket_allowed(&p, addr("127.0.0.2:80"), connect).await);
        // An `https://` rule is for wasi:http, not for raw sockets.
        let web = policy(&["https://127.0.0.1:443"], &[]);
        assert!(!socket_allowed(&web, addr("127.0.0.1:443"), connect).await);
    }
}
