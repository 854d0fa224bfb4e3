//! The old default local path, `state/<env>.json`, from before the stack was part of it.
//!
//! With the stack in the path (`state/<stack>/<env>.json`), two stacks in one checkout no longer
//! share a state file. A state left at the old path is taken over only when it records this
//! stack and env: it is moved to the new path (under its old lock file, so a run of an older
//! kprov that holds it is waited for or refused, never overtaken). Another stack's file is left
//! where it is: it belongs to that stack, and this stack starts its own state.
//!
//! [`inspect`] decides; the caller takes the old lock and calls [`move_file`], which checks
//! again under the lock.

use std::path::{Path, PathBuf};

use super::{LocalBackend, StateError};

/// What is at the old path for this stack and env.
#[derive(Debug, PartialEq)]
pub enum Legacy {
    /// Nothing to do: no old file, or the new file exists already.
    Nothing,
    /// The old file records this stack and env: move it (holding `lock`).
    Ours { old: PathBuf, lock: PathBuf },
    /// The old file belongs to another stack (or env): leave it alone.
    Other { old: PathBuf, stack: String, env: String },
}

/// The old path for `env` under `state_dir`.
pub fn old_path(state_dir: &Path, env: &str) -> PathBuf {
    state_dir.join(format!("{env}.json"))
}

/// Is there a state at the old path that `new_file` (the new default path of `stack`/`env`)
/// should take over?
pub fn inspect(state_dir: &Path, stack: &str, env: &str, new_file: &Path) -> Result<Legacy, StateError> {
    let old = old_path(state_dir, env);
    if new_file.exists() || !old.is_file() || old == new_file {
        return Ok(Legacy::Nothing);
    }
    let b = LocalBackend::new(&old);
    let Some(state) = b.load()? else { return Ok(Legacy::Nothing) };
    if state.stack != stack || state.env != env {
        return Ok(Legacy::Other { old, stack: state.stack, env: state.env });
    }
    let lock = b.lock_path();
    Ok(Legacy::Ours { old, lock })
}

/// Move the old state to `new_file`, checking again (the caller holds the old lock): a run that
/// got here first has moved it already, and a new file that appeared meanwhile is not replaced.
/// Returns whether the file was moved.
pub fn move_file(old: &Path, new_file: &Path) -> Result<bool, StateError> {
    let werr = |source| StateError::Write { location: new_file.display().to_string(), source };
    if new_file.exists() || !old.is_file() {
        return Ok(false);
    }
    if let Some(dir) = new_file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(werr)?;
    }
    // Same directory tree, so a rename: atomic, and the old path is gone in the same step.
    std::fs::rename(old, new_file).map_err(werr)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::State;

    #[test]
    fn takes_over_only_this_stacks_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("web/dev.json");
        assert_eq!(inspect(dir.path(), "web", "dev", &new).unwrap(), Legacy::Nothing);

        let mut s = State::new("platform", "dev");
        s.serial = 4;
        std::fs::write(old_path(dir.path(), "dev"), s.to_json()).unwrap();
        assert!(
            matches!(inspect(dir.path(), "web", "dev", &new).unwrap(), Legacy::Other { stack, .. } if stack == "platform")
        );

        let new = dir.path().join("platform/dev.json");
        let Legacy::Ours { old, lock } = inspect(dir.path(), "platform", "dev", &new).unwrap() else { panic!() };
        assert_eq!(lock, dir.path().join("dev.lock"));
        assert!(move_file(&old, &new).unwrap());
        assert!(!old.exists());
        assert_eq!(std::fs::read_to_string(&new).unwrap(), s.to_json(), "moved byte for byte");
        assert!(!move_file(&old, &new).unwrap(), "a second takeover finds nothing");
        assert_eq!(inspect(dir.path(), "platform", "dev", &new).unwrap(), Legacy::Nothing);
    }
}
