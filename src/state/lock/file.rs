//! The lock as a file beside the local state: `state/<stack>/<env>.lock`.
//!
//! The file holds the same record as the DynamoDB item (`LockID`, `Info`, `expires`) as JSON,
//! or nothing when the lock is free. Each protocol operation is a read-check-write of that
//! record done under an exclusive OS lock (`flock`) on the file, held only for that moment: the
//! OS lock makes the operations atomic between processes, the record and its lease carry the
//! protocol, so local and S3 state behave alike (holder shown, lease, takeover, force-unlock).
//! The file is emptied on release, never deleted, so that every process always locks the same
//! inode.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{Attempt, LockError, LockInfo, LockRecord, LockStore};

pub struct FileLockStore {
    path: PathBuf,
    lock_id: String,
}

impl FileLockStore {
    /// The lock at `path`, guarding the state file `state`.
    pub fn new(path: impl Into<PathBuf>, state: &Path) -> Self {
        FileLockStore { path: path.into(), lock_id: state.display().to_string() }
    }

    fn err(&self, message: impl std::fmt::Display) -> LockError {
        LockError::File { path: self.path.display().to_string(), message: message.to_string() }
    }

    /// Run `f` on the current record under the file's OS lock; `Some(new)` from `f` replaces
    /// the record (`Some(None)` empties the file).
    async fn update<R: Send + 'static>(
        &self,
        f: impl FnOnce(Option<LockRecord>) -> (Option<Option<LockRecord>>, R) + Send + 'static,
    ) -> Result<R, LockError> {
        let path = self.path.clone();
        let run = move || -> std::io::Result<Result<R, String>> {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
            // Released when `file` is closed, including when this process dies.
            file.lock()?;
            let current = match read_record(&mut file)? {
                Ok(r) => r,
                Err(message) => return Ok(Err(message)),
            };
            let (write, result) = f(current);
            if let Some(new) = write {
                let text = match new {
                    Some(r) => serde_json::to_string_pretty(&r).map_err(std::io::Error::other)? + "\n",
                    None => String::new(),
                };
                file.set_len(0)?;
                file.seek(SeekFrom::Start(0))?;
                file.write_all(text.as_bytes())?;
                file.sync_all()?;
            }
            Ok(Ok(result))
        };
        match tokio::task::spawn_blocking(run).await {
            Ok(Ok(Ok(r))) => Ok(r),
            Ok(Ok(Err(message))) => Err(self.err(message)),
            Ok(Err(io)) => Err(self.err(io)),
            Err(join) => Err(self.err(join)),
        }
    }
}

/// The record in the file: `None` when empty; an error message when it is not a record.
fn read_record(file: &mut File) -> std::io::Result<Result<Option<LockRecord>, String>> {
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    if text.trim().is_empty() {
        return Ok(Ok(None));
    }
    Ok(serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| format!("not a kprov lock record ({e}); if no kprov run is active, delete the file")))
}

#[async_trait::async_trait]
impl LockStore for FileLockStore {
    async fn try_acquire(&self, info: &LockInfo, now: u64, expires: u64) -> Result<Attempt, LockError> {
        let mine = LockRecord { lock_id: self.lock_id.clone(), info: info.clone(), expires };
        self.update(move |current| match current {
            None => (Some(Some(mine)), Attempt::Acquired),
            Some(old) if old.expires < now => (Some(Some(mine)), Attempt::TookOver(old)),
            Some(held) => (None, Attempt::Held(Some(held))),
        })
        .await
    }

    async fn renew(&self, id: &str, expires: u64) -> Result<bool, LockError> {
        let id = id.to_string();
        self.update(move |current| match current {
            Some(mut r) if r.info.id == id => {
                r.expires = expires;
                (Some(Some(r)), true)
            }
            _ => (None, false),
        })
        .await
    }

    async fn release(&self, id: &str) -> Result<bool, LockError> {
        let id = id.to_string();
        self.update(move |current| match current {
            Some(r) if r.info.id == id => (Some(None), true),
            _ => (None, false),
        })
        .await
    }

    async fn read(&self) -> Result<Option<LockRecord>, LockError> {
        self.update(|current| (None, current)).await
    }

    fn describe(&self) -> String {
        format!("lock file {}", self.path.display())
    }
}
