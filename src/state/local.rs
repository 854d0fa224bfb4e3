//! The local backend: `state/<env>.json`, the embedded default.
//!
//! A write goes to a temp file in the same directory, is fsynced, then renamed over the old file,
//! so a crash leaves either the old or the new state, never half of one. Before writing, the
//! stored file is re-read: a different lineage or an unexpected serial means another writer, and
//! the write is refused.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Backend, State, StateError, FORMAT_VERSION};

pub struct LocalBackend {
    path: PathBuf,
}

impl LocalBackend {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LocalBackend { path: path.into() }
    }
    /// `dir/<env>.json`
    pub fn for_env(dir: &Path, env: &str) -> Self {
        Self::new(dir.join(format!("{env}.json")))
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Parse a state document, refusing corrupt and future-format input with a located message.
pub fn parse(path: &Path, text: &str) -> Result<State, StateError> {
    // Check the format first so a future document is reported as such, not as a shape mismatch.
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| StateError::Corrupt {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    if let Some(found) = v.get("format").and_then(|f| f.as_u64()) {
        if found > FORMAT_VERSION as u64 {
            return Err(StateError::FutureFormat {
                path: path.to_path_buf(),
                found: found as u32,
                supported: FORMAT_VERSION,
            });
        }
    }
    serde_json::from_str(text).map_err(|e| StateError::Corrupt {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

impl Backend for LocalBackend {
    fn load(&self) -> Result<Option<State>, StateError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => parse(&self.path, &text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError::Read { path: self.path.clone(), source }),
        }
    }

    fn save(&self, state: &State) -> Result<(), StateError> {
        if let Some(stored) = self.load()? {
            if stored.lineage != state.lineage {
                return Err(StateError::LineageMismatch {
                    path: self.path.clone(),
                    stored: stored.lineage,
                    ours: state.lineage.clone(),
                });
            }
            if stored.serial + 1 != state.serial {
                return Err(StateError::Conflict {
                    path: self.path.clone(),
                    stored: stored.serial,
                    expected: state.serial.saturating_sub(1),
                });
            }
        }
        let werr = |source| StateError::Write { path: self.path.clone(), source };
        let dir = self.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(werr)?;
        let mut text = serde_json::to_string_pretty(state).map_err(|e| werr(std::io::Error::other(e)))?;
        text.push('\n');
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            self.path.file_name().and_then(|n| n.to_str()).unwrap_or("state"),
            std::process::id()
        ));
        let mut f = std::fs::File::create(&tmp).map_err(werr)?;
        f.write_all(text.as_bytes()).map_err(werr)?;
        f.sync_all().map_err(werr)?;
        drop(f);
        std::fs::rename(&tmp, &self.path).map_err(werr)?;
        Ok(())
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_atomically_and_refuses_other_lineage_and_stale_serial() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::for_env(dir.path(), "dev");
        assert!(b.load().unwrap().is_none());
        let mut s = State::new("platform", "dev");
        s.serial = 1;
        b.save(&s).unwrap();
        assert_eq!(b.load().unwrap().unwrap(), s);

        let mut other = State::new("platform", "dev");
        other.serial = 2;
        assert!(matches!(b.save(&other), Err(StateError::LineageMismatch { .. })));

        let mut stale = s.clone();
        stale.serial = 5;
        assert!(matches!(b.save(&stale), Err(StateError::Conflict { .. })));
        assert_eq!(b.load().unwrap().unwrap(), s, "refused writes leave the state intact");
    }

    #[test]
    fn refuses_corrupt_truncated_and_future_state_without_writing() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::for_env(dir.path(), "dev");
        let mut s = State::new("platform", "dev");
        s.serial = 1;
        let good = serde_json::to_string_pretty(&s).unwrap();

        std::fs::write(b.path(), &good[..good.len() / 2]).unwrap();
        let e = b.load().unwrap_err();
        assert!(matches!(e, StateError::Corrupt { .. }), "{e}");
        assert!(e.to_string().contains("line"), "{e}");

        let future = good.replace("\"format\": 1", "\"format\": 99");
        std::fs::write(b.path(), &future).unwrap();
        let e = b.load().unwrap_err();
        assert!(matches!(e, StateError::FutureFormat { found: 99, .. }), "{e}");
        s.serial = 2;
        assert!(b.save(&s).is_err());
        assert_eq!(std::fs::read_to_string(b.path()).unwrap(), future, "nothing written");
    }
}
