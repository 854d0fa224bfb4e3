//! The local backend: `state/<stack>/<env>.json`, the embedded default.
//!
//! A write goes to a temp file in the same directory, is fsynced, then renamed over the old file,
//! so a crash leaves either the old or the new state, never half of one. Before writing, the
//! stored file is re-read: a different lineage or an unexpected serial means another writer, and
//! the write is refused. Runs are kept apart by a lock file beside the state
//! (`state/<stack>/<env>.lock`, see `lock::file`).
//!
//! Fencing: once a held lock fenced the backend ([`Backend::fence`]), the last step of a write —
//! re-reading the stored state for the lineage/serial check, then the rename — runs under the
//! lock file's OS lock and only while the lock record still carries this run's token
//! ([`lock::file::while_current`]). A takeover needs that OS lock too, so a writer stalled
//! anywhere before (a suspended laptop, SIGSTOP) finds, when it resumes, that its lease was
//! taken over and writes nothing.
//!
//! The file operations are small and blocking: [`LocalBackend::load`] and [`LocalBackend::save`]
//! are plain functions (tests use them directly); the async [`Backend`] impl runs them on the
//! blocking pool.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::lock::{self, Fence};
use super::{check_import, Backend, State, StateError, FORMAT_VERSION};

#[derive(Debug, Clone)]
pub struct LocalBackend {
    path: PathBuf,
    /// Set by [`Backend::fence`]; shared by the clones that run on the blocking pool.
    fence: Arc<Mutex<Option<Fence>>>,
}

impl LocalBackend {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LocalBackend { path: path.into(), fence: Arc::default() }
    }
    /// `dir/<env>.json` (tests; the default path is `state::spec::default_local_file`)
    pub fn for_env(dir: &Path, env: &str) -> Self {
        Self::new(dir.join(format!("{env}.json")))
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The lock file beside the state: the same name with `.lock`.
    pub fn lock_path(&self) -> PathBuf {
        self.path.with_extension("lock")
    }
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    /// The stored state, or `None` when there is no file (blocking).
    pub fn load(&self) -> Result<Option<State>, StateError> {
        // Bytes, not a string: invalid UTF-8 is corruption with a position, not an I/O error.
        match std::fs::read(&self.path) {
            Ok(bytes) => parse_bytes(&self.location(), &bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError::Read { location: self.location(), source }),
        }
    }

    /// Persist `state` as the successor of the stored state (blocking).
    pub fn save(&self, state: &State) -> Result<(), StateError> {
        // Checked before writing anything, for a clear error, and again at the commit.
        self.check_successor(state)?;
        self.write(state, || self.check_successor(state))
    }

    /// Refuse `state` unless it follows the stored state: same lineage, serial + 1.
    fn check_successor(&self, state: &State) -> Result<(), StateError> {
        if let Some(stored) = self.load()? {
            if stored.lineage != state.lineage {
                return Err(StateError::LineageMismatch {
                    location: self.location(),
                    stored: stored.lineage,
                    ours: state.lineage.clone(),
                });
            }
            if stored.serial.checked_add(1) != Some(state.serial) {
                return Err(StateError::Conflict {
                    location: self.location(),
                    stored: Some(stored.serial),
                    expected: state.serial.saturating_sub(1),
                });
            }
        }
        Ok(())
    }

    /// Write `state` verbatim where the destination is empty or an older copy (blocking).
    pub fn import(&self, state: &State) -> Result<(), StateError> {
        let check = || check_import(&self.location(), self.load()?.as_ref(), state);
        check()?;
        self.write(state, check)
    }

    fn fence_now(&self) -> Option<Fence> {
        self.fence.lock().ok().and_then(|f| f.clone())
    }

    /// Write `state` to a temp file, then — `check` passing, and under the fence if there is
    /// one — rename it over the state.
    fn write(&self, state: &State, check: impl FnOnce() -> Result<(), StateError>) -> Result<(), StateError> {
        let werr = |source| StateError::Write { location: self.location(), source };
        let dir = self.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(werr)?;
        let prefix = format!(".{}.", self.path.file_name().and_then(|n| n.to_str()).unwrap_or("state"));
        remove_stale_temps(dir, &prefix);
        let tmp = dir.join(format!("{prefix}{}.tmp", std::process::id()));
        let mut f = std::fs::File::create(&tmp).map_err(werr)?;
        // Held until the rename: it marks the temp file as a live writer's (`remove_stale_temps`).
        f.lock().map_err(werr)?;
        f.write_all(state.to_json().as_bytes()).map_err(werr)?;
        f.sync_all().map_err(werr)?;
        let commit = || {
            check()?;
            std::fs::rename(&tmp, &self.path).map_err(werr)
        };
        let result = match self.fence_now() {
            None => commit(),
            Some(fence) => self.fenced(&fence, state.serial, commit),
        };
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        // The temp file's OS lock is dropped only now, after the rename (or the removal).
        drop(f);
        result
    }

    /// Run `commit` only while `fence`'s token is the lock's current one, under the lock
    /// file's OS lock.
    fn fenced(
        &self,
        fence: &Fence,
        serial: u64,
        commit: impl FnOnce() -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        let refuse = |reason: String| StateError::Fenced { location: self.location(), lock: fence.describe(), reason };
        if let Some(why) = fence.lost() {
            return Err(refuse(why));
        }
        fence.before_final_step(serial);
        match lock::file::while_current(&self.lock_path(), fence.token(), commit) {
            Ok(Ok(done)) => done,
            Ok(Err(why)) => {
                fence.lose(why.clone());
                Err(refuse(why))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let why = "the lock file is gone".to_string();
                fence.lose(why.clone());
                Err(refuse(why))
            }
            Err(source) => Err(StateError::Write { location: self.lock_path().display().to_string(), source }),
        }
    }
}

/// Remove the temp files (`<prefix><pid>.tmp`) that writers killed before their rename left
/// behind, best effort. A writer holds an exclusive OS lock on its temp file from creating it to
/// the rename, and the OS drops the lock when the process dies however it dies (kill -9 too), so
/// a temp file whose lock can be taken has no live writer — whatever its pid has become since — and
/// one whose lock is held (a writer busy, or stopped with SIGSTOP) is left alone. A file created
/// but not yet locked by a racing writer could be taken for stale; such a writer's rename then
/// fails and its save reports the error (two writers of one state are refused anyway: lock file).
fn remove_stale_temps(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(prefix)).and_then(|n| n.strip_suffix(".tmp")) else {
            continue;
        };
        if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = std::fs::OpenOptions::new().read(true).open(&path) else { continue };
        if file.try_lock().is_ok() {
            // Removed while we hold its lock; the lock goes with `file`.
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Parse a state document, refusing corrupt and future-format input with a located message.
pub fn parse(location: &str, text: &str) -> Result<State, StateError> {
    parse_bytes(location, text.as_bytes())
}

/// [`parse`] for the stored bytes, shared by every backend: invalid UTF-8 is refused as
/// corruption at its line and column (the JSON parser checks it), never replaced.
pub fn parse_bytes(location: &str, text: &[u8]) -> Result<State, StateError> {
    let corrupt = |e: serde_json::Error| StateError::Corrupt {
        location: location.to_string(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    };
    // Check the format first so a future document is reported as such, not as a shape mismatch.
    let v: serde_json::Value = serde_json::from_slice(text).map_err(corrupt)?;
    if let Some(found) = v.get("format").and_then(|f| f.as_u64()) {
        if found > u64::from(FORMAT_VERSION) {
            return Err(StateError::FutureFormat { location: location.to_string(), found, supported: FORMAT_VERSION });
        }
    }
    serde_json::from_slice(text).map_err(corrupt)
}

/// Run a blocking file operation of the backend on the blocking pool.
async fn blocking<T: Send + 'static>(
    b: &LocalBackend,
    f: impl FnOnce(&LocalBackend) -> Result<T, StateError> + Send + 'static,
) -> Result<T, StateError> {
    let b = b.clone();
    let location = b.location();
    tokio::task::spawn_blocking(move || f(&b))
        .await
        .unwrap_or_else(|e| Err(StateError::Write { location, source: std::io::Error::other(e) }))
}

#[async_trait::async_trait]
impl Backend for LocalBackend {
    async fn load(&self) -> Result<Option<State>, StateError> {
        blocking(self, |b| b.load()).await
    }
    async fn save(&self, state: &State) -> Result<(), StateError> {
        let s = state.clone();
        blocking(self, move |b| b.save(&s)).await
    }
    async fn import(&self, state: &State) -> Result<(), StateError> {
        let s = state.clone();
        blocking(self, move |b| b.import(&s)).await
    }
    fn fence(&self, fence: Fence) {
        if let Ok(mut f) = self.fence.lock() {
            *f = Some(fence);
        }
    }
    fn describe(&self) -> String {
        self.location()
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
        assert!(b.import(&s).is_err());
        assert_eq!(std::fs::read_to_string(b.path()).unwrap(), future, "nothing written");
    }

    /// Found by fuzzing the state loader: non-UTF-8 bytes were an I/O error without a
    /// position, a `format` beyond u32 was reported truncated, and a serial at u64::MAX loaded
    /// and then overflowed on the next save.
    #[test]
    fn refuses_invalid_utf8_huge_format_and_serial_with_a_position() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::for_env(dir.path(), "dev");
        let mut s = State::new("platform", "dev");
        s.serial = 1;
        let good = s.to_json();

        let mut bytes = good.clone().into_bytes();
        let at = good.find("platform").unwrap();
        bytes[at] = 0xff;
        std::fs::write(b.path(), &bytes).unwrap();
        let e = b.load().unwrap_err();
        assert!(matches!(e, StateError::Corrupt { line: 4, .. }), "{e}");
        assert_eq!(std::fs::read(b.path()).unwrap(), bytes, "nothing written");

        let future = good.replace("\"format\": 1", "\"format\": 4294967297");
        let e = parse("x", &future).unwrap_err();
        assert!(e.to_string().contains("has format 4294967297"), "{e}");

        for serial in [u64::MAX, super::super::model::MAX_SERIAL + 1] {
            let huge = good.replace("\"serial\": 1", &format!("\"serial\": {serial}"));
            let e = parse("x", &huge).unwrap_err();
            assert!(matches!(e, StateError::Corrupt { line: 7, .. }), "{e}");
            assert!(e.to_string().contains(&format!("serial {serial} is out of range")), "{e}");
        }
        let max = good.replace("\"serial\": 1", &format!("\"serial\": {}", super::super::model::MAX_SERIAL));
        assert_eq!(parse("x", &max).unwrap().serial, super::super::model::MAX_SERIAL);
    }

    /// kill -9 inside a write left `.<env>.json.<pid>.tmp` for ever. The next write removes a
    /// dead writer's temp file and leaves a live (locked) writer's, other envs' and unrelated files.
    #[test]
    fn a_write_removes_dead_writers_temp_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::for_env(dir.path(), "dev");
        let file = |n: &str| dir.path().join(n);
        for n in [
            ".dev.json.4000001.tmp",
            ".dev.json.4000002.tmp",
            ".stage.json.4000003.tmp",
            ".dev.json.x.tmp",
            "notes.tmp",
        ] {
            std::fs::write(file(n), "partial").unwrap();
        }
        // A live writer (busy, or stopped by SIGSTOP) holds its lock; its pid does not matter.
        let live = std::fs::OpenOptions::new().write(true).open(file(".dev.json.4000002.tmp")).unwrap();
        live.lock().unwrap();

        let mut s = State::new("platform", "dev");
        s.serial = 1;
        b.save(&s).unwrap();
        assert_eq!(b.load().unwrap().unwrap(), s);
        let mut left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(
            left,
            [".dev.json.4000002.tmp", ".dev.json.x.tmp", ".stage.json.4000003.tmp", "dev.json", "notes.tmp"]
        );

        // Once that writer is gone (its lock dropped with it), the next write removes its file.
        drop(live);
        s.serial = 2;
        b.save(&s).unwrap();
        assert!(!file(".dev.json.4000002.tmp").exists());
        assert!(file(".stage.json.4000003.tmp").exists(), "another env's writer is not ours to judge");
    }

    #[test]
    fn import_writes_verbatim_over_an_older_copy_only() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::for_env(dir.path(), "dev");
        let mut s = State::new("platform", "dev");
        s.serial = 7;
        b.import(&s).unwrap();
        assert_eq!(std::fs::read_to_string(b.path()).unwrap(), s.to_json(), "written verbatim, serial kept");
        s.serial = 9;
        b.import(&s).unwrap();
        let mut older = s.clone();
        older.serial = 3;
        assert!(matches!(b.import(&older), Err(StateError::ImportRefused { .. })));
        let other = State::new("platform", "dev");
        assert!(matches!(b.import(&other), Err(StateError::ImportRefused { .. })));
        assert_eq!(b.load().unwrap().unwrap().serial, 9);
    }
}
