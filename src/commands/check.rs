//! `meshcon practice check FILE`: the explanation checker for teachers and
//! scripts. Needs no mesh.

use std::io::Read as _;
use std::process::ExitCode;

use crate::output::{self, Format};
use crate::practice::check::{self, Verdict};

/// Checks the explanation in `file` (`-` for standard input) and prints the
/// rubric and the verdict; 0 on pass, 1 on fail.
pub fn run(file: &str, format: Format) -> anyhow::Result<ExitCode> {
    let text = read(file).unwrap_or_else(|e| {
        use clap::CommandFactory as _;
        crate::cli::Cli::command()
            .error(clap::error::ErrorKind::Io, e)
            .exit()
    });
    let report = check::check(&text);
    let shown = match format {
        Format::Table => output::escape_lines(&check::render(&report)),
        _ => output::structured(&report, format)?,
    };
    crate::out!("{shown}");
    Ok(match report.verdict {
        Verdict::Pass => ExitCode::SUCCESS,
        Verdict::Fail => ExitCode::from(1),
    })
}

fn read(file: &str) -> Result<String, String> {
    if file == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        return Ok(s);
    }
    std::fs::read_to_string(file).map_err(|e| format!("cannot read '{file}': {e}"))
}
