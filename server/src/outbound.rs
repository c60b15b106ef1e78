//! Requests to addresses that someone other than the administrator named: the guard against
//! server-side request forgery (OWASP SSRF Prevention Cheat Sheet; RFC 9728 §7.7 names it
//! for resource metadata).
//!
//! An address is one of four kinds: public, private (RFC 1918, RFC 6598 shared space,
//! RFC 4193 unique local), loopback, or never reachable (cloud metadata services, link-local,
//! unspecified, multicast, broadcast, documentation and reserved ranges). A [`Reach`] says
//! how far in a request may go. The check is made on the addresses a name resolves to, in
//! the HTTP client's own resolver, so the connection goes to an address that was checked (a
//! second lookup could answer otherwise: DNS rebinding); and on IP-literal hosts, which no
//! resolver sees. IPv4-mapped and NAT64 IPv6 addresses are judged by the IPv4 address inside.
//!
//! Guarded clients bypass any `HTTP(S)_PROXY`: a proxy would resolve names where no check is
//! made.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// What kind of network an address is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Public,
    Private,
    Loopback,
    /// Never reachable through the guard; names why.
    Never(&'static str),
}

/// How far into the network a guarded request may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reach {
    /// Public addresses only.
    Public,
    /// Public and private addresses.
    Private,
    /// Public, private and loopback addresses.
    Loopback,
}

impl Reach {
    pub fn permits(self, kind: Kind) -> bool {
        match kind {
            Kind::Public => true,
            Kind::Private => self >= Reach::Private,
            Kind::Loopback => self == Reach::Loopback,
            Kind::Never(_) => false,
        }
    }

    /// Why `ip` may not be reached, if it may not.
    pub fn refusal(self, ip: IpAddr) -> Option<String> {
        let kind = kind(ip);
        if self.permits(kind) {
            return None;
        }
        Some(match kind {
            Kind::Never(what) => format!("{ip} is a {what} address, which is never reached"),
            Kind::Private => format!("{ip} is a private address, which this request may not reach"),
            _ => format!("{ip} is a loopback address, which this request may not reach"),
        })
    }

    /// As far in as the host of `url` itself is: an address someone at `url` names is then
    /// never further inside the network than `url`. A name that does not resolve reaches
    /// public addresses only.
    pub async fn of(url: &Url) -> Reach {
        let port = url.port_or_known_default().unwrap_or(443);
        let addresses: Vec<IpAddr> = match (host_ip(url), url.host_str()) {
            (Some(ip), _) => vec![ip],
            (None, Some(name)) => tokio::net::lookup_host((name, port))
                .await
                .map(|found| found.map(|a| a.ip()).collect())
                .unwrap_or_default(),
            (None, None) => Vec::new(),
        };
        addresses
            .into_iter()
            .map(|ip| match kind(ip) {
                Kind::Public => Reach::Public,
                Kind::Private | Kind::Never(_) => Reach::Private,
                Kind::Loopback => Reach::Loopback,
            })
            .max()
            .unwrap_or(Reach::Public)
    }

    /// Why `url` may not be requested, judged by its host if that is an IP address (a name
    /// is judged when the guarded client resolves it).
    pub fn refusal_of_url(self, url: &Url) -> Option<String> {
        self.refusal(host_ip(url)?)
    }

    /// `builder` with this guard in its resolver, and no proxy.
    pub fn guard(self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        builder
            .no_proxy()
            .dns_resolver(Arc::new(Guarded { reach: self }))
    }
}

/// The host of `url`, if it is an IP address (`[…]` around IPv6 in URLs, RFC 3986 §3.2.2).
fn host_ip(url: &Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// The kind of network `ip` is on.
pub fn kind(ip: IpAddr) -> Kind {
    match ip {
        IpAddr::V4(v4) => kind_v4(v4),
        IpAddr::V6(v6) => kind_v6(v6),
    }
}

fn kind_v4(ip: Ipv4Addr) -> Kind {
    let [a, b, c, d] = ip.octets();
    match (a, b, c, d) {
        // AWS, GCP, Azure, OpenStack (169.254.169.254), Alibaba (100.100.100.200),
        // Oracle's older address (192.0.0.192).
        (169, 254, 169, 254) | (100, 100, 100, 200) | (192, 0, 0, 192) => {
            Kind::Never("cloud metadata")
        }
        (0, ..) => Kind::Never("unspecified (0.0.0.0/8)"),
        (127, ..) => Kind::Loopback,
        (169, 254, ..) => Kind::Never("link-local"),
        (10, ..) | (192, 168, ..) => Kind::Private,
        (172, 16..=31, ..) => Kind::Private,
        // RFC 6598 shared address space (carrier-grade NAT), RFC 2544 benchmarking.
        (100, 64..=127, ..) | (198, 18..=19, ..) => Kind::Private,
        (192, 0, 0, _) => Kind::Never("IETF protocol assignment"),
        (192, 0, 2, _) | (198, 51, 100, _) | (203, 0, 113, _) => Kind::Never("documentation"),
        (224..=239, ..) => Kind::Never("multicast"),
        (240..=255, ..) => Kind::Never("reserved or broadcast"),
        _ => Kind::Public,
    }
}

fn kind_v6(ip: Ipv6Addr) -> Kind {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return kind_v4(v4);
    }
    let segments = ip.segments();
    // RFC 6052 well-known NAT64 prefix 64:ff9b::/96: the IPv4 address is the last 32 bits.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., hi, lo] = segments;
        return kind_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    }
    if ip == Ipv6Addr::LOCALHOST {
        return Kind::Loopback;
    }
    if ip == Ipv6Addr::UNSPECIFIED {
        return Kind::Never("unspecified");
    }
    // AWS's IPv6 metadata endpoint, inside the unique local range.
    if segments == [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254] {
        return Kind::Never("cloud metadata");
    }
    match segments[0] {
        0xfe80..=0xfebf => Kind::Never("link-local"),
        // Unique local (RFC 4193), and the deprecated site-local range.
        0xfc00..=0xfdff | 0xfec0..=0xfeff => Kind::Private,
        0xff00..=0xffff => Kind::Never("multicast"),
        0x2001 if segments[1] == 0x0db8 => Kind::Never("documentation"),
        _ => Kind::Public,
    }
}

/// The resolver of a guarded client: the system's, keeping only permitted addresses.
struct Guarded {
    reach: Reach,
}

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(permitted(self.reach, name.as_str().to_owned()))
    }
}

/// The addresses of `host` that `reach` permits; an error naming why if there are none.
async fn permitted(
    reach: Reach,
    host: String,
) -> Result<Addrs, Box<dyn std::error::Error + Send + Sync>> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
    let mut refusal = None;
    let permitted: Vec<SocketAddr> = found
        .into_iter()
        .filter(|address| match reach.refusal(address.ip()) {
            None => true,
            Some(why) => {
                refusal.get_or_insert(why);
                false
            }
        })
        .collect();
    if permitted.is_empty() {
        let why = refusal.unwrap_or_else(|| "it has no address".into());
        return Err(format!("`{host}` may not be reached: {why}").into());
    }
    Ok(Box::new(permitted.into_iter()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn addresses_are_classified() {
        for (text, expected) in [
            ("8.8.8.8", Kind::Public),
            ("2606:4700::1111", Kind::Public),
            ("10.1.2.3", Kind::Private),
            ("172.16.0.1", Kind::Private),
            ("172.32.0.1", Kind::Public),
            ("192.168.1.1", Kind::Private),
            ("100.64.0.1", Kind::Private),
            ("fd12:3456::1", Kind::Private),
            ("127.0.0.1", Kind::Loopback),
            ("127.8.9.10", Kind::Loopback),
            ("::1", Kind::Loopback),
            ("::ffff:127.0.0.1", Kind::Loopback),
            ("::ffff:10.0.0.1", Kind::Private),
            ("64:ff9b::a9fe:a9fe", Kind::Never("cloud metadata")),
            ("169.254.169.254", Kind::Never("cloud metadata")),
            ("::ffff:169.254.169.254", Kind::Never("cloud metadata")),
            ("fd00:ec2::254", Kind::Never("cloud metadata")),
            ("100.100.100.200", Kind::Never("cloud metadata")),
            ("169.254.1.1", Kind::Never("link-local")),
            ("fe80::1", Kind::Never("link-local")),
            ("0.0.0.0", Kind::Never("unspecified (0.0.0.0/8)")),
            ("::", Kind::Never("unspecified")),
            ("224.0.0.1", Kind::Never("multicast")),
            ("255.255.255.255", Kind::Never("reserved or broadcast")),
            ("2001:db8::1", Kind::Never("documentation")),
        ] {
            assert_eq!(kind(ip(text)), expected, "{text}");
        }
    }

    #[test]
    fn a_reach_admits_what_is_not_further_in() {
        assert!(Reach::Public.refusal(ip("1.1.1.1")).is_none());
        assert!(Reach::Public.refusal(ip("10.0.0.1")).is_some());
        assert!(Reach::Public.refusal(ip("127.0.0.1")).is_some());
        assert!(Reach::Private.refusal(ip("10.0.0.1")).is_none());
        assert!(Reach::Private.refusal(ip("::1")).is_some());
        assert!(Reach::Loopback.refusal(ip("::1")).is_none());
        let never = Reach::Loopback.refusal(ip("169.254.169.254")).unwrap();
        assert!(never.contains("cloud metadata"), "{never}");
    }

    #[tokio::test]
    async fn a_url_reaches_as_far_as_its_host() {
        let url = |s: &str| Url::parse(s).unwrap();
        assert_eq!(
            Reach::of(&url("http://127.0.0.1:9/mcp")).await,
            Reach::Loopback
        );
        assert_eq!(
            Reach::of(&url("http://localhost:9/mcp")).await,
            Reach::Loopback
        );
        assert_eq!(Reach::of(&url("http://[::1]:9/mcp")).await, Reach::Loopback);
        assert_eq!(
            Reach::of(&url("https://10.0.0.5/mcp")).await,
            Reach::Private
        );
        assert_eq!(
            Reach::of(&url("https://93.184.215.14/")).await,
            Reach::Public
        );
        let literal = url("http://169.254.169.254/latest/meta-data/");
        assert!(Reach::Loopback.refusal_of_url(&literal).is_some());
        assert!(
            Reach::Loopback
                .refusal_of_url(&url("http://example.com/"))
                .is_none()
        );
    }

    #[tokio::test]
    async fn the_guarded_resolver_refuses_names_of_inner_addresses() {
        let client = Reach::Public
            .guard(reqwest::Client::builder())
            .build()
            .unwrap();
        let error = client.get("http://localhost:9/").send().await.unwrap_err();
        let mut text = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(inner) = source {
            text = format!("{text}: {inner}");
            source = inner.source();
        }
        assert!(text.contains("may not be reached"), "{text}");
    }
}
