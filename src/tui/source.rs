//! Where the console's data comes from. Every view reads [`DataEvent`]s
//! and sends [`Command`]s; two sources speak that contract:
//!
//! - [`meshcon`]: a meshcon mesh's console API (the playground, or one
//!   started elsewhere and attached to);
//! - [`real`]: a real Istio or Linkerd mesh, assembled from its Prometheus
//!   (or direct scrapes of its proxies), trace receivers and kubectl.
//!
//! A source says up front what it cannot do ([`SourceInfo::missing`]), so
//! the console greys those features with a reason instead of failing.
//! Practice progress is written here too, in order, on a thread of its own,
//! so `update` never waits on SQLite.
//!
//! [`DataEvent`]: super::data::DataEvent
//! [`Command`]: super::data::Command

pub mod meshcon;
pub mod real;

pub use real::RealMesh;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::practice::progress::{Progress, Write};
use crate::tui::data::{Background, Command, DataEvent};
pub use crate::tui::data::{Feature, SourceInfo};

/// The data source the console is opened on.
#[derive(Debug)]
pub enum Source {
    /// A meshcon mesh's console API at this address.
    Meshcon {
        /// HOST:PORT.
        addr: String,
    },
    /// A real mesh.
    Real(Box<RealMesh>),
}

/// Starts every data task for `source`, and the writer of practice
/// progress into `progress`.
pub fn spawn<E: From<DataEvent> + Send + 'static>(
    source: Source,
    tx: mpsc::Sender<E>,
    mut commands: mpsc::Receiver<Command>,
    cancel: CancellationToken,
    mut progress: Progress,
) -> anyhow::Result<Background> {
    // Progress writes, in the order they were made.
    let (writes, queued) = std::sync::mpsc::channel::<Write>();
    let writer = {
        let tx = tx.clone();
        std::thread::Builder::new()
            .name("practice-progress".into())
            .spawn(move || {
                for w in queued {
                    if let Err(e) = progress.write(&w) {
                        let _ =
                            tx.blocking_send(E::from(DataEvent::ProgressNotSaved(e.to_string())));
                    }
                }
            })?
    };

    // Commands from the UI, until the loop drops its sender: the last
    // progress writes still arrive after the mesh tasks are cancelled.
    // Everything else is the source's to carry out.
    let (to_source, source_commands) = mpsc::channel::<Command>(64);
    {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            while let Some(cmd) = commands.recv().await {
                if let Command::SaveProgress(w) = cmd {
                    let _ = writes.send(w);
                    continue;
                }
                if cancel.is_cancelled() {
                    continue;
                }
                let _ = to_source.send(cmd).await;
            }
        });
    }

    match source {
        // No address: practice on its own, which never connects anywhere.
        Source::Meshcon { addr } if addr.is_empty() => drop(source_commands),
        Source::Meshcon { addr } => meshcon::spawn(&addr, source_commands, tx, cancel)?,
        Source::Real(real) => real::spawn(*real, source_commands, tx, cancel)?,
    }
    Ok(Background { writer })
}
