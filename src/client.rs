//! The console API client: how every command and the TUI reach a mesh.
//!
//! Every call carries the mesh's access token (see `mesh::api::auth` and
//! README "Security of the console API and the state directory"). The token
//! file is chosen once per process, by [`use_credentials`]: `--credentials
//! FILE` (env `MESHCON_CREDENTIALS`), else `console.token` in the
//! `--state-dir`, else in the default state directory: what `up` with the
//! same options wrote.

use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::Duration;

use anyhow::Context;
use mesh::api::auth::{self, AuthedClient, Credentials};
use tonic::transport::{Channel, Endpoint};

/// Where `meshcon up` records the address of its console API.
pub fn api_file(state_dir: &Path) -> PathBuf {
    state_dir.join("api.addr")
}

/// The token file this process presents: chosen at start from the flags,
/// and by `up` for the mesh it runs itself.
static CREDENTIALS: RwLock<Option<PathBuf>> = RwLock::new(None);

/// Chooses the token file for the connections this process makes from now
/// on: `file` if given, else the one in `state_dir`, else the default state
/// directory's.
pub fn use_credentials(file: Option<PathBuf>, state_dir: Option<&Path>) {
    let path = file.unwrap_or_else(|| {
        auth::token_file(&state_dir.map_or_else(mesh::api::state::default_dir, Path::to_path_buf))
    });
    *CREDENTIALS.write().unwrap_or_else(|e| e.into_inner()) = Some(path);
}

/// The token file in use.
pub fn credentials_file() -> PathBuf {
    CREDENTIALS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_else(|| auth::token_file(&mesh::api::state::default_dir()))
}

/// What this process calls itself to the mesh: `cli` unless the console
/// says otherwise, so events say whether a change came from a command or
/// from the console.
static CLIENT: RwLock<&str> = RwLock::new("cli");

/// Names the connections this process makes from now on.
pub fn identify_as(client: &'static str) {
    *CLIENT.write().unwrap_or_else(|e| e.into_inner()) = client;
}

/// The credentials to send: the token, or none when the file cannot be
/// read (the mesh then refuses, and [`status_error`] says why).
fn credentials() -> Credentials {
    let client = *CLIENT.read().unwrap_or_else(|e| e.into_inner());
    match auth::read_token(&credentials_file()) {
        Ok(token) => Credentials::token(&token),
        Err(_) => Credentials::none(),
    }
    .calling_as(client)
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

/// A console API client carrying this process's credentials.
pub type Console = AuthedClient<Channel>;

/// A connection to a mesh's console API.
#[derive(Debug, Clone)]
pub struct MeshClient {
    /// The address, as given.
    pub addr: String,
    /// The gRPC client.
    pub console: Console,
}

fn endpoint(addr: &str) -> anyhow::Result<Endpoint> {
    let uri = if addr.starts_with("http://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    Endpoint::from_shared(uri).with_context(|| format!("'{addr}' is not a HOST:PORT address"))
}

fn console(channel: Channel) -> Console {
    mesh::api::ConsoleClient::with_interceptor(channel, credentials())
        .max_decoding_message_size(64 * 1024 * 1024)
}

impl MeshClient {
    /// Connects, with an error that says what to do when nothing answers.
    pub async fn connect(addr: &str) -> anyhow::Result<Self> {
        let channel = endpoint(addr)?
            .connect_timeout(Duration::from_secs(3))
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "cannot reach a meshcon mesh at {addr}: start one with `meshcon up --headless`, or pass --mesh HOST:PORT (env MESHCON_MESH) or the --state-dir it was started with"
                )
            })?;
        Ok(Self {
            addr: addr.to_string(),
            console: console(channel),
        })
    }

    /// A client that connects on first use and reconnects by itself (the TUI).
    pub fn lazy(addr: &str) -> anyhow::Result<Self> {
        let channel = endpoint(addr)?
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .connect_lazy();
        Ok(Self {
            addr: addr.to_string(),
            console: console(channel),
        })
    }

    /// Makes one call, so a mesh that refuses this client's credentials is
    /// told at once rather than on the first real request.
    pub async fn check(&mut self) -> anyhow::Result<()> {
        self.console
            .topology(mesh::api::Empty {})
            .await
            .map(|_| ())
            .map_err(status_error)
    }
}

/// Turns a gRPC status into one sentence.
pub fn status_error(s: tonic::Status) -> anyhow::Error {
    match s.code() {
        tonic::Code::Unavailable => anyhow::anyhow!("the mesh stopped answering: {}", s.message()),
        tonic::Code::Unauthenticated => {
            let file = credentials_file();
            let ours = match auth::read_token(&file) {
                Ok(_) => format!("this client sent the token in {}", file.display()),
                Err(e) => format!("this client has no token: {e}"),
            };
            anyhow::anyhow!("{} ({ours})", s.message())
        }
        _ => anyhow::anyhow!("{}", s.message()),
    }
}

/// Turns the status of a call that changes the config (apply, delete,
/// rollback) into one sentence: when the mesh went away mid-call, the
/// version may have been committed before it did.
pub fn change_error(s: tonic::Status) -> anyhow::Error {
    // A status made on this side from a broken connection carries its
    // cause; one the mesh sent does not.
    let from_transport = std::error::Error::source(&s).is_some();
    let went_away = from_transport
        || matches!(
            s.code(),
            tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
        );
    if went_away {
        anyhow::anyhow!(
            "the mesh went away; the version may have been applied: see `meshcon history` ({})",
            s.message()
        )
    } else {
        status_error(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mesh_gone_mid_apply_is_not_called_a_transport_error() {
        for s in [
            tonic::Status::unknown("transport error"),
            tonic::Status::unavailable("connection reset"),
            tonic::Status::cancelled("h2 protocol error: stream cancelled"),
        ] {
            let e = change_error(s).to_string();
            assert!(
                e.starts_with(
                    "the mesh went away; the version may have been applied: see `meshcon history`"
                ),
                "{e}"
            );
        }
        let refused = change_error(tonic::Status::invalid_argument("no such rule")).to_string();
        assert_eq!(refused, "no such rule");
    }

    #[test]
    fn a_refusal_for_want_of_a_token_says_which_file_was_missing() {
        let e = status_error(tonic::Status::unauthenticated(mesh::api::auth::NO_TOKEN));
        let text = e.to_string();
        assert!(
            text.contains("--credentials FILE") && text.contains("console.token"),
            "{text}"
        );
    }
}
