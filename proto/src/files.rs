//! Files the agent and the collector write that hold secrets or data (the
//! collector's database, CA and server keys, quickstart's admin token; the
//! agent's key, certificate, CA, enrolment record, spool, sequence
//! reservation, baseline, pid and stop files): created mode 0600 in
//! directories of mode 0700, so other local users can read none of them. A
//! directory or file found with looser modes (made by an older version, or by
//! hand) is tightened at start, with a WARN naming it. Here because this is
//! the one crate both binaries depend on.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of every directory created for data or secrets.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file created for data or secrets.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) mode 0700, or tightens an existing
/// one that others can read, write or enter.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    tighten(dir, DIR_MODE)
}

/// Sets `path` to `mode` if it grants more than `mode` allows, with a WARN;
/// nothing if it does not exist.
pub fn tighten(path: &Path, mode: u32) -> std::io::Result<()> {
    let current = match std::fs::metadata(path) {
        Ok(metadata) => metadata.permissions().mode() & 0o777,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    if current & !mode == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    tracing::warn!(
        path = %path.display(),
        was = %format!("{current:o}"),
        now = %format!("{mode:o}"),
        "tightened the mode of a file that other users could reach"
    );
    Ok(())
}

/// Creates `path` empty with mode 0600 unless it exists, and tightens it if
/// it does: used before a library (SQLite) would create the file with the
/// umask, or before a file is opened for appending.
pub fn private_file(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)?;
    tighten(path, FILE_MODE)
}

/// Writes `contents` to `path` mode 0600, atomically (a temporary file in
/// the same directory, synced, then renamed over `path`).
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = std::path::PathBuf::from(temporary);
    let _ = std::fs::remove_file(&temporary);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(&temporary)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .map(|metadata| metadata.permissions().mode() & 0o777)
            .unwrap_or(0)
    }

    #[test]
    fn creates_private_and_tightens_loose_modes() -> std::io::Result<()> {
        let root = tempfile::tempdir()?;
        let dir = root.path().join("a/b");
        private_dir(&dir)?;
        assert_eq!(mode(&dir), 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        private_dir(&dir)?;
        assert_eq!(mode(&dir), 0o700);

        let file = dir.join("rollcall.db");
        private_file(&file)?;
        assert_eq!(mode(&file), 0o600);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))?;
        private_file(&file)?;
        assert_eq!(mode(&file), 0o600);

        let secret = dir.join("key.pem");
        write_private(&secret, b"one")?;
        write_private(&secret, b"two")?;
        assert_eq!(mode(&secret), 0o600);
        assert_eq!(std::fs::read(&secret)?, b"two");
        Ok(())
    }
}
