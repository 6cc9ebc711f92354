//! The console API client: how every command and the TUI reach a mesh.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use mesh::api::ConsoleClient;
use tonic::transport::{Channel, Endpoint};

/// Where `meshcon up` records the address of its console API.
pub fn api_file(state_dir: &Path) -> PathBuf {
    state_dir.join("api.addr")
}

/// The mesh to talk to: `--mesh`/`MESHCON_MESH` if given, else the one
/// `meshcon up` last started with the default state directory, else the
/// default address.
pub fn resolve_addr(flag: Option<&str>) -> String {
    if let Some(a) = flag.filter(|a| !a.is_empty()) {
        return a.to_string();
    }
    if let Ok(text) = std::fs::read_to_string(api_file(&mesh::api::state::default_dir())) {
        let t = text.trim();
        if !t.is_empty() {
            return t.to_string();
        }
    }
    mesh::api::DEFAULT_API.to_string()
}

/// A connection to a mesh's console API.
#[derive(Debug, Clone)]
pub struct MeshClient {
    /// The address, as given.
    pub addr: String,
    /// The gRPC client.
    pub console: ConsoleClient<Channel>,
}

impl MeshClient {
    /// Connects, with an error that says what to do when nothing answers.
    pub async fn connect(addr: &str) -> anyhow::Result<Self> {
        let uri = if addr.starts_with("http://") {
            addr.to_string()
        } else {
            format!("http://{addr}")
        };
        let endpoint = Endpoint::from_shared(uri.clone())
            .with_context(|| format!("'{addr}' is not a HOST:PORT address"))?
            .connect_timeout(Duration::from_secs(3))
            .tcp_nodelay(true);
        let channel = endpoint.connect().await.map_err(|_| {
            anyhow::anyhow!(
                "cannot reach a meshcon mesh at {addr}: start one with `meshcon up --headless`, or pass --mesh HOST:PORT (env MESHCON_MESH) or the --state-dir it was started with"
            )
        })?;
        Ok(Self {
            addr: addr.to_string(),
            console: ConsoleClient::new(channel).max_decoding_message_size(64 * 1024 * 1024),
        })
    }

    /// A client that connects on first use and reconnects by itself (the TUI).
    pub fn lazy(addr: &str) -> anyhow::Result<Self> {
        let uri = if addr.starts_with("http://") {
            addr.to_string()
        } else {
            format!("http://{addr}")
        };
        let channel = Endpoint::from_shared(uri)
            .with_context(|| format!("'{addr}' is not a HOST:PORT address"))?
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .connect_lazy();
        Ok(Self {
            addr: addr.to_string(),
            console: ConsoleClient::new(channel).max_decoding_message_size(64 * 1024 * 1024),
        })
    }
}

/// Turns a gRPC status into one sentence.
pub fn status_error(s: tonic::Status) -> anyhow::Error {
    match s.code() {
        tonic::Code::Unavailable => anyhow::anyhow!("the mesh stopped answering: {}", s.message()),
        _ => anyhow::anyhow!("{}", s.message()),
    }
}
