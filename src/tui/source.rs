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

/// The windows `w` steps through, seconds.
pub const WINDOWS: [f64; 4] = [30.0, 60.0, 300.0, 900.0];

/// The window golden signals are computed over, set by the UI and read by
/// the polling task.
#[derive(Debug, Clone)]
pub struct Window(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl Window {
    /// Starts at the console's default window.
    pub fn new() -> Window {
        Window(std::sync::Arc::new(std::sync::atomic::AtomicU64::new(
            crate::tui::data::WINDOW as u64,
        )))
    }

    /// The window, seconds.
    pub fn get(&self) -> f64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed) as f64
    }

    /// Sets it (whole seconds, one to the longest of [`WINDOWS`]).
    pub fn set(&self, seconds: f64) {
        let s = seconds.clamp(1.0, WINDOWS[WINDOWS.len() - 1]) as u64;
        self.0.store(s, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Default for Window {
    fn default() -> Self {
        Window::new()
    }
}

/// Scrape history for every window the console offers: each scrape for
/// the last minute, one every ten seconds per target for the last quarter
/// hour (rates over a long window need its ends, not every second of it).
#[derive(Debug)]
pub struct History {
    dense: mesh::api::Signals,
    sparse: mesh::api::Signals,
    sparse_at: std::collections::HashMap<String, f64>,
}

impl Default for History {
    fn default() -> Self {
        History {
            dense: mesh::api::Signals::new(WINDOWS[1] + 5.0),
            sparse: mesh::api::Signals::new(WINDOWS[WINDOWS.len() - 1] + 15.0),
            sparse_at: std::collections::HashMap::new(),
        }
    }
}

impl History {
    /// Adds a scrape of `target` taken at `at`.
    pub fn ingest(
        &mut self,
        target: &str,
        at: f64,
        text: &str,
    ) -> Result<(), mesh::api::ScrapeError> {
        self.dense.ingest(target, at, text)?;
        if self.sparse_at.get(target).is_none_or(|t| at - t >= 10.0) {
            self.sparse_at.insert(target.to_string(), at);
            self.sparse.ingest(target, at, text)?;
        }
        Ok(())
    }

    /// Records that `target`'s scrape at `at` is unchanged (304); false
    /// when there is no earlier scrape to repeat (scrape it whole).
    pub fn ingest_unchanged(&mut self, target: &str, at: f64) -> bool {
        if !self.dense.ingest_unchanged(target, at) {
            return false;
        }
        if self.sparse_at.get(target).is_none_or(|t| at - t >= 10.0) {
            self.sparse_at.insert(target.to_string(), at);
            self.sparse.ingest_unchanged(target, at);
        }
        true
    }

    /// Forgets targets that are gone.
    pub fn keep(&mut self, alive: impl Fn(&str) -> bool) {
        let gone: Vec<String> = self
            .dense
            .targets()
            .filter(|t| !alive(t))
            .map(str::to_string)
            .collect();
        for g in gone {
            self.dense.forget(&g);
            self.sparse.forget(&g);
            self.sparse_at.remove(&g);
        }
    }

    fn over(&self, window: f64) -> &mesh::api::Signals {
        if window <= WINDOWS[1] {
            &self.dense
        } else {
            &self.sparse
        }
    }

    /// Golden signals per service version over `window` seconds ending `now`.
    pub fn services(&self, window: f64, now: f64) -> Vec<mesh::api::ServiceSignal> {
        self.over(window).services(window, now)
    }

    /// Signals per edge over `window` seconds ending `now`.
    pub fn edges(&self, window: f64, now: f64) -> Vec<mesh::api::EdgeSignal> {
        self.over(window).edges(window, now)
    }

    /// Both, from one pass over the history.
    pub fn services_and_edges(
        &self,
        window: f64,
        now: f64,
    ) -> (Vec<mesh::api::ServiceSignal>, Vec<mesh::api::EdgeSignal>) {
        self.over(window).services_and_edges(window, now)
    }
}

#[cfg(test)]
mod history_tests {
    use super::History;

    fn exposition(n: u32) -> String {
        format!("istio_requests_total{{reporter=\"destination\",destination_service_name=\"api\",destination_service_namespace=\"default\",destination_version=\"v1\",response_code=\"200\"}} {n}\n")
    }

    #[test]
    fn long_windows_are_rated_from_the_sparse_history() {
        let mut h = History::default();
        // Ten requests a second for ten minutes.
        for s in 0..=600u32 {
            h.ingest("p", f64::from(s), &exposition(s * 10))
                .expect("parses");
        }
        for window in [30.0, 60.0, 300.0] {
            let rows = h.services(window, 600.0);
            assert!((rows[0].rps - 10.0).abs() < 0.5, "{window}: {rows:?}");
        }
        h.keep(|_| false);
        assert!(h.services(30.0, 600.0).is_empty());
    }
}
