//! Address plans: where every listener of a mesh goes.
//!
//! - Loopback (the default on Linux): each workload instance gets its own
//!   loopback IP, like a pod (cluster eu is 127.1.x.y, us 127.2.x.y), and its
//!   sidecar listens on Istio's well-known ports: 15001 outbound, 15006
//!   inbound, 15000 admin; the app on its service port.
//! - Ephemeral: everything on 127.0.0.1 with ports the kernel picks; used by
//!   tests, and whenever the loopback plan's addresses are taken (a second
//!   mesh on the same machine).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};

use crate::topology::{Instance, Topology};

pub use crate::http::{
    set_console_idle_timeout, ListenerLimits, H2_MAX_HEADER_LIST, MAX_REQUEST_HEADER_BYTES,
};
pub use crate::workload::app::MAX_CHAOS_DELAY_MS;

/// Where a mesh's listeners go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressPlan {
    /// A loopback IP per pod, well-known ports.
    Loopback,
    /// 127.0.0.1 and kernel-chosen ports.
    Ephemeral,
}

/// Istio's sidecar outbound port.
pub const OUTBOUND_PORT: u16 = 15001;
/// Istio's sidecar inbound port.
pub const INBOUND_PORT: u16 = 15006;
/// Envoy's admin port.
pub const ADMIN_PORT: u16 = 15000;
/// istiod's xDS port.
pub const CONTROL_PLANE_PORT: u16 = 15012;
/// The east-west gateway's mTLS port.
pub const EASTWEST_PORT: u16 = 15443;
/// The default console API address.
pub const DEFAULT_API: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 15700);
/// The default ingress address.
pub const DEFAULT_INGRESS: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8443);

/// The listeners of one workload instance.
#[derive(Debug)]
pub struct WorkloadListeners {
    /// The instance's own loopback IP (127.0.0.1 under the ephemeral plan).
    pub pod_ip: IpAddr,
    /// The demo app's listener (None for external workloads).
    pub app: Option<TcpListener>,
    /// The sidecar's inbound mTLS listener (None for client-only external workloads).
    pub inbound: Option<TcpListener>,
    /// The sidecar's outbound listener, where the app sends plain HTTP.
    pub outbound: TcpListener,
    /// The sidecar's admin listener (`/ready`, `/certs`, `/stats/prometheus`).
    pub admin: TcpListener,
}

/// The listeners of a gateway.
#[derive(Debug)]
pub struct GatewayListeners {
    /// Where traffic arrives: TLS from outside, or SNI-routed mTLS.
    pub main: TcpListener,
    /// The gateway's admin listener.
    pub admin: TcpListener,
}

/// Everything bound for one mesh.
#[derive(Debug)]
pub struct Bound {
    /// The plan that succeeded.
    pub plan: AddressPlan,
    /// Control planes by cluster.
    pub control_planes: BTreeMap<String, TcpListener>,
    /// Workloads by proxy id.
    pub workloads: BTreeMap<String, WorkloadListeners>,
    /// Ingress gateways by cluster.
    pub ingress: BTreeMap<String, GatewayListeners>,
    /// East-west gateways by cluster.
    pub eastwest: BTreeMap<String, GatewayListeners>,
    /// The console API's listener.
    pub api: TcpListener,
}

/// Binds an address now.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("{addr}: {e}")))
}

/// A stopped listener's address, kept bound but not listening: connections to
/// it are refused at once, and neither a client's ephemeral port nor another
/// listener's port 0 can land on it before its owner starts again.
#[derive(Debug)]
pub struct Reserved(TcpSocket);

impl Reserved {
    /// Holds `addr`, waiting a few seconds for its old listener to close.
    pub async fn hold(addr: SocketAddr) -> std::io::Result<Reserved> {
        let mut tries = 0;
        loop {
            match Self::try_hold(addr) {
                Ok(r) => return Ok(r),
                Err(e) if tries < 50 && e.kind() == std::io::ErrorKind::AddrInUse => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(std::io::Error::new(e.kind(), format!("{addr}: {e}"))),
            }
        }
    }

    fn try_hold(addr: SocketAddr) -> std::io::Result<Reserved> {
        let s = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        s.set_reuseaddr(true)?;
        s.bind(addr)?;
        Ok(Reserved(s))
    }

    /// Starts listening on the held address.
    pub fn listen(self) -> std::io::Result<TcpListener> {
        self.0.listen(1024)
    }
}

fn cluster_octet(topology: &Topology, cluster: &str) -> u8 {
    topology
        .clusters
        .iter()
        .position(|c| c.name == cluster)
        .map_or(9, |i| (i + 1).min(250) as u8)
}

/// The pod IP of an instance under the loopback plan.
pub fn pod_ip(topology: &Topology, inst: &Instance) -> IpAddr {
    let c = cluster_octet(topology, &inst.cluster);
    let svc = topology
        .services
        .iter()
        .filter(|s| s.cluster == inst.cluster)
        .position(|s| s.name == inst.service && s.namespace == inst.namespace)
        .map_or(200, |i| (i + 1).min(250) as u8);
    let ordinal = topology
        .instances()
        .iter()
        .filter(|i| {
            i.cluster == inst.cluster && i.service == inst.service && i.namespace == inst.namespace
        })
        .position(|i| i == inst)
        .map_or(250, |i| (i + 1).min(250) as u8);
    IpAddr::V4(Ipv4Addr::new(127, c, svc, ordinal))
}

/// A gateway's IP under the loopback plan (`.0.10` ingress, `.0.20` east-west).
pub fn gateway_ip(topology: &Topology, cluster: &str, last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        127,
        cluster_octet(topology, cluster),
        0,
        last,
    ))
}

/// Binds every listener of `topology` under `plan`.
pub async fn bind_all(
    topology: &Topology,
    plan: AddressPlan,
    api: Option<SocketAddr>,
    ingress: Option<SocketAddr>,
) -> std::io::Result<Bound> {
    let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let at = |ip: IpAddr, port: u16| match plan {
        AddressPlan::Loopback => SocketAddr::new(ip, port),
        AddressPlan::Ephemeral => SocketAddr::new(local, 0),
    };
    let mut control_planes = BTreeMap::new();
    for c in &topology.clusters {
        let l = bind(at(gateway_ip(topology, &c.name, 2), CONTROL_PLANE_PORT)).await?;
        control_planes.insert(c.name.clone(), l);
    }
    let mut workloads = BTreeMap::new();
    for inst in topology.instances() {
        let Some(svc) = topology.service_of(&inst) else {
            continue;
        };
        let ip = match plan {
            AddressPlan::Loopback => pod_ip(topology, &inst),
            AddressPlan::Ephemeral => local,
        };
        let ext = svc.external.as_ref();
        let app = match ext {
            Some(_) => None,
            None => Some(bind(at(ip, svc.port)).await?),
        };
        let inbound = match ext {
            Some(e) if e.app.is_none() => None,
            _ => Some(bind(at(ip, INBOUND_PORT)).await?),
        };
        let outbound = match ext.and_then(|e| e.outbound) {
            Some(pinned) => bind(pinned).await?,
            None => bind(at(ip, OUTBOUND_PORT)).await?,
        };
        let admin = bind(at(ip, ADMIN_PORT)).await?;
        workloads.insert(
            inst.id(),
            WorkloadListeners {
                pod_ip: ip,
                app,
                inbound,
                outbound,
                admin,
            },
        );
    }
    let mut ingress_l = BTreeMap::new();
    let mut eastwest = BTreeMap::new();
    for c in &topology.clusters {
        if c.ingress.is_some() {
            let main = match (ingress, plan) {
                (Some(a), _) if ingress_l.is_empty() => bind(a).await?,
                (None, AddressPlan::Loopback) if ingress_l.is_empty() => {
                    bind(DEFAULT_INGRESS).await?
                }
                _ => bind(SocketAddr::new(local, 0)).await?,
            };
            let admin = bind(at(gateway_ip(topology, &c.name, 10), ADMIN_PORT)).await?;
            ingress_l.insert(c.name.clone(), GatewayListeners { main, admin });
        }
        if topology.clusters.len() > 1 {
            let ip = gateway_ip(topology, &c.name, 20);
            let main = bind(at(ip, EASTWEST_PORT)).await?;
            let admin = bind(at(ip, ADMIN_PORT)).await?;
            eastwest.insert(c.name.clone(), GatewayListeners { main, admin });
        }
    }
    let api = match (api, plan) {
        (Some(a), _) => bind(a).await?,
        (None, AddressPlan::Loopback) => bind(DEFAULT_API).await?,
        (None, AddressPlan::Ephemeral) => bind(SocketAddr::new(local, 0)).await?,
    };
    Ok(Bound {
        plan,
        control_planes,
        workloads,
        ingress: ingress_l,
        eastwest,
        api,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_held_address_refuses_connections_and_cannot_be_taken_until_it_listens() {
        let l = bind(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0))
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        drop(l);
        let held = Reserved::hold(addr).await.expect("hold");
        // A socket without SO_REUSEADDR is what a client's ephemeral port is.
        let other = TcpSocket::new_v4().expect("socket");
        assert!(other.bind(addr).is_err(), "another socket took a held port");
        let refused = tokio::net::TcpStream::connect(addr).await;
        assert!(refused.is_err(), "a held port accepted a connection");
        let l = held.listen().expect("listen");
        let (client, server) = tokio::join!(tokio::net::TcpStream::connect(addr), l.accept());
        assert!(client.is_ok() && server.is_ok());
    }

    #[test]
    fn pods_get_distinct_addresses_per_cluster() {
        let t = Topology::demo();
        let mut seen = std::collections::BTreeSet::new();
        for i in t.instances() {
            let ip = pod_ip(&t, &i);
            assert!(seen.insert(ip), "{ip} used twice");
            let IpAddr::V4(v4) = ip else { panic!("v4") };
            let expect = if i.cluster == "eu" { 1 } else { 2 };
            assert_eq!(v4.octets()[1], expect, "{i:?}");
        }
    }
}
