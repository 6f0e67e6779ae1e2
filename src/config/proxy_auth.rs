//! `[server.proxy_auth]`: trust an authenticating reverse proxy
//! (oauth2-proxy, Pomerium) to say who is at the browser, in a header, and
//! only when the request comes from one of the proxy's addresses. The
//! header's value names an API token (`okrd token create --name`), whose
//! role and team the visitor then has: revoking the token ends their access.

use std::net::IpAddr;

use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyAuthSettings {
    /// The header the proxy sets, such as `X-Forwarded-Email`
    /// (oauth2-proxy) or `X-Pomerium-Claim-Email`.
    pub header: String,
    /// Addresses or CIDR ranges of the proxies; a request from anywhere
    /// else has the header ignored. Required and not empty: trusting the
    /// header from every client would let anyone name anyone.
    #[serde(deserialize_with = "networks")]
    pub trusted_proxies: Vec<Network>,
}

impl ProxyAuthSettings {
    pub fn trusts(&self, peer: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|n| n.contains(peer))
    }
}

/// An address range: `10.0.0.0/8`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    base: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(text: &str) -> Result<Network, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let base: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not an IP address or CIDR range"))?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}`: the prefix length must be 0 to {max}"))?,
        };
        Ok(Network { base, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 client may arrive as an IPv4-mapped IPv6 address.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.base, ip) {
            (IpAddr::V4(b), IpAddr::V4(a)) => same_prefix(&b.octets(), &a.octets(), self.prefix),
            (IpAddr::V6(b), IpAddr::V6(a)) => same_prefix(&b.octets(), &a.octets(), self.prefix),
            _ => false,
        }
    }
}

fn same_prefix(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let (whole, rest) = (usize::from(prefix / 8), prefix % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        a[whole] & mask == b[whole] & mask
    }
}

fn networks<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Network>, D::Error> {
    let texts = Vec::<String>::deserialize(d)?;
    if texts.is_empty() {
        return Err(serde::de::Error::custom(
            "must list the proxy's addresses: a header trusted from every client lets anyone sign in as anyone",
        ));
    }
    texts
        .iter()
        .map(|t| Network::parse(t).map_err(serde::de::Error::custom))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_contain_their_addresses_only() {
        let n = Network::parse("10.1.0.0/16").unwrap();
        assert!(n.contains(ip("10.1.200.3")));
        assert!(!n.contains(ip("10.2.0.1")));
        assert!(n.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped");
        let one = Network::parse("127.0.0.1").unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let odd = Network::parse("192.168.0.0/20").unwrap();
        assert!(odd.contains(ip("192.168.15.255")) && !odd.contains(ip("192.168.16.0")));
        assert!(Network::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(Network::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
    }

    #[test]
    fn bad_settings_are_refused_with_the_reason() {
        assert!(Network::parse("10.0.0.0/33").is_err());
        assert!(Network::parse("proxy.internal").is_err());
        let empty: Result<ProxyAuthSettings, _> =
            toml::from_str("header = \"X-Forwarded-Email\"\ntrusted_proxies = []");
        assert!(empty.unwrap_err().to_string().contains("anyone"));
        let ok: ProxyAuthSettings =
            toml::from_str("header = \"X-Forwarded-Email\"\ntrusted_proxies = [\"10.0.0.0/8\"]")
                .unwrap();
        assert!(ok.trusts(ip("10.9.9.9")) && !ok.trusts(ip("11.0.0.1")));
    }
}
