//! The URL peers reach this node at.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

/// `http://IP:PORT` of this node: the IP the server is bound to, unless it
/// is unspecified; then the discovery interface, unless unspecified too;
/// then the address the routing table would send from towards `toward` (a
/// connected UDP socket sends nothing; it only asks the route).
pub(crate) fn url(
    listen: SocketAddr,
    interface: Option<Ipv4Addr>,
    toward: Option<IpAddr>,
) -> String {
    format!(
        "http://{}",
        SocketAddr::new(ip(listen, interface, toward), listen.port())
    )
}

fn ip(listen: SocketAddr, interface: Option<Ipv4Addr>, toward: Option<IpAddr>) -> IpAddr {
    if !listen.ip().is_unspecified() {
        return listen.ip();
    }
    if let Some(i) = interface.filter(|i| !i.is_unspecified()) {
        return IpAddr::V4(i);
    }
    // A documentation address (TEST-NET-1) stands for "the default route".
    let toward = toward.unwrap_or(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    let routed = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|s| s.connect((toward, 9)).map(|()| s))
        .and_then(|s| s.local_addr());
    match routed {
        Ok(a) if !a.ip().is_unspecified() => a.ip(),
        _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choice_of_address() {
        let bound: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        assert_eq!(url(bound, None, None), "http://127.0.0.1:9000");
        let any: SocketAddr = "0.0.0.0:9000".parse().unwrap();
        assert_eq!(
            url(any, Some(Ipv4Addr::new(192, 0, 2, 3)), None),
            "http://192.0.2.3:9000"
        );
        // Towards loopback, the route's source is loopback.
        assert_eq!(
            url(any, None, Some(IpAddr::V4(Ipv4Addr::LOCALHOST))),
            "http://127.0.0.1:9000"
        );
    }
}
