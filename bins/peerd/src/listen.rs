//! Binding the listening socket: an exact address, or the first free port
//! of a range when the operator gave no port.

use std::io::ErrorKind;
use std::net::SocketAddr;

use anyhow::{Context as _, bail};
use tokio::net::TcpListener;

use crate::config::ListenPlan;

/// Binds per `plan`. A taken exact address is an error; in a search, a
/// taken port moves on to the next one (logged), any other error stops.
pub(crate) async fn bind(plan: &ListenPlan) -> anyhow::Result<TcpListener> {
    match plan {
        ListenPlan::Exact { addr, origin } => match TcpListener::bind(addr).await {
            Ok(listener) => Ok(listener),
            Err(e) if e.kind() == ErrorKind::AddrInUse => bail!(
                "cannot listen on {addr} (given by {origin}): the address is in use; \
                 stop what uses it or choose another address"
            ),
            Err(e) => {
                Err(e).with_context(|| format!("cannot listen on {addr} (given by {origin})"))
            }
        },
        ListenPlan::Search { ip, first, tries } => {
            let last = first.saturating_add(tries.saturating_sub(1));
            for port in *first..=last {
                let addr = SocketAddr::new(*ip, port);
                match TcpListener::bind(addr).await {
                    Ok(listener) => {
                        if port != *first {
                            tracing::info!(
                                %addr,
                                "port {first} is in use; listening on port {port} instead"
                            );
                        }
                        return Ok(listener);
                    }
                    Err(e) if e.kind() == ErrorKind::AddrInUse => {
                        tracing::debug!(%addr, "port in use, trying the next one");
                    }
                    Err(e) => return Err(e).with_context(|| format!("cannot listen on {addr}")),
                }
            }
            bail!(
                "cannot listen on {ip}: ports {first}-{last} are all in use; \
                 give a free address with --listen IP:PORT"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn search_skips_taken_ports_and_exact_refuses_them() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        if port == u16::MAX {
            return; // no room for a next port; nothing to test
        }
        let exact = ListenPlan::Exact {
            addr: held.local_addr().unwrap(),
            origin: "--listen".into(),
        };
        let err = bind(&exact).await.unwrap_err().to_string();
        assert!(err.contains("in use") && err.contains("--listen"), "{err}");

        let search = ListenPlan::Search {
            ip: "127.0.0.1".parse().unwrap(),
            first: port,
            tries: 20,
        };
        let got = bind(&search).await.unwrap().local_addr().unwrap().port();
        assert!(
            got > port && got < port.saturating_add(20),
            "{port} -> {got}"
        );

        let one = ListenPlan::Search {
            ip: "127.0.0.1".parse().unwrap(),
            first: port,
            tries: 1,
        };
        let err = bind(&one).await.unwrap_err().to_string();
        assert!(
            err.contains(&format!("ports {port}-{port} are all in use")),
            "{err}"
        );
    }
}
