//! The yardstick of the data-plane budget: a pair of nginx proxies doing mTLS
//! with certificates from our own CA, on the same path as the sidecar pair
//! (plain HTTP in, mTLS between the two, plain HTTP to the server, keep-alive
//! on every leg), measured in the same run, either both in one nginx
//! worker or each in a process of its own.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::identity::{CertificateAuthority, IdentityError};

/// Why the nginx pair did not start.
#[derive(Debug, thiserror::Error)]
pub enum NginxError {
    /// A file, a port or the nginx binary could not be used.
    #[error("{what}: {source}")]
    Io {
        /// What was being written, bound or started.
        what: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The bench CA could not make the certificates.
    #[error(transparent)]
    Certificates(#[from] IdentityError),
    /// nginx exited or did not listen within five seconds.
    #[error("nginx did not start: {log}")]
    NotStarted {
        /// Both nginx error logs, server side first.
        log: String,
    },
}

impl NginxError {
    fn io(what: &str, source: std::io::Error) -> Self {
        NginxError::Io {
            what: what.to_string(),
            source,
        }
    }

    /// Another process took a port between picking it and nginx binding it.
    fn address_in_use(&self) -> bool {
        self.to_string().contains("Address already in use")
    }
}

/// How the two nginx proxies are run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// One nginx process with one worker hosting both proxies.
    OneWorker,
    /// An nginx process (one worker) for each proxy.
    TwoProcesses,
}

/// The running nginx proxies (killed on drop).
pub struct NginxPair {
    children: Vec<tokio::process::Child>,
    /// Where the client sends plain HTTP.
    pub entry: SocketAddr,
    /// The mTLS listener of the server-side nginx.
    pub mtls: SocketAddr,
}

/// The name the server-side nginx's certificate carries.
pub const SERVER_NAME: &str = "ref.bench.mesh";

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn common(dir: &Path, name: &str) -> String {
    let d = dir.display();
    format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/{name}.pid;\nerror_log {d}/{name}.log warn;\nevents {{ worker_connections 1024; }}\n"
    )
}

fn http_common(dir: &Path, name: &str) -> String {
    let d = dir.display();
    format!("  access_log off;\n  client_body_temp_path {d}/{name}-body;\n  proxy_temp_path {d}/{name}-proxy;\n")
}

impl NginxPair {
    /// Writes certificates (`ca.pem`, `client.pem`, `client.key`, …) and
    /// configs under `dir` and starts both proxies in front of `server`.
    pub async fn start(
        nginx: &Path,
        server: SocketAddr,
        dir: &Path,
        layout: Layout,
    ) -> Result<Self, NginxError> {
        let io = NginxError::io;
        std::fs::create_dir_all(dir).map_err(|e| io("state dir", e))?;
        let ca = CertificateAuthority::generate_dns("bench nginx")?;
        let ttl = Duration::from_secs(3600);
        let (server_pem, server_key) = ca.issue_peer(&[SERVER_NAME.to_string()], ttl)?;
        let (client_pem, client_key) = ca.issue_peer(&["client.bench.mesh".to_string()], ttl)?;
        let files = [
            ("ca.pem", ca.root_pem().to_string()),
            ("server.pem", server_pem),
            ("server.key", server_key),
            ("client.pem", client_pem),
            ("client.key", client_key),
        ];
        for (name, text) in &files {
            std::fs::write(dir.join(name), text).map_err(|e| io(name, e))?;
        }
        // A free port may be taken again before nginx binds it: try afresh.
        let mut tries = 0;
        loop {
            match Self::launch(nginx, server, dir, layout).await {
                Err(e) if tries < 3 && e.address_in_use() => tries += 1,
                r => return r,
            }
        }
    }

    async fn launch(
        nginx: &Path,
        server: SocketAddr,
        dir: &Path,
        layout: Layout,
    ) -> Result<Self, NginxError> {
        let io = NginxError::io;
        let d = dir.display();
        let (entry_port, mtls_port) = (
            free_port().map_err(|e| io("port", e))?,
            free_port().map_err(|e| io("port", e))?,
        );
        let client_side = format!(
            "  upstream mtls {{ server 127.0.0.1:{mtls_port}; keepalive 64; }}\n  server {{\n    listen 127.0.0.1:{entry_port};\n    location / {{\n      proxy_pass https://mtls;\n      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_ssl_protocols TLSv1.3;\n      proxy_ssl_certificate {d}/client.pem;\n      proxy_ssl_certificate_key {d}/client.key;\n      proxy_ssl_trusted_certificate {d}/ca.pem;\n      proxy_ssl_verify on;\n      proxy_ssl_name {SERVER_NAME};\n      proxy_ssl_server_name on;\n      proxy_ssl_session_reuse on;\n    }}\n  }}\n",
        );
        let server_side = format!(
            "  upstream app {{ server {server}; keepalive 64; }}\n  server {{\n    listen 127.0.0.1:{mtls_port} ssl;\n    ssl_protocols TLSv1.3;\n    ssl_certificate {d}/server.pem;\n    ssl_certificate_key {d}/server.key;\n    ssl_client_certificate {d}/ca.pem;\n    ssl_verify_client on;\n    location / {{\n      proxy_pass http://app;\n      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n    }}\n  }}\n",
        );
        // One worker hosting both proxies (as the sidecars share a
        // data-plane thread), or a process each.
        let configs: Vec<(&str, String)> = match layout {
            Layout::OneWorker => vec![("both", format!("{server_side}{client_side}"))],
            Layout::TwoProcesses => {
                vec![("server-side", server_side), ("client-side", client_side)]
            }
        };
        let names: Vec<&str> = configs.iter().map(|(n, _)| *n).collect();
        let mut children = Vec::new();
        for (name, http) in &configs {
            let conf = format!(
                "{}http {{\n{}{http}}}\n",
                common(dir, name),
                http_common(dir, name)
            );
            let path = dir.join(format!("{name}.conf"));
            std::fs::write(&path, conf).map_err(|e| io(name, e))?;
            let child = tokio::process::Command::new(nginx)
                .arg("-p")
                .arg(dir)
                .arg("-e")
                .arg(dir.join(format!("{name}.log")))
                .arg("-c")
                .arg(&path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| io(&nginx.display().to_string(), e))?;
            children.push(child);
        }
        let mut pair = NginxPair {
            children,
            entry: SocketAddr::from(([127, 0, 0, 1], entry_port)),
            mtls: SocketAddr::from(([127, 0, 0, 1], mtls_port)),
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        for addr in [pair.mtls, pair.entry] {
            while tokio::net::TcpStream::connect(addr).await.is_err() {
                let exited = pair
                    .children
                    .iter_mut()
                    .any(|c| matches!(c.try_wait(), Ok(Some(_))));
                if exited || Instant::now() > deadline {
                    let log = |n: &str| {
                        std::fs::read_to_string(dir.join(format!("{n}.log"))).unwrap_or_default()
                    };
                    return Err(NginxError::NotStarted {
                        log: names.iter().map(|n| log(n)).collect(),
                    });
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(pair)
    }

    /// CPU time both nginx processes have used so far, seconds.
    pub fn cpu_seconds(&self) -> f64 {
        self.children
            .iter()
            .filter_map(|c| c.id())
            .map(|pid| {
                crate::runtime::workers::cpu_seconds(&PathBuf::from(format!("/proc/{pid}/stat")))
            })
            .sum()
    }
}
