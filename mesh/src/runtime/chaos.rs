//! The operations behind the console's chaos controls: slow or failing
//! instances, killed and restarted ones, stopped control planes and
//! east-west gateways, and a rogue workload. A stopped component's
//! addresses are held until it starts again, so it comes back where the
//! mesh knows it.

use std::net::SocketAddr;
use std::time::Duration;

use super::plan::{self, WorkloadListeners};
use super::{gateway_instance, rogue, Mesh, RuntimeError};
use crate::control::registry::ProxyKind;
use crate::identity::SpiffeId;
use crate::workload::app::Chaos;

impl Mesh {
    async fn matching(&self, target: &str) -> Vec<String> {
        self.inner
            .workloads
            .lock()
            .await
            .iter()
            .filter(|(id, w)| {
                *id == target
                    || w.instance.name == target
                    || w.instance.service == target
                    || w.instance.workload() == target
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Sets chaos on every instance `target` names (instance, `service-version`, or service).
    pub async fn set_chaos(&self, target: &str, chaos: Chaos) -> Result<Vec<String>, RuntimeError> {
        chaos
            .check()
            .map_err(|e| RuntimeError::Refused(e.to_string()))?;
        let ids = self.matching(target).await;
        let wl = self.inner.workloads.lock().await;
        let mut done = Vec::new();
        for id in &ids {
            if let Some(running) = wl.get(id).and_then(|w| w.app.as_ref()) {
                running.app.set_chaos(chaos.clone());
                done.push(
                    wl.get(id)
                        .map(|w| w.instance.name.clone())
                        .unwrap_or_default(),
                );
            }
        }
        if done.is_empty() {
            return Err(RuntimeError::NotFound(format!(
                "no demo workload matches '{target}' (use an instance like billing-v1-0, a workload like billing-v1, or a service)"
            )));
        }
        Ok(done)
    }

    /// Changes the chaos of every instance `target` names.
    pub async fn update_chaos(
        &self,
        target: &str,
        f: impl Fn(&mut Chaos),
    ) -> Result<Vec<String>, RuntimeError> {
        // The change alone, on a healed instance: a bad value is refused
        // before any instance is touched.
        let mut probe = Chaos::default();
        f(&mut probe);
        probe
            .check()
            .map_err(|e| RuntimeError::Refused(e.to_string()))?;
        let ids = self.matching(target).await;
        let wl = self.inner.workloads.lock().await;
        let mut done = Vec::new();
        for id in &ids {
            if let Some(w) = wl.get(id) {
                if let Some(running) = &w.app {
                    let mut c = (*running.app.chaos()).clone();
                    f(&mut c);
                    running.app.set_chaos(c);
                    done.push(w.instance.name.clone());
                }
            }
        }
        if done.is_empty() {
            return Err(RuntimeError::NotFound(format!(
                "no running demo workload matches '{target}' (use an instance like billing-v1-0, a workload like billing-v1, or a service)"
            )));
        }
        Ok(done)
    }

    /// Kills an instance: its app and sidecar stop and it leaves the registry.
    pub async fn kill(&self, target: &str) -> Result<Vec<String>, RuntimeError> {
        let ids = self.matching(target).await;
        if ids.is_empty() {
            return Err(RuntimeError::NotFound(format!(
                "no workload matches '{target}'"
            )));
        }
        let mut done = Vec::new();
        for id in ids {
            let (proxy, app, inst, addrs) = {
                let mut wl = self.inner.workloads.lock().await;
                let Some(w) = wl.get_mut(&id) else { continue };
                (
                    w.proxy.take(),
                    w.app.take(),
                    w.instance.clone(),
                    w.addresses.clone(),
                )
            };
            if proxy.is_none() {
                continue;
            }
            if let Some(rt) = self.inner.clusters.get(&inst.cluster) {
                rt.cp.update_registry(|r| r.remove(&id));
            }
            let own_app = app.is_some();
            if let Some(running) = app {
                running.serving.cancel.cancel();
                let _ = running.serving.task.await;
            }
            if let Some(p) = proxy {
                p.shutdown().await;
            }
            let app_addr = addrs.app.filter(|_| own_app);
            self.hold([app_addr, addrs.inbound, addrs.outbound, addrs.admin])
                .await;
            done.push(inst.name.clone());
        }
        Ok(done)
    }

    /// Starts a killed instance again on the same addresses.
    pub async fn restart(&self, target: &str) -> Result<Vec<String>, RuntimeError> {
        let ids = self.matching(target).await;
        let mut done = Vec::new();
        for id in ids {
            let (inst, addrs, pod_ip, running) = {
                let wl = self.inner.workloads.lock().await;
                let Some(w) = wl.get(&id) else { continue };
                (
                    w.instance.clone(),
                    w.addresses.clone(),
                    w.pod_ip,
                    w.proxy.is_some(),
                )
            };
            if running {
                continue;
            }
            let bind = |a: Option<SocketAddr>| async move {
                match a {
                    Some(a) => self.rebind(a).await.map(Some),
                    None => Ok(None),
                }
            };
            let ext = self
                .inner
                .topology
                .service_of(&inst)
                .and_then(|s| s.external.clone());
            let listeners = WorkloadListeners {
                pod_ip,
                app: if ext.is_some() {
                    None
                } else {
                    bind(addrs.app).await?
                },
                inbound: bind(addrs.inbound).await?,
                outbound: bind(addrs.outbound)
                    .await?
                    .ok_or_else(|| RuntimeError::NotFound("no outbound address".into()))?,
                admin: bind(addrs.admin)
                    .await?
                    .ok_or_else(|| RuntimeError::NotFound("no admin address".into()))?,
            };
            self.start_workload(&inst, listeners).await?;
            let ready = {
                let wl = self.inner.workloads.lock().await;
                match wl.get(&id).and_then(|w| w.proxy.as_ref()) {
                    Some(p) => p.wait_ready(Duration::from_secs(15)).await,
                    None => false,
                }
            };
            if !ready {
                return Err(RuntimeError::NotReady(format!(
                    "{} did not become ready",
                    inst.name
                )));
            }
            if let Some(rt) = self.inner.clusters.get(&inst.cluster) {
                rt.cp.update_registry(|r| r.update(&id, |e| e.ready = true));
            }
            done.push(inst.name.clone());
        }
        if done.is_empty() {
            return Err(RuntimeError::NotFound(format!(
                "no stopped workload matches '{target}'"
            )));
        }
        Ok(done)
    }

    /// Stops a cluster's control plane (its proxies keep their last config).
    pub async fn stop_control_plane(&self, cluster: &str) -> Result<(), RuntimeError> {
        let rt = self
            .inner
            .clusters
            .get(cluster)
            .ok_or_else(|| RuntimeError::NotFound(format!("no cluster '{cluster}'")))?;
        let serving = rt.serving.lock().take();
        match serving {
            Some(s) => {
                s.stop(Duration::from_secs(5)).await;
                self.hold([Some(rt.addr)]).await;
                Ok(())
            }
            None => Err(RuntimeError::NotFound(format!(
                "the control plane of {cluster} is not running"
            ))),
        }
    }

    /// Starts a stopped control plane on its old address.
    pub async fn start_control_plane(&self, cluster: &str) -> Result<(), RuntimeError> {
        let rt = self
            .inner
            .clusters
            .get(cluster)
            .ok_or_else(|| RuntimeError::NotFound(format!("no cluster '{cluster}'")))?;
        if rt.serving.lock().is_some() {
            return Err(RuntimeError::NotFound(format!(
                "the control plane of {cluster} is already running"
            )));
        }
        let listener = self.rebind(rt.addr).await?;
        rt.serve(listener, &self.inner.cancel);
        Ok(())
    }

    /// Stops a cluster's east-west gateway (a network partition between clusters).
    pub async fn stop_eastwest(&self, cluster: &str) -> Result<(), RuntimeError> {
        let id = gateway_instance(cluster, ProxyKind::EastwestGateway).id();
        let handle = self.inner.gateways.lock().await.remove(&id);
        match handle {
            Some(h) => {
                if let Some(rt) = self.inner.clusters.get(cluster) {
                    rt.cp.update_registry(|r| r.remove(&id));
                }
                h.shutdown().await;
                let addrs = self
                    .gateway_addresses()
                    .get(&id)
                    .map(|g| g.addresses.clone());
                if let Some(a) = addrs {
                    self.hold([a.inbound, a.admin]).await;
                }
                Ok(())
            }
            None => Err(RuntimeError::NotFound(format!(
                "cluster '{cluster}' has no running east-west gateway"
            ))),
        }
    }

    /// Starts a stopped east-west gateway on its old addresses.
    pub async fn start_eastwest(&self, cluster: &str) -> Result<(), RuntimeError> {
        let id = gateway_instance(cluster, ProxyKind::EastwestGateway).id();
        if self.inner.gateways.lock().await.contains_key(&id) {
            return Err(RuntimeError::NotFound(format!(
                "the east-west gateway of {cluster} is already running"
            )));
        }
        let addrs = self
            .gateway_addresses()
            .get(&id)
            .map(|g| g.addresses.clone())
            .ok_or_else(|| {
                RuntimeError::NotFound(format!("cluster '{cluster}' has no east-west gateway"))
            })?;
        let (Some(main), Some(admin)) = (addrs.inbound, addrs.admin) else {
            return Err(RuntimeError::NotFound("gateway addresses unknown".into()));
        };
        let l = plan::GatewayListeners {
            main: self.rebind(main).await?,
            admin: self.rebind(admin).await?,
        };
        self.start_eastwest_gateway(cluster, l).await?;
        let ready = match self.inner.gateways.lock().await.get(&id) {
            Some(h) => h.wait_ready(Duration::from_secs(15)).await,
            None => false,
        };
        if let Some(rt) = self.inner.clusters.get(cluster) {
            rt.cp
                .update_registry(|r| r.update(&id, |e| e.ready = ready));
        }
        Ok(())
    }

    /// Plays a rogue workload against `service`: first plaintext, then mTLS
    /// with a self-made certificate that claims a legitimate identity.
    /// Reports what the service's sidecar did with each.
    pub async fn rogue(&self, service: &str) -> Result<String, RuntimeError> {
        let (inst, inbound) = {
            let wl = self.inner.workloads.lock().await;
            wl.values()
                .filter(|w| w.instance.service == service && w.proxy.is_some())
                .find_map(|w| w.addresses.inbound.map(|a| (w.instance.clone(), a)))
                .ok_or_else(|| {
                    RuntimeError::NotFound(format!("no running instance of service '{service}'"))
                })?
        };
        let td = self
            .inner
            .topology
            .cluster(&inst.cluster)
            .map(|c| c.trust_domain.clone())
            .unwrap_or_default();
        let claimed = SpiffeId::workload(&td, "default", "frontend")?;
        let plaintext = rogue::plaintext(inbound).await;
        let mtls = rogue::self_signed(inbound, &claimed).await;
        Ok(format!(
            "rogue workload vs {} ({inbound}):\n  plaintext HTTP: {plaintext}\n  mTLS with a self-made certificate claiming {claimed}: {mtls}",
            inst.name
        ))
    }
}
