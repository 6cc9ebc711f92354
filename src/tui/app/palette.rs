//! The `:` command line. Its grammar is clap's, like the CLI's, and where
//! the two share a command (`chaos`, `rollback`) they share its argument
//! types and parsers, so `:chaos fail auth 2` and `meshcon chaos fail auth
//! --rate 2` are refused with the same words. A mistake is said in the
//! status line in clap's words; it never exits or panics.

use clap::{Parser, Subcommand, ValueEnum};

use super::routing::{open_editor, template};
use super::App;
use crate::cli::{ChaosAction, ChaosArgs};
use crate::tui::action::{Confirm, View};
use crate::tui::data::Command;
use crate::tui::scenario;

/// The palette's grammar: one command per line.
#[derive(Debug, Parser)]
#[command(
    name = ":",
    no_binary_name = true,
    disable_help_flag = true,
    disable_help_subcommand = true,
    disable_version_flag = true
)]
struct Line {
    #[command(subcommand)]
    command: Palette,
}

/// The palette's commands, in the order help and completion list them.
#[derive(Debug, Subcommand)]
enum Palette {
    #[command(about = "the service graph")]
    Graph,
    #[command(alias = "services", about = "golden signals per service")]
    Svc,
    #[command(about = "live requests")]
    Tap,
    #[command(alias = "id", about = "SPIFFE IDs and certificates")]
    Identities,
    #[command(about = "recent traces")]
    Traces,
    #[command(alias = "routes", about = "applied rules and the editor")]
    Routing,
    #[command(about = "which route a request takes")]
    Why,
    #[command(about = "the control plane's events")]
    Events,
    #[command(about = "vocabulary practice")]
    Practice,
    #[command(about = "vs NAME: edit a VirtualService")]
    Vs {
        /// The VirtualService (a new one from a template if none is applied).
        name: String,
    },
    #[command(about = "dr NAME: edit a DestinationRule")]
    Dr {
        /// The DestinationRule (a new one from a template if none is applied).
        name: String,
    },
    #[command(about = "scenario NAME: run a demo scenario")]
    Scenario {
        /// A scenario of demo/scenarios.
        name: String,
    },
    #[command(about = "apply RULE: apply a file of demo/rules")]
    Apply {
        /// A file of demo/rules, with or without `.yaml`.
        rule: String,
    },
    #[command(
        about = "chaos ACTION TARGET [AMOUNT]: slow (ms), fail (share), heal, kill, restart, rogue, rotate-root..."
    )]
    Chaos {
        #[command(flatten)]
        args: ChaosArgs,
        /// slow: milliseconds; fail: a share of requests (the CLI's
        /// `--delay-ms` and `--rate`, which work here too).
        amount: Option<String>,
    },
    #[command(about = "rollback N: make version N current again")]
    Rollback {
        /// The version (12 or v12).
        #[arg(value_parser = crate::cli::version)]
        version: u64,
    },
    #[command(
        name = "proxy-config",
        about = "proxy-config secret|endpoint|route|cluster: what the attached Envoys say"
    )]
    ProxyConfig {
        /// The part of the config.
        #[arg(value_enum)]
        section: crate::commands::proxy_config::Section,
    },
    #[command(about = "every key")]
    Help,
    #[command(alias = "q", about = "leave")]
    Quit,
}

/// The palette's commands with what each does, for help and completion.
pub fn commands() -> Vec<(String, String)> {
    use clap::CommandFactory;
    Line::command()
        .get_subcommands()
        .map(|c| {
            (
                c.get_name().to_string(),
                c.get_about().map(|a| a.to_string()).unwrap_or_default(),
            )
        })
        .collect()
}

/// The chaos actions, as `meshcon chaos` takes them.
fn chaos_actions() -> Vec<String> {
    ChaosAction::value_variants()
        .iter()
        .map(|a| a.name())
        .collect()
}

/// Completions of a palette input.
pub fn completions(app: &App, input: &str) -> Vec<String> {
    let words: Vec<&str> = input.split_whitespace().collect();
    let trailing = input.ends_with(' ');
    if words.is_empty() || (words.len() == 1 && !trailing) {
        let prefix = words.first().copied().unwrap_or("");
        return commands()
            .into_iter()
            .map(|(c, _)| c)
            .filter(|c| c.starts_with(prefix))
            .collect();
    }
    let arg = if trailing {
        ""
    } else {
        words.last().copied().unwrap_or("")
    };
    let options: Vec<String> = match words[0] {
        "scenario" => scenario::all().into_iter().map(|s| s.name).collect(),
        "apply" => scenario::RULES.iter().map(|(n, _)| n.to_string()).collect(),
        "vs" | "dr" => {
            let mut v: Vec<String> = app
                .mesh
                .topology
                .as_ref()
                .map(|t| t.services.iter().map(|s| s.name.clone()).collect())
                .unwrap_or_default();
            v.sort();
            v.dedup();
            v
        }
        "chaos" if words.len() == 1 || (words.len() == 2 && !trailing) => chaos_actions(),
        "chaos" => {
            let mut v: Vec<String> = app
                .mesh
                .workloads
                .iter()
                .filter(|w| w.is_sidecar())
                .flat_map(|w| [w.instance.clone(), w.service.clone()])
                .collect();
            v.extend(app.mesh.trust_domains.iter().map(|t| t.cluster.clone()));
            v.sort();
            v.dedup();
            v
        }
        "proxy-config" => crate::commands::proxy_config::Section::value_variants()
            .iter()
            .map(|s| s.name())
            .collect(),
        "rollback" => app
            .mesh
            .history
            .iter()
            .map(|h| h.version.to_string())
            .collect(),
        _ => Vec::new(),
    };
    let head: String = if trailing {
        input.to_string()
    } else {
        input[..input.len() - arg.len()].to_string()
    };
    options
        .into_iter()
        .filter(|o| o.starts_with(arg))
        .map(|o| format!("{head}{o}"))
        .collect()
}

/// Tab: the longest common start of the completions, or the first one; a
/// single completion gets its trailing space.
pub(super) fn complete(app: &mut App) {
    let Some(p) = app.palette.clone() else {
        return;
    };
    let options = completions(app, &p);
    let Some(first) = options.first() else {
        return;
    };
    let common = options.iter().skip(1).fold(first.clone(), |acc, o| {
        acc.chars()
            .zip(o.chars())
            .take_while(|(a, b)| a == b)
            .map(|(a, _)| a)
            .collect()
    });
    let mut next = if common.len() > p.len() {
        common
    } else {
        first.clone()
    };
    if options.len() == 1 {
        next.push(' ');
    }
    app.palette = Some(next);
}

/// clap's error in one status line: its first paragraph (the message with
/// its argument or possible values), its tip if it has one, and the usage
/// of the command, or how to see the commands when there was none.
fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut paragraphs = text
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty());
    let first = paragraphs.next().unwrap_or_else(|| "not a command".into());
    let mut out = first.strip_prefix("error: ").unwrap_or(&first).to_string();
    for p in paragraphs {
        if p.starts_with("tip:") {
            out.push_str(&format!(" ({p})"));
        } else if let Some(usage) = p.strip_prefix("Usage:") {
            let usage = usage.trim_start_matches([' ', ':']);
            if e.kind() == clap::error::ErrorKind::InvalidSubcommand || usage == "<COMMAND>" {
                out.push_str(" (press : then Tab to see the commands)");
            } else {
                out.push_str(&format!(" · usage: :{usage}"));
            }
        }
    }
    out
}

/// `chaos ACTION TARGET [AMOUNT]`: an amount is milliseconds for slow and a
/// share (0-1] for fail, and without one the mesh's defaults apply.
fn chaos_request(
    args: &ChaosArgs,
    amount: Option<&str>,
) -> Result<mesh::api::ChaosRequest, String> {
    let mut req = args.request()?;
    let Some(amount) = amount else {
        return Ok(req);
    };
    match args.action {
        ChaosAction::Slow => {
            req.delay_ms = amount
                .parse()
                .map_err(|_| format!("slow takes milliseconds, not '{amount}'"))?
        }
        ChaosAction::Fail => req.error_rate = crate::cli::share(amount)?,
        _ => return Err(format!("chaos {} takes no amount", req.action)),
    }
    Ok(req)
}

/// Runs a palette line. Commands that change the mesh ask first.
pub(super) fn run(app: &mut App, input: &str) -> Vec<Command> {
    let words: Vec<&str> = input.split_whitespace().collect();
    if words.is_empty() {
        return Vec::new();
    }
    let command = match Line::try_parse_from(&words) {
        Ok(line) => line.command,
        Err(e) => {
            app.say(one_line(&e), true);
            return Vec::new();
        }
    };
    let show = |app: &mut App, v: View| {
        app.view = v;
        Vec::new()
    };
    match command {
        Palette::Graph => show(app, View::Graph),
        Palette::Svc => show(app, View::Services),
        Palette::Tap => show(app, View::Tap),
        Palette::Identities => show(app, View::Identities),
        Palette::Traces => show(app, View::Traces),
        Palette::Routing => {
            app.routing.pane = super::RoutingPane::List;
            show(app, View::Routing)
        }
        Palette::Why => show(app, View::Why),
        Palette::Events => show(app, View::Events),
        Palette::Practice => show(app, View::Practice),
        Palette::Help => {
            app.help = true;
            Vec::new()
        }
        Palette::Quit => {
            app.ask_quit();
            Vec::new()
        }
        Palette::Vs { name } => edit(app, "vs", "VirtualService", &name),
        Palette::Dr { name } => edit(app, "dr", "DestinationRule", &name),
        Palette::Scenario { name } => {
            if scenario::find(&name).is_some() {
                app.confirm = Some(Confirm::Scenario(name));
            } else {
                let names: Vec<String> = scenario::all().into_iter().map(|s| s.name).collect();
                app.say(
                    format!("no scenario '{name}' (try {})", names.join(", ")),
                    true,
                );
            }
            Vec::new()
        }
        Palette::Apply { rule } => match scenario::rule(&rule) {
            Some(text) => {
                let mut c = open_editor(app, text);
                app.confirm = Some(Confirm::Apply);
                c.truncate(1);
                c
            }
            None => {
                app.say(format!("no rule file '{rule}' in demo/rules"), true);
                Vec::new()
            }
        },
        Palette::Chaos { args, amount } => {
            match chaos_request(&args, amount.as_deref()) {
                Ok(req) => app.confirm = Some(Confirm::Chaos(req)),
                Err(e) => app.say(e, true),
            }
            Vec::new()
        }
        Palette::ProxyConfig { section } => vec![Command::ProxyConfig(section)],
        Palette::Rollback { version } => {
            if app.mesh.history.iter().any(|h| h.version == version) {
                app.confirm = Some(Confirm::Rollback(version));
            } else {
                app.say(
                    format!("there is no version v{version} (see the history: H in Routing)"),
                    true,
                );
            }
            Vec::new()
        }
    }
}

/// Opens the applied resource of `kind` named `name` in the editor, or a
/// template for a new one.
fn edit(app: &mut App, short: &str, kind: &str, name: &str) -> Vec<Command> {
    let text = app
        .mesh
        .resources
        .iter()
        .find(|r| r.kind == kind && r.name == name)
        .map(|r| r.yaml.clone())
        .unwrap_or_else(|| template(short, name));
    open_editor(app, &text)
}
