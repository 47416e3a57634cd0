//! `[server.trusted_proxy]`: a TLS-terminating proxy (nginx, HAProxy, Envoy, a cloud load
//! balancer) that forwards the caller's client certificate in a header, and which peers are
//! trusted to do so.
//!
//! `addresses` lists IPs or CIDR ranges (IPv4 and IPv6); `header` names the field (default
//! `client-cert`, RFC 9440); `client_ca_file` is the CA a forwarded certificate must chain to
//! (default: `server.tls.client_ca_file`). The request-time checks live in
//! `http::forwarded_cert`.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use super::ctx::Ctx;
use super::raw::{RawConfig, RawTrustedProxy};

/// The RFC 9440 field.
pub const DEFAULT_HEADER: &str = "client-cert";

/// The proxies trusted to forward client certificates, and how their certificates are checked.
#[derive(Clone)]
pub struct TrustedProxyConfig {
    /// Peers whose forwarded certificate is read.
    pub addresses: Vec<IpNet>,
    /// The header's name, lower case.
    pub header: String,
    /// Verifies a forwarded certificate against the configured CA at a given time.
    pub verifier: Arc<dyn rustls::server::danger::ClientCertVerifier>,
}

impl TrustedProxyConfig {
    /// Whether a connection from `peer` comes from a trusted proxy (an IPv4-mapped IPv6
    /// address counts as its IPv4 address).
    pub fn trusts(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.addresses.iter().any(|net| net.contains(&peer))
    }
}

impl std::fmt::Debug for TrustedProxyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedProxyConfig")
            .field("addresses", &self.addresses)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

pub(super) fn trusted_proxy(cx: &mut Ctx<'_>, raw: &RawConfig) -> Option<TrustedProxyConfig> {
    let t = raw.server.trusted_proxy.as_ref()?;
    let addresses = addresses(cx, t.addresses.as_deref());
    let header = header(cx, t.header.as_deref().unwrap_or(DEFAULT_HEADER));
    let ca = client_ca(cx, t, raw);
    let verifier = match ca.map(|pem| crate::tls::client_verifier(&pem)) {
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => {
            cx.problem(ca_key(t), e);
            None
        }
        None => None,
    };
    Some(TrustedProxyConfig {
        addresses: addresses?,
        header: header?,
        verifier: verifier?,
    })
}

const ADDRESSES: &str = "server.trusted_proxy.addresses";

fn addresses(cx: &mut Ctx<'_>, list: Option<&[String]>) -> Option<Vec<IpNet>> {
    let list = cx.required(ADDRESSES, list)?;
    if list.is_empty() {
        cx.problem(
            ADDRESSES,
            "must list at least one IP or CIDR range of the proxies",
        );
        return None;
    }
    let mut nets = Vec::new();
    let mut ok = true;
    for (i, a) in list.iter().enumerate() {
        match parse_range(a) {
            Ok(n) => nets.push(n),
            Err(m) => {
                cx.problem(format!("{ADDRESSES}.{i}"), m);
                ok = false;
            }
        }
    }
    ok.then_some(nets)
}

/// An IP (`10.0.0.7`, `::1`) or a CIDR range (`10.0.0.0/8`, `fd00::/8`) without host bits.
pub(super) fn parse_range(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    let net: IpNet = text.parse().map_err(|_| {
        format!("{text:?} is neither an IP address nor a CIDR range (e.g. 10.0.0.0/8, fd00::/8)")
    })?;
    if net.trunc() != net {
        return Err(format!(
            "{text:?} has host bits set: write the range as {}",
            net.trunc()
        ));
    }
    Ok(net)
}

fn header(cx: &mut Ctx<'_>, name: &str) -> Option<String> {
    // RFC 9110 token characters.
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        cx.problem(
            "server.trusted_proxy.header",
            format!("{name:?} is not a header name (e.g. client-cert or x-ssl-client-cert)"),
        );
        return None;
    }
    Some(name.to_ascii_lowercase())
}

fn ca_key(t: &RawTrustedProxy) -> &'static str {
    if t.client_ca_file.is_some() {
        "server.trusted_proxy.client_ca_file"
    } else {
        "server.tls.client_ca_file"
    }
}

/// The CA's PEM: the section's own file, or the TLS listener's (whose read problems
/// `[server.tls]` already reports).
fn client_ca(cx: &mut Ctx<'_>, t: &RawTrustedProxy, raw: &RawConfig) -> Option<Vec<u8>> {
    if let Some(f) = &t.client_ca_file {
        return cx.read("server.trusted_proxy.client_ca_file", f);
    }
    match raw
        .server
        .tls
        .as_ref()
        .and_then(|t| t.client_ca_file.as_ref())
    {
        Some(f) => std::fs::read(cx.path(f)).ok(),
        None => {
            cx.problem(
                "server.trusted_proxy.client_ca_file",
                "is required (the CA that issues the forwarded client certificates) unless server.tls.client_ca_file is set",
            );
            None
        }
    }
}
