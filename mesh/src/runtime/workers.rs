//! The threads the sidecars' data plane runs on: each a single-threaded
//! tokio runtime, as each Envoy worker or nginx worker is an event loop of
//! its own. A sidecar's listeners, the connections they accept and the
//! upstream connections they open all live on the one thread it was given,
//! so a request crosses no thread between the app's socket and the peer's.
//!
//! On the process's shared multi-threaded runtime, each hop of a request
//! (accept, TLS, HTTP/2 stream, upstream connection task) could wake a task
//! on the other core: `perf` showed a fifth of the data plane's time in the
//! scheduler's context switches.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// A pool of data-plane threads; dropping it stops them (and every task on them).
#[derive(Debug)]
pub struct Workers {
    handles: Vec<Handle>,
    stops: parking_lot::Mutex<Vec<oneshot::Sender<()>>>,
    next: AtomicUsize,
    /// Each thread's `/proc/<pid>/task/<tid>/stat`, where Linux has it.
    stats: Vec<PathBuf>,
}

impl Workers {
    /// Starts `n` threads (at least one).
    pub fn start(n: usize) -> std::io::Result<Self> {
        let mut handles = Vec::new();
        let mut stops = Vec::new();
        let mut stats = Vec::new();
        for i in 0..n.max(1) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (stop, stopped) = oneshot::channel::<()>();
            handles.push(rt.handle().clone());
            stops.push(stop);
            let (said, where_) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name(format!("meshcon-dataplane-{i}"))
                .spawn(move || {
                    let _ = said.send(own_stat());
                    // Runs until the pool is dropped; the runtime, and every
                    // task still on it, goes with the thread.
                    let _ = rt.block_on(stopped);
                })?;
            if let Ok(Some(stat)) = where_.recv() {
                stats.push(stat);
            }
        }
        Ok(Self {
            handles,
            stops: parking_lot::Mutex::new(stops),
            next: AtomicUsize::new(0),
            stats,
        })
    }

    /// The thread the next sidecar runs on, in turn.
    pub fn pick(&self) -> Worker {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        Worker(self.handles[i].clone())
    }

    /// CPU time (user + system) the threads have used so far, seconds; 0
    /// where `/proc` does not say.
    pub fn cpu_seconds(&self) -> f64 {
        self.stats.iter().map(|stat| cpu_seconds(stat)).sum()
    }

    /// Ends the threads and every task still on them (a mesh shutting down).
    pub fn stop(&self) {
        for stop in self.stops.lock().drain(..) {
            let _ = stop.send(());
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One data-plane thread.
#[derive(Debug, Clone)]
pub struct Worker(Handle);

impl Worker {
    /// Runs `fut` on this thread.
    pub fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.0.spawn(fut)
    }
}

/// The calling thread's `/proc/<pid>/task/<tid>/stat`, where Linux has it.
fn own_stat() -> Option<PathBuf> {
    let task = std::fs::read_link("/proc/thread-self").ok()?;
    Some(PathBuf::from("/proc").join(task).join("stat"))
}

/// CPU time (user + system) from a `/proc/<pid>/stat` (or a thread's
/// `/proc/<pid>/task/<tid>/stat`) file, seconds.
pub fn cpu_seconds(stat: &std::path::Path) -> f64 {
    let Ok(stat) = std::fs::read_to_string(stat) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start after ')'.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after ')'.
    (ticks(11) + ticks(12)) / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spins until the calling thread has used `secs` of CPU (ticks are
    /// 10 ms), for at most 20 s.
    fn spin_for_cpu(secs: f64) -> u64 {
        let started = std::time::Instant::now();
        let stat = own_stat().expect("/proc/thread-self");
        let mut x = 0u64;
        while cpu_seconds(&stat) < secs && started.elapsed() < std::time::Duration::from_secs(20) {
            for i in 0..100_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
        }
        x
    }

    #[tokio::test]
    async fn a_threads_cpu_is_read_per_thread() {
        let workers = Workers::start(1).expect("a data-plane thread");
        let before = workers.cpu_seconds();
        let busy = workers.pick().spawn(async { spin_for_cpu(0.05) });
        busy.await.expect("the busy task ends");
        let after = workers.cpu_seconds();
        assert!(after >= before + 0.05, "{before} → {after} CPU-s");
        // Work on another thread does not count: the reading is the
        // data-plane thread's own, not the process's.
        let elsewhere = std::thread::spawn(|| spin_for_cpu(0.1));
        elsewhere.join().expect("the other thread ends");
        let idle = workers.cpu_seconds();
        assert!(idle < after + 0.05, "{after} → {idle} CPU-s while idle");
        assert!(crate::bench::process_cpu_seconds() >= idle + 0.1);
    }
}
