//! Files the server writes into its data directory at start-up.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Creates `path` holding `contents`, readable and writable by this user only, unless a file is
/// there already (then that one is kept). Written whole under a temporary name and linked into
/// place, so neither a crash nor an instance starting at the same moment on a shared data
/// directory ever sees a half-written file; of two starts racing, both end up using the first's.
pub fn create_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let prefix = format!(".{}.", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default());
    let mut tmp = tempfile::Builder::new().prefix(&prefix).permissions(std::fs::Permissions::from_mode(0o600)).tempfile_in(dir)?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    match tmp.persist_noclobber(path) {
        Ok(_) => Ok(()),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e.error),
    }
}
