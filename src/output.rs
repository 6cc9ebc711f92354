//! Output for people (aligned tables) and scripts (JSON, YAML).

use clap::ValueEnum;

/// `-o` formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Aligned columns.
    #[default]
    Table,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// Text from a mesh or a file as it may be printed: control characters
/// (ESC, NUL, CR...) and direction overrides escaped, so a name cannot act
/// on the terminal.
pub fn escape(s: &str) -> String {
    mesh::api::util::escape_control(s)
}

/// [`escape`] for multi-line text such as an error chain: line breaks stay
/// line breaks, every other control character is escaped.
pub fn escape_lines(s: &str) -> String {
    s.split('\n').map(escape).collect::<Vec<_>>().join("\n")
}

/// Renders rows as aligned columns under a header.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(widths[i].saturating_sub(c.chars().count()) + 2));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// Prints a value as JSON or YAML.
pub fn structured<T: serde::Serialize>(value: &T, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Yaml => serde_saphyr::to_string(value)?,
        _ => {
            let mut s = serde_json::to_string_pretty(value)?;
            s.push('\n');
            s
        }
    })
}

/// Ends the command when its reader has gone away (`meshcon get ... | head`),
/// quietly and successfully, as other command-line tools do.
pub fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("meshcon: cannot write to standard output: {e}");
    std::process::exit(1);
}

/// `print!` for command output that survives a closed pipe.
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout().lock(), $($t)*) {
            $crate::output::stdout_failed(e);
        }
    }};
}

/// `println!` for command output that survives a closed pipe.
#[macro_export]
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($t)*) {
            $crate::output::stdout_failed(e);
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(escape("a\u{1b}[2Jb\0"), "a\\u{1b}[2Jb\\0");
        assert_eq!(escape("evil\u{202e}txt"), "evil\\u{202e}txt");
        assert_eq!(escape("caf\u{e9} \u{1f4a5}"), "caf\u{e9} \u{1f4a5}");
        assert_eq!(escape_lines("one\r\ntwo\u{7}"), "one\\r\ntwo\\u{7}");
    }
}
