//! A live drill in the console: picked at random from the mesh's own names,
//! injected and undone through commands, judged on what was injected, and
//! remembered in practice.db until undone, so a quit, a lost mesh or a
//! crash never leaves a fault behind (the next start heals it).

use std::path::Path;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::practice::drill::{self as core, DrillKind, Fault, MeshNames, Step};
use crate::practice::progress::{Leftover, Progress, Write};
use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::{Effect, Practice, Screen};
use crate::tui::data::Command;
use crate::tui::mesh_data::MeshData;

/// A live drill under way (or just judged).
#[derive(Debug, Clone, PartialEq)]
pub struct Drill {
    /// What was injected, and how to take it back.
    pub fault: Fault,
    /// Answer to "what happened".
    pub what: String,
    /// Answer to "which resource fixes it".
    pub fix: String,
    /// Which field is being typed (0 what, 1 fix).
    pub field: usize,
    /// Typing answers; otherwise the user is looking around the console
    /// and every view key works.
    pub answering: bool,
    /// The verdict, once answered (and the drill undone).
    pub result: Option<(bool, String)>,
}

impl Drill {
    /// The kind of fault.
    pub fn kind(&self) -> DrillKind {
        self.fault.kind
    }
}

/// The names a drill can be picked from, as the views show them.
pub fn names(d: &MeshData) -> MeshNames {
    // A cluster's east-west gateway carries the calls into it from other
    // clusters: stopping one that receives none would show nothing.
    let mut gateways: Vec<String> = d
        .workloads
        .iter()
        .filter(|w| w.kind == "eastwest-gateway" && w.ready)
        .filter(|w| {
            d.edges.iter().any(|e| {
                e.destination_cluster == w.cluster
                    && !e.source_cluster.is_empty()
                    && e.source_cluster != w.cluster
                    && e.rps > 0.0
            })
        })
        .map(|w| w.cluster.clone())
        .collect();
    gateways.sort();
    gateways.dedup();
    MeshNames {
        instances: d
            .workloads
            .iter()
            .filter(|w| w.is_sidecar() && w.ready && !w.external)
            .map(|w| (w.instance.clone(), w.service.clone(), w.version.clone()))
            .collect(),
        gateways,
        version: d.version,
    }
}

fn command(s: &Step) -> Command {
    match s {
        Step::Chaos {
            action,
            target,
            delay_ms,
            error_rate,
        } => Command::Chaos(mesh::api::ChaosRequest {
            action: (*action).to_string(),
            target: target.clone(),
            delay_ms: *delay_ms,
            error_rate: *error_rate,
        }),
        Step::Apply(yaml) => Command::Apply {
            yaml: yaml.clone(),
            file: "drill".into(),
        },
        Step::Rollback(v) => Command::Rollback(*v),
    }
}

/// Steps as commands, run in order.
pub fn commands(steps: &[Step]) -> Vec<Command> {
    match steps {
        [one] => vec![command(one)],
        many => vec![Command::Sequence(many.iter().map(command).collect())],
    }
}

/// Picks and injects a random drill on the mesh (`kind` when given). The
/// first command remembers it in practice.db so it can be undone later.
pub fn start(
    d: &MeshData,
    seed: u64,
    addr: &str,
    kind: Option<DrillKind>,
) -> Option<(Drill, Vec<Command>)> {
    let fault = core::pick(&names(d), kind, &mut StdRng::seed_from_u64(seed))?;
    let mut cmds = vec![Command::SaveProgress(Write::Leftover(Some(Leftover {
        addr: addr.to_string(),
        undo: fault.undo.clone(),
    })))];
    cmds.extend(commands(&fault.inject));
    Some((
        Drill {
            fault,
            what: String::new(),
            fix: String::new(),
            field: 0,
            answering: false,
            result: None,
        },
        cmds,
    ))
}

/// Undoes a drill, and forgets it in practice.db.
pub fn undo(d: &Drill) -> Vec<Command> {
    let mut cmds = commands(&d.fault.undo);
    cmds.push(Command::SaveProgress(Write::Leftover(None)));
    cmds
}

/// What to wait for before the next drill, once `d` is undone at config
/// `version`: a newer version (its rollback), for at most ten seconds.
pub fn settle(d: &Drill, version: u64, now: f64) -> Option<(u64, f64)> {
    d.fault
        .undo
        .iter()
        .any(|s| matches!(s, Step::Rollback(_)))
        .then_some((version, now + 10.0))
}

/// What was injected, said once the drill is over.
pub fn answer(d: &Drill) -> String {
    format!("{} ({})", d.fault.target, d.fault.detail)
}

/// Checks the answers against what was injected.
pub fn judge(d: &Drill) -> (bool, String) {
    let j = core::judge(&d.fault, &d.what, &d.fix);
    let text = format!(
        "{} {}. It was: {}. Fix: {} The drill has been undone.",
        if j.ok() { "Right!" } else { "Not quite:" },
        if j.ok() {
            "You found it".to_string()
        } else {
            j.why.join("; ")
        },
        answer(d),
        d.kind().explain_fix()
    );
    (j.ok(), text)
}

impl Practice {
    /// A key on the drill screen before a drill: Enter starts one, on a
    /// mesh the learner started or named.
    pub(super) fn drill_idle(
        &mut self,
        k: KeyEvent,
        d: &MeshData,
        connected: bool,
        now: f64,
        fx: &mut Effect,
    ) -> Screen {
        if k.code == KeyCode::Char('c') {
            // Any kind, then each kind in turn.
            let all = DrillKind::ALL;
            self.drill_choice = match self.drill_choice {
                None => all.first().copied(),
                Some(k) => all
                    .iter()
                    .position(|x| *x == k)
                    .and_then(|i| all.get(i + 1))
                    .copied(),
            };
            return Screen::Drill(None);
        }
        if k.code != KeyCode::Enter {
            return Screen::Drill(None);
        }
        if !connected {
            self.note = Some(if self.addr.is_empty() {
                "practice was started without a mesh: drills run only on one you start (`meshcon`, then 9) or name (`meshcon practice --mesh ADDR`)".into()
            } else {
                format!(
                    "no mesh answers at {}: a live drill needs a running mesh",
                    self.addr
                )
            });
            return Screen::Drill(None);
        }
        if let Some((v, until)) = self.settle {
            if d.version <= v && now < until {
                self.note = Some("the last drill's rollback is still reaching the mesh: press Enter again in a moment".into());
                return Screen::Drill(None);
            }
            self.settle = None;
        }
        let seed = self.seed.wrapping_add(self.drills_run as u64);
        match start(d, seed, &self.addr, self.drill_choice) {
            Some((drill, cmds)) => {
                self.drills_run += 1;
                self.note = None;
                fx.commands = cmds;
                Screen::Drill(Some(drill))
            }
            None => {
                self.note = Some("the mesh has nothing to drill on for this kind yet".into());
                Screen::Drill(None)
            }
        }
    }

    /// A key during (or after) a drill.
    pub(super) fn drill_key(
        &mut self,
        mut drill: Drill,
        k: KeyEvent,
        ctrl: bool,
        (now, version): (f64, u64),
        fx: &mut Effect,
    ) -> Screen {
        if drill.result.is_some() {
            return if k.code == KeyCode::Enter {
                Screen::Drill(None)
            } else {
                Screen::Drill(Some(drill))
            };
        }
        if ctrl && k.code == KeyCode::Char('g') {
            fx.commands = undo(&drill);
            self.settle = settle(&drill, version, now);
            drill.result = Some((
                false,
                format!(
                    "Given up. It was: {}. {} Where to see it: {}",
                    answer(&drill),
                    drill.kind().explain_fix(),
                    drill.kind().hint()
                ),
            ));
            self.finish(&drill, false, now, fx);
            return Screen::Drill(Some(drill));
        }
        if !drill.answering {
            if k.code == KeyCode::Enter {
                drill.answering = true;
            }
            return Screen::Drill(Some(drill));
        }
        let field = if drill.field == 0 {
            &mut drill.what
        } else {
            &mut drill.fix
        };
        match k.code {
            KeyCode::Tab | KeyCode::Down | KeyCode::Up => drill.field = 1 - drill.field,
            KeyCode::Backspace => {
                field.pop();
            }
            KeyCode::Char(c) if !ctrl => field.push(c),
            KeyCode::Enter if drill.field == 0 => drill.field = 1,
            KeyCode::Enter => {
                let (ok, text) = judge(&drill);
                fx.commands = undo(&drill);
                self.settle = settle(&drill, version, now);
                drill.result = Some((
                    ok,
                    if ok {
                        text
                    } else {
                        format!("{text} Where to see it: {}", drill.kind().hint())
                    },
                ));
                self.finish(&drill, ok, now, fx);
            }
            _ => {}
        }
        Screen::Drill(Some(drill))
    }

    fn finish(&mut self, drill: &Drill, ok: bool, now: f64, fx: &mut Effect) {
        self.save(fx, "drill", &format!("{:?}", drill.kind()), ok, now);
        if !ok {
            let w = self.progress.miss(drill.kind().topic(), now);
            fx.commands.push(Command::SaveProgress(w));
        }
    }
}

async fn run_steps(addr: &str, steps: &[Step]) -> anyhow::Result<()> {
    let mut c = crate::client::MeshClient::connect(addr).await?;
    for s in steps {
        let call = async {
            match command(s) {
                Command::Chaos(req) => c.console.chaos(req).await.map(|_| ()),
                Command::Rollback(version) => c
                    .console
                    .rollback(mesh::api::RollbackRequest { version })
                    .await
                    .map(|_| ()),
                _ => Ok(()),
            }
        };
        tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .map_err(|_| anyhow::anyhow!("no answer from {addr}"))?
            .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    }
    Ok(())
}

/// Undoes `undo` on the mesh at `addr` now (on quit), and forgets the
/// drill in `db` once done; when the mesh does not answer, the drill stays
/// remembered for the next start.
pub async fn undo_now(addr: &str, undo: &[Step], db: &Path) -> anyhow::Result<()> {
    run_steps(addr, undo).await?;
    Progress::open(db)
        .and_then(|mut p| p.write(&Write::Leftover(None)))
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Heals a drill a previous run left in `db` (it crashed, or lost the
/// mesh and quit): the fault is undone on the mesh it was put in when that
/// is the mesh at `addr`, or the one this process runs (`embedded`, whose
/// config history outlives it). Says what happened, if anything.
pub async fn heal_leftover(addr: &str, embedded: bool, db: &Path) -> Option<String> {
    let left = Progress::open(db).ok()?.load().ok()?.leftover?;
    if left.addr != addr && !embedded {
        return Some(format!(
            "a drill left on the mesh at {} is not undone yet: run practice --mesh {} to heal it",
            left.addr, left.addr
        ));
    }
    // A mesh that restarted lost its chaos; only its config is still there.
    let steps: Vec<Step> = if left.addr == addr {
        left.undo.clone()
    } else {
        left.undo
            .iter()
            .filter(|s| matches!(s, Step::Rollback(_)))
            .cloned()
            .collect()
    };
    Some(match undo_now(addr, &steps, db).await {
        Ok(()) => "a drill the last run left in the mesh was found and undone".to_string(),
        Err(e) => format!(
            "a drill the last run left could not be undone yet ({e}); it will be tried again"
        ),
    })
}
