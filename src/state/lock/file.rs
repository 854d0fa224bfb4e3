//! The lock as a file beside the local state: `state/<stack>/<env>.lock`.
//!
//! The file holds the same record as the DynamoDB item (`LockID`, `Info`, `expires`,
//! `generation`) as JSON; when the lock is free, only `{"generation": N}` (or nothing, before
//! the first acquisition), so that the next acquisition's generation is higher. Each protocol
//! operation is a read-check-write of that record done under an exclusive OS lock (`flock`) on
//! the file, held only for that moment: the OS lock makes the operations atomic between
//! processes, the record and its lease carry the protocol, so local and S3 state behave alike
//! (holder shown, lease, takeover, force-unlock). The file is never deleted, so that every
//! process always locks the same inode.
//!
//! The local backend's commits use the same OS lock ([`while_current`]): the rename of a new
//! state happens only while the record still carries the writer's token, and no takeover can
//! come in between, since a takeover needs that OS lock too.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{not_current, Attempt, LockError, LockInfo, LockRecord, LockStore, Token};

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

    /// Run `f` on the current contents under the file's OS lock; `Some(new)` from `f` replaces
    /// them.
    async fn update<R: Send + 'static>(
        &self,
        f: impl FnOnce(Slot) -> (Option<Slot>, R) + Send + 'static,
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
                let text = match new.holder {
                    Some(r) => serde_json::to_string_pretty(&r).map_err(std::io::Error::other)? + "\n",
                    None => {
                        serde_json::to_string(&Free { generation: new.generation }).map_err(std::io::Error::other)?
                            + "\n"
                    }
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

/// What the file holds: the holder's record, if any, and the generation of the last
/// acquisition.
struct Slot {
    holder: Option<LockRecord>,
    generation: u64,
}

impl Slot {
    fn held(r: LockRecord) -> Slot {
        Slot { generation: r.generation, holder: Some(r) }
    }
}

/// The file of a free lock.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Free {
    generation: u64,
}

/// The contents of the file; an error message when they are neither a record nor a free lock.
fn read_record(file: &mut File) -> std::io::Result<Result<Slot, String>> {
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    if text.trim().is_empty() {
        return Ok(Ok(Slot { holder: None, generation: 0 }));
    }
    Ok(match serde_json::from_str::<LockRecord>(&text) {
        Ok(r) => Ok(Slot::held(r)),
        Err(e) => match serde_json::from_str::<Free>(&text) {
            Ok(free) => Ok(Slot { holder: None, generation: free.generation }),
            Err(_) => Err(format!("not a kprov lock record ({e}); if no kprov run is active, delete the file")),
        },
    })
}

/// Run `commit` under the OS lock of the lock file at `path` if the lock is still held under
/// `token`, and keep the OS lock until `commit` returns, so no takeover can come in between
/// (blocking). `Ok(Err(why))` when the token is not current; `commit` is then not run.
pub fn while_current<R>(path: &Path, token: &Token, commit: impl FnOnce() -> R) -> std::io::Result<Result<R, String>> {
    // Not created: a lock file that is gone holds no lock, least of all ours.
    let mut file = OpenOptions::new().read(true).open(path)?;
    file.lock()?;
    let slot = match read_record(&mut file)? {
        Ok(slot) => slot,
        Err(message) => return Ok(Err(message)),
    };
    Ok(match slot.holder {
        Some(r) if r.carries(token) => Ok(commit()),
        other => Err(not_current(other.as_ref())),
    })
    // The OS lock goes with `file`, after the commit.
}

#[async_trait::async_trait]
impl LockStore for FileLockStore {
    async fn try_acquire(&self, info: &LockInfo, now: u64, expires: u64) -> Result<Attempt, LockError> {
        let (lock_id, info) = (self.lock_id.clone(), info.clone());
        self.update(move |current| {
            let generation = current.generation + 1;
            let mine = Slot::held(LockRecord { lock_id, info, expires, generation });
            match current.holder {
                None => (Some(mine), Attempt::Acquired(generation)),
                Some(old) if old.expires < now => (Some(mine), Attempt::TookOver(generation, old)),
                Some(held) => (None, Attempt::Held(Some(held))),
            }
        })
        .await
    }

    async fn renew(&self, token: &Token, expires: u64) -> Result<bool, LockError> {
        let token = token.clone();
        self.update(move |current| match current.holder {
            Some(mut r) if r.carries(&token) => {
                r.expires = expires;
                (Some(Slot::held(r)), true)
            }
            _ => (None, false),
        })
        .await
    }

    async fn release(&self, id: &str) -> Result<bool, LockError> {
        let id = id.to_string();
        self.update(move |current| match current.holder {
            Some(r) if r.info.id == id => (Some(Slot { holder: None, generation: current.generation }), true),
            _ => (None, false),
        })
        .await
    }

    async fn read(&self) -> Result<Option<LockRecord>, LockError> {
        self.update(|current| (None, current.holder)).await
    }

    fn describe(&self) -> String {
        format!("lock file {}", self.path.display())
    }
}
