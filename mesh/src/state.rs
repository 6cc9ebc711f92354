//! The state directory: CA keys, the ingress CA, config history, practice
//! progress, the console API's address and its access token.
//!
//! Everything in it is private to the user who runs the mesh: the directory
//! is 0700 and every file 0600, because it holds CA keys, the token that
//! lets a client reconfigure the mesh, and the whole config history.
//! Files are written atomically (temporary file, fsync, rename, fsync of
//! the directory), so a crash leaves either the old or the new content,
//! never half of one; a failed write removes its temporary file and returns
//! the error, leaving the old content in place.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The file that holds the console API's access token, in the state directory.
pub const TOKEN_FILE: &str = "console.token";

/// The default state directory: `$XDG_STATE_HOME/meshcon`, else
/// `~/.local/state/meshcon`, else `./.meshcon`.
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("meshcon");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(home).join(".local/state/meshcon");
    }
    PathBuf::from(".meshcon")
}

/// Creates `dir` (and its parents) if needed and makes it 0700.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Makes the state directory private: itself and its subdirectories 0700,
/// every file 0600. Repairs directories left 0755/0644 by older versions and
/// files other programs (SQLite) created with the umask's mode.
pub fn make_private(dir: &Path) -> std::io::Result<()> {
    private_dir(dir)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            make_private(&entry.path())?;
        } else if kind.is_file() {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

/// Creates `path` empty with mode 0600 if it does not exist, so a program
/// that opens it afterwards (SQLite, a log) keeps it private.
pub fn touch_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

/// Writes a file atomically with mode 0600.
pub fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    write_atomic(path, data, 0o600)
}

/// Writes a file atomically with the given mode.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename is durable only once the directory entry is on disk.
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// The console API token of a mesh started with state directory `dir`.
pub fn token_file(dir: &Path) -> PathBuf {
    dir.join(TOKEN_FILE)
}

/// Why a token file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file could not be read.
    #[error("cannot read the console API token {path}: {source}")]
    Read {
        /// The token file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file does not hold a token.
    #[error("{path} does not hold a meshcon console token (64 hex digits); copy it again from the state directory of the mesh")]
    Malformed {
        /// The token file.
        path: PathBuf,
    },
}

/// Reads a token file written by [`load_or_create_token`].
pub fn read_token(path: &Path) -> Result<String, TokenError> {
    let text = std::fs::read_to_string(path).map_err(|source| TokenError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let token = text.trim();
    if token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(token.to_ascii_lowercase())
    } else {
        Err(TokenError::Malformed {
            path: path.to_path_buf(),
        })
    }
}

/// The console API token of the state directory `dir`: the one already
/// there (so a copy given to another machine keeps working across
/// restarts), else a new random one written with mode 0600.
pub fn load_or_create_token(dir: &Path) -> std::io::Result<String> {
    let path = token_file(dir);
    if let Ok(token) = read_token(&path) {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        return Ok(token);
    }
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| std::io::Error::other("no randomness for the console API token"))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, format!("{token}\n").as_bytes())?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "meshcon-state-{name}-{}-{}",
            std::process::id(),
            crate::control::events::unix_ms()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn a_failed_atomic_write_keeps_the_old_content_and_no_temporary_file() {
        let dir = temp("atomic");
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("api.addr");
        write_private(&file, b"127.0.0.1:1\n").expect("first write");
        // The temporary file's name is taken by a directory: opening it fails,
        // as a full disk would fail the write.
        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
        std::fs::create_dir_all(tmp.join("x")).expect("block");
        let err = write_private(&file, b"127.0.0.1:2\n").expect_err("write fails");
        assert!(!err.to_string().is_empty());
        assert_eq!(
            std::fs::read_to_string(&file).expect("read"),
            "127.0.0.1:1\n"
        );
        std::fs::remove_dir_all(&tmp).expect("unblock");
        write_private(&file, b"127.0.0.1:3\n").expect("write");
        assert_eq!(
            std::fs::read_to_string(&file).expect("read"),
            "127.0.0.1:3\n"
        );
        assert_eq!(mode(&file), 0o600);
        let left: Vec<_> = std::fs::read_dir(&dir)
            .expect("list")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 1, "{left:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn make_private_repairs_modes() {
        let dir = temp("modes");
        std::fs::create_dir_all(dir.join("ca")).expect("dirs");
        std::fs::write(dir.join("config.db"), b"x").expect("file");
        std::fs::write(dir.join("ca/eu-key.pem"), b"x").expect("file");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::set_permissions(
            dir.join("config.db"),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
        make_private(&dir).expect("private");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("ca")), 0o700);
        assert_eq!(mode(&dir.join("config.db")), 0o600);
        assert_eq!(mode(&dir.join("ca/eu-key.pem")), 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_token_survives_a_restart_and_is_private() {
        let dir = temp("token");
        private_dir(&dir).expect("dir");
        let a = load_or_create_token(&dir).expect("token");
        let b = load_or_create_token(&dir).expect("token again");
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(mode(&token_file(&dir)), 0o600);
        std::fs::write(token_file(&dir), "junk").expect("spoil");
        let err = read_token(&token_file(&dir)).expect_err("malformed");
        assert!(err.to_string().contains("does not hold"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
