//! Where a request comes from: the peer's address, or, when the peer is a
//! proxy you trust, the client address it forwards
//! ([`Config::trusted_proxies`](crate::Config::trusted_proxies)).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use http::request::Parts;
use http::HeaderMap;

/// The proxies whose forwarding header is believed, and which header that
/// is, for [`Config::trusted_proxies`](crate::Config::trusted_proxies).
///
/// A request whose peer (axum's `ConnectInfo<SocketAddr>`) is in one of
/// the networks is taken to come from the address its header names: the
/// rightmost hop that is not itself a trusted proxy (each proxy appends
/// the address it saw, so everything left of that hop is whatever the
/// client chose to write). A request from any other peer comes from the
/// peer, whatever its headers say. Only the one header named is read: a
/// proxy that writes `X-Forwarded-For` usually passes a client's own
/// `Forwarded` through untouched, and believing both would let the client
/// choose its address.
///
/// Networks are written `10.0.0.0/8`, `fd00::/8`, or as one address
/// (`127.0.0.1`, `::1`). IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`,
/// what a dual-stack listener reports) count as their IPv4 address.
///
/// # Panics
///
/// The constructors panic on a network that does not parse, as a
/// configuration error found at startup.
///
/// ```
/// use sockjs::{Config, TrustedProxies};
///
/// // Behind nginx on the same host, which sets
/// // `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;`:
/// let config = Config::default()
///     .trusted_proxies(TrustedProxies::x_forwarded_for(["127.0.0.1", "::1"]))
///     .max_sessions_per_address(20);
///
/// // Behind a load balancer in 10.0.0.0/8 that writes RFC 7239 `Forwarded`:
/// let config = Config::default()
///     .trusted_proxies(TrustedProxies::forwarded(["10.0.0.0/8"]));
/// ```
#[derive(Clone)]
pub struct TrustedProxies {
    networks: Vec<Network>,
    header: Header,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Header {
    XForwardedFor,
    Forwarded,
}

/// An address and the length of its network prefix, in bits.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Network {
    address: IpAddr,
    prefix: u8,
}

impl TrustedProxies {
    /// Peers in `networks` are believed about `X-Forwarded-For`
    /// (`client, proxy1, proxy2`, one header or several).
    ///
    /// ```
    /// let proxies = sockjs::TrustedProxies::x_forwarded_for(["192.0.2.0/24", "2001:db8::1"]);
    /// ```
    #[must_use]
    pub fn x_forwarded_for<I, S>(networks: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        TrustedProxies::new(networks, Header::XForwardedFor)
    }

    /// Peers in `networks` are believed about the RFC 7239 `Forwarded`
    /// header's `for=` parameters (`for=192.0.2.60;proto=https,
    /// for="[2001:db8::1]:4711"`).
    ///
    /// ```
    /// let proxies = sockjs::TrustedProxies::forwarded(["10.0.0.0/8"]);
    /// ```
    #[must_use]
    pub fn forwarded<I, S>(networks: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        TrustedProxies::new(networks, Header::Forwarded)
    }

    fn new<I, S>(networks: I, header: Header) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let networks = networks
            .into_iter()
            .map(|n| {
                let n = n.as_ref();
                Network::parse(n)
                    .unwrap_or_else(|| panic!("trusted proxy network `{n}` does not parse"))
            })
            .collect();
        TrustedProxies { networks, header }
    }

    /// Whether `address` is one of the trusted proxies.
    ///
    /// ```
    /// let proxies = sockjs::TrustedProxies::x_forwarded_for(["10.0.0.0/8"]);
    /// assert!(proxies.trusts([10, 1, 2, 3].into()));
    /// assert!(!proxies.trusts([192, 0, 2, 1].into()));
    /// ```
    pub fn trusts(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.networks.iter().any(|n| n.contains(address))
    }

    /// The client address of a request from `peer` with `headers`.
    pub(crate) fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let values = headers
            .get_all(match self.header {
                Header::XForwardedFor => "x-forwarded-for",
                Header::Forwarded => "forwarded",
            })
            .iter()
            .map(|v| v.to_str().ok());
        // Hops in order, left to right, over all the header's lines; a line
        // that is not text ends the walk where it stands, as garbage does.
        let mut hops = Vec::new();
        for value in values {
            match value {
                Some(value) => hops.extend(value.split(',').map(|hop| self.hop(hop))),
                None => hops.push(None),
            }
        }
        for hop in hops.into_iter().rev() {
            // The hop was written by `client`, a trusted proxy. One it
            // wrote that names no address leaves the proxy as the client.
            let Some(hop) = hop else { return client };
            client = hop.to_canonical();
            if !self.trusts(client) {
                break;
            }
        }
        client
    }

    /// The address one hop of the header names, if any.
    fn hop(&self, hop: &str) -> Option<IpAddr> {
        match self.header {
            Header::XForwardedFor => node(hop.trim()),
            Header::Forwarded => hop.split(';').find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| node(value.trim().trim_matches('"')))?
            }),
        }
    }
}

impl fmt::Debug for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedProxies")
            .field("networks", &self.networks)
            .field("header", &self.header)
            .finish()
    }
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

/// An address as a forwarding header writes it: `192.0.2.1`,
/// `192.0.2.1:80`, `2001:db8::1`, `[2001:db8::1]:80`.
fn node(text: &str) -> Option<IpAddr> {
    if let Ok(address) = text.parse::<IpAddr>() {
        return Some(address);
    }
    text.parse::<SocketAddr>().ok().map(|s| s.ip()).or_else(|| {
        text.strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .and_then(|t| t.parse().ok())
    })
}

impl Network {
    fn parse(text: &str) -> Option<Network> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix.parse::<u8>().ok()?)),
            None => (text, None),
        };
        let address = address.trim().parse::<IpAddr>().ok()?;
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(bits);
        if prefix > bits {
            return None;
        }
        // An IPv4-mapped network is the IPv4 network, as addresses are
        // compared canonical.
        match address.to_canonical() {
            IpAddr::V4(v4) if address.is_ipv6() && prefix >= 96 => Some(Network {
                address: v4.into(),
                prefix: prefix - 96,
            }),
            _ => Some(Network { address, prefix }),
        }
    }

    fn contains(&self, address: IpAddr) -> bool {
        let (a, b, bits) = match (self.address, address) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a).into(), u32::from(b).into(), 32),
            (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
            _ => return false,
        };
        let shift = bits - u32::from(self.prefix);
        shift >= 128 || (a >> shift) == (b >> shift)
    }
}

/// The address a request comes from: its peer's (axum's
/// `ConnectInfo<SocketAddr>`), or what a trusted proxy says; `None` when
/// the server was not served with `ConnectInfo`.
pub(crate) fn client_address(parts: &Parts, proxies: Option<&TrustedProxies>) -> Option<IpAddr> {
    let ConnectInfo(peer) = parts.extensions.get::<ConnectInfo<SocketAddr>>()?;
    Some(match proxies {
        Some(proxies) => proxies.client(peer.ip(), &parts.headers),
        None => peer.ip().to_canonical(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn headers(name: &str, values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        headers
    }

    #[test]
    fn networks_contain_their_addresses() {
        let proxies = TrustedProxies::x_forwarded_for([
            "10.0.0.0/8",
            "192.0.2.7",
            "2001:db8::/32",
            "0.0.0.0/0",
        ]);
        assert_eq!(proxies.networks.len(), 4);
        let net = |s| Network::parse(s).unwrap();
        for (network, address, inside) in [
            ("10.0.0.0/8", "10.255.1.2", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("192.0.2.7", "192.0.2.7", true),
            ("192.0.2.7", "192.0.2.8", false),
            ("2001:db8::/32", "2001:db8:1::5", true),
            ("2001:db8::/32", "2001:db9::5", false),
            ("0.0.0.0/0", "203.0.113.9", true),
            ("0.0.0.0/0", "::1", false),
            ("::/0", "::1", true),
            ("127.0.0.1", "::ffff:127.0.0.1", true),
            ("::ffff:10.0.0.0/104", "10.1.1.1", true),
            ("::ffff:10.0.0.0/104", "11.1.1.1", false),
            // A mapped address with a prefix too short to be all IPv4
            // stays an IPv6 network.
            ("::ffff:0.0.0.0/64", "::1:2:3:4", true),
            ("::ffff:0.0.0.0/64", "1::1", false),
        ] {
            let address = ip(address).to_canonical();
            assert_eq!(
                net(network).contains(address),
                inside,
                "{network} {address}"
            );
        }
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "example.com",
            "10.0.0/8",
            "10.0.0.0/x",
            "",
        ] {
            assert!(Network::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn debug_names_the_networks_and_the_header() {
        let proxies = TrustedProxies::forwarded(["10.0.0.0/8", "::1", "::ffff:10.0.0.0/104"]);
        assert_eq!(
            format!("{proxies:?}"),
            "TrustedProxies { networks: [10.0.0.0/8, ::1/128, 10.0.0.0/8], header: Forwarded }"
        );
    }

    #[test]
    #[should_panic(expected = "does not parse")]
    fn a_bad_network_panics() {
        let _ = TrustedProxies::forwarded(["10.0.0.0/40"]);
    }

    #[test]
    fn x_forwarded_for_takes_the_rightmost_untrusted_hop() {
        let proxies = TrustedProxies::x_forwarded_for(["127.0.0.1", "10.0.0.0/8"]);
        let client =
            |peer, values: &[&str]| proxies.client(ip(peer), &headers("x-forwarded-for", values));
        // Untrusted peers are who they are, whatever they write.
        assert_eq!(client("198.51.100.1", &["203.0.113.5"]), ip("198.51.100.1"));
        // A trusted peer without the header is the client.
        assert_eq!(client("127.0.0.1", &[]), ip("127.0.0.1"));
        assert_eq!(client("127.0.0.1", &["203.0.113.5"]), ip("203.0.113.5"));
        // What the client wrote itself, left of the hop the proxy saw, is
        // ignored.
        assert_eq!(
            client("127.0.0.1", &["1.2.3.4, 203.0.113.5, 10.0.0.2"]),
            ip("203.0.113.5")
        );
        assert_eq!(
            client("127.0.0.1", &["1.2.3.4", "203.0.113.5", "10.0.0.2"]),
            ip("203.0.113.5")
        );
        // All trusted: the leftmost.
        assert_eq!(client("127.0.0.1", &["10.0.0.3, 10.0.0.2"]), ip("10.0.0.3"));
        // Garbage written by a trusted hop leaves that hop as the client.
        assert_eq!(
            client("127.0.0.1", &["203.0.113.5, unknown, 10.0.0.2"]),
            ip("10.0.0.2")
        );
        assert_eq!(client("127.0.0.1", &["x"]), ip("127.0.0.1"));
        // Ports and brackets, mapped addresses.
        assert_eq!(
            client("127.0.0.1", &["203.0.113.5:4711"]),
            ip("203.0.113.5")
        );
        assert_eq!(
            client("127.0.0.1", &["[2001:db8::1]:80"]),
            ip("2001:db8::1")
        );
        assert_eq!(
            client("::ffff:127.0.0.1", &["::ffff:203.0.113.5"]),
            ip("203.0.113.5")
        );
        // Another header is not read.
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &headers("forwarded", &["for=203.0.113.5"])),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn forwarded_reads_the_for_parameters() {
        let proxies = TrustedProxies::forwarded(["10.0.0.0/8"]);
        let client =
            |values: &[&str]| proxies.client(ip("10.0.0.1"), &headers("forwarded", values));
        assert_eq!(
            client(&["for=1.2.3.4, for=198.51.100.7;proto=https;by=10.0.0.1"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            client(&["For=\"[2001:db8:cafe::17]:4711\", for=10.0.0.9"]),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(client(&["proto=https;for=192.0.2.43"]), ip("192.0.2.43"));
        assert_eq!(client(&["for=_hidden"]), ip("10.0.0.1"));
        assert_eq!(client(&["by=192.0.2.43"]), ip("10.0.0.1"));
        assert_eq!(
            proxies.client(ip("10.0.0.1"), &headers("x-forwarded-for", &["192.0.2.43"])),
            ip("10.0.0.1")
        );
    }
}
