//! The value types of settings, shared by the three sources (flags and
//! `PEERD_*` variables through clap, the TOML file through serde), so that a
//! value means the same wherever it is written.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

use clap::ValueEnum;
use serde::Deserialize;

/// `--listen`: an exact socket address, or a host alone (then the port is
/// the default one, and the next free one when that is taken).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListenSpec {
    /// `IP:PORT` (`[IPv6]:PORT`): this address or nothing.
    Exact(SocketAddr),
    /// `IP` (`IPv6`, `[IPv6]`): this host, the default port or the next free.
    Host(IpAddr),
}

impl ListenSpec {
    /// What applies when nothing is given: every IPv4 interface, default port.
    pub(crate) const DEFAULT: ListenSpec = ListenSpec::Host(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
}

impl FromStr for ListenSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Ok(ListenSpec::Exact(addr));
        }
        // `:PORT`: every IPv4 interface, this port.
        if let Some(port) = s.strip_prefix(':').and_then(|p| p.parse::<u16>().ok()) {
            return Ok(ListenSpec::Exact(SocketAddr::from((
                Ipv4Addr::UNSPECIFIED,
                port,
            ))));
        }
        let bare = s
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(s);
        bare.parse::<IpAddr>().map(ListenSpec::Host).map_err(|_| {
            format!(
                "`{s}` is not an address: expected IP:PORT (0.0.0.0:8080, [::1]:8080) \
                 or an IP alone for the default port (127.0.0.1, ::), or :PORT"
            )
        })
    }
}

impl<'de> Deserialize<'de> for ListenSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for ListenSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenSpec::Exact(addr) => write!(f, "{addr}"),
            ListenSpec::Host(ip) => write!(f, "{ip}"),
        }
    }
}

/// `--store`: where rooms, users and messages live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StoreChoice {
    /// One embedded file in the data directory (`peergroup.redb`): durable,
    /// zero setup. The default with a data directory.
    Redb,
    /// In memory: volatile (lost on exit), bounded, zero setup.
    Memory,
    /// A MongoDB deployment, durable and shareable between nodes.
    Mongodb,
}

/// `--registration`: may anyone register a user?
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Registration {
    /// Anyone who reaches the node may register.
    Open,
    /// Nobody may register.
    Closed,
}

/// `--bearer-tokens`, and any other on/off switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

impl Switch {
    /// True for [`Switch::On`].
    pub(crate) fn is_on(self) -> bool {
        self == Switch::On
    }
}

/// `--metrics`: who may read `GET /metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum MetricsAccess {
    /// Every client.
    Public,
    /// Clients on a loopback address only (others get 403).
    Local,
}

/// `--discovery-group`: a multicast IPv4 address and a UDP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MulticastGroup(pub(crate) std::net::SocketAddrV4);

impl FromStr for MulticastGroup {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().parse::<std::net::SocketAddrV4>() {
            Ok(a) if a.ip().is_multicast() && a.port() != 0 => Ok(MulticastGroup(a)),
            _ => Err(format!(
                "`{s}` is not a multicast group: expected ADDR:PORT with an IPv4 multicast \
                 address (224.0.0.0/4, best 239.255.0.0/16) and a port, like 239.255.77.77:47777"
            )),
        }
    }
}

impl<'de> Deserialize<'de> for MulticastGroup {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// `--join`: how the node takes its place in its group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JoinSpec {
    /// Follow the main peer discovery finds, or become it.
    Auto,
    /// Follow nobody.
    None,
    /// Follow the node at this URL.
    Url(String),
}

impl FromStr for JoinSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "auto" => Ok(JoinSpec::Auto),
            "none" => Ok(JoinSpec::None),
            url if peer_http::client::BaseUrl::parse(url).is_ok() => Ok(JoinSpec::Url(url.into())),
            other => Err(format!(
                "`{other}` is not a way to join: expected auto, none, or the URL of the \
                 node to follow (http://HOST:PORT)"
            )),
        }
    }
}

impl<'de> Deserialize<'de> for JoinSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_values() {
        assert_eq!(
            "239.255.1.2:4000".parse::<MulticastGroup>(),
            Ok(MulticastGroup("239.255.1.2:4000".parse().unwrap()))
        );
        for bad in ["192.0.2.1:4000", "239.255.1.2", "239.255.1.2:0", "x"] {
            assert!(bad.parse::<MulticastGroup>().is_err(), "{bad}");
        }
        assert_eq!("auto".parse::<JoinSpec>(), Ok(JoinSpec::Auto));
        assert_eq!("none".parse::<JoinSpec>(), Ok(JoinSpec::None));
        assert_eq!(
            "http://192.0.2.5:8080".parse::<JoinSpec>(),
            Ok(JoinSpec::Url("http://192.0.2.5:8080".into()))
        );
        for bad in ["", "maybe", "https://192.0.2.5", "192.0.2.5:8080"] {
            assert!(bad.parse::<JoinSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn listen_forms() {
        assert_eq!(
            "127.0.0.1:9000".parse::<ListenSpec>(),
            Ok(ListenSpec::Exact(SocketAddr::from(([127, 0, 0, 1], 9000))))
        );
        assert_eq!(
            "127.0.0.1".parse::<ListenSpec>(),
            Ok(ListenSpec::Host(IpAddr::from([127, 0, 0, 1])))
        );
        assert_eq!(
            "[::1]:80".parse::<ListenSpec>(),
            Ok(ListenSpec::Exact("[::1]:80".parse().unwrap()))
        );
        assert_eq!(
            "[::1]".parse::<ListenSpec>(),
            Ok(ListenSpec::Host("::1".parse().unwrap()))
        );
        assert_eq!(
            "::".parse::<ListenSpec>(),
            Ok(ListenSpec::Host("::".parse().unwrap()))
        );
        assert_eq!(
            ":8080".parse::<ListenSpec>(),
            Ok(ListenSpec::Exact(SocketAddr::from(([0, 0, 0, 0], 8080))))
        );
        for bad in [
            "",
            "localhost:8080",
            "1.2.3.4:99999",
            "1.2.3",
            ":http",
            "8080",
        ] {
            let err = bad.parse::<ListenSpec>().unwrap_err();
            assert!(err.contains("expected IP:PORT"), "{bad}: {err}");
        }
    }
}
