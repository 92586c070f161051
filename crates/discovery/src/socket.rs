//! The two UDP sockets of discovery, set up with `socket2`.
//!
//! - The **group socket** receives multicast: bound to the group's port
//!   (to the group address itself where the OS allows it, so that several
//!   groups on one port do not see each other's datagrams), with
//!   `SO_REUSEADDR` and `SO_REUSEPORT` so that several nodes on one host
//!   share the port, and a membership of the group on the configured
//!   interface.
//! - The **own socket** sends everything (queries, announcements, leaves,
//!   answers) and receives unicast answers: bound to an ephemeral port of
//!   the interface, so that an answer to one of our queries reaches this
//!   node and no other on the same host. Multicast leaves it on the
//!   configured interface (`IP_MULTICAST_IF`) with the configured TTL, and
//!   loops back to this host (`IP_MULTICAST_LOOP`), so nodes on one host
//!   see each other.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::net::UdpSocket;

/// Receive buffer asked for (a flood then overflows it less soon).
const RECV_BUFFER: usize = 1 << 20;

/// The group socket.
pub(crate) fn group_socket(group: SocketAddrV4, interface: Ipv4Addr) -> io::Result<UdpSocket> {
    if !group.ip().is_multicast() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a multicast address", group.ip()),
        ));
    }
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    // Best effort: a smaller buffer only means an earlier overflow.
    let _ = socket.set_recv_buffer_size(RECV_BUFFER);
    let on_group = SockAddr::from(group);
    if socket.bind(&on_group).is_err() {
        socket.bind(&SockAddr::from(SocketAddrV4::new(
            Ipv4Addr::UNSPECIFIED,
            group.port(),
        )))?;
    }
    socket.join_multicast_v4(group.ip(), &interface)?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

/// The own socket.
pub(crate) fn own_socket(interface: Ipv4Addr, ttl: u32) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    let _ = socket.set_recv_buffer_size(RECV_BUFFER);
    socket.bind(&SockAddr::from(SocketAddrV4::new(interface, 0)))?;
    if !interface.is_unspecified() {
        socket.set_multicast_if_v4(&interface)?;
    }
    socket.set_multicast_ttl_v4(ttl)?;
    socket.set_multicast_loop_v4(true)?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

/// The socket's local address.
pub(crate) fn local_addr(socket: &UdpSocket) -> SocketAddr {
    socket
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}
