//! The lock protocol on the lock-file store (the DynamoDB store is exercised against moto in
//! `tests/state_lock.rs`): held locks name their holder, waiting with a timeout, takeover of an
//! expired lease, heartbeat, lost leases, force-unlock.

use std::sync::Arc;
use std::time::Duration;

use super::file::FileLockStore;
use super::*;

fn store(dir: &tempfile::TempDir) -> Arc<dyn LockStore> {
    Arc::new(FileLockStore::new(dir.path().join("dev.lock"), &dir.path().join("dev.json")))
}

fn opts(lease_secs: u64, timeout: Duration) -> LockOptions {
    LockOptions { lease: Duration::from_secs(lease_secs), timeout }
}

fn quiet(_: Notice) {}

#[tokio::test]
async fn a_held_lock_names_its_holder_and_release_frees_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let g = acquire(s.clone(), "apply", &opts(60, Duration::ZERO), &quiet).await.unwrap();
    assert!(g.took_over().is_none());
    let e = acquire(s.clone(), "destroy", &opts(60, Duration::ZERO), &quiet).await.err().unwrap();
    match &e {
        LockError::Held { holder, .. } => {
            assert_eq!(holder, g.info());
            assert!(holder.who.contains('@'), "{holder}");
        }
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains(&format!("kprov force-unlock {}", g.id())), "{e}");
    g.release().await.unwrap();
    assert_eq!(s.read().await.unwrap(), None);
    acquire(s, "destroy", &opts(60, Duration::ZERO), &quiet).await.unwrap().release().await.unwrap();
}

#[tokio::test]
async fn lock_timeout_waits_for_the_holder_then_proceeds_or_gives_up() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let g = acquire(s.clone(), "apply", &opts(60, Duration::ZERO), &quiet).await.unwrap();
    let e = acquire(s.clone(), "apply", &opts(60, Duration::from_millis(600)), &quiet).await.err().unwrap();
    assert!(matches!(e, LockError::Timeout { .. }), "{e}");

    let (tx, rx) = tokio::sync::oneshot::channel::<String>();
    let tx = std::sync::Mutex::new(Some(tx));
    let notify = move |n: Notice| {
        let Notice::Waiting(r) = n;
        if let Some(tx) = tx.lock().unwrap().take() {
            let _ = tx.send(r.info.id.clone());
        }
    };
    let waiter = {
        let s = s.clone();
        tokio::spawn(async move { acquire(s, "apply", &opts(60, Duration::from_secs(30)), &notify).await })
    };
    // Release only once the waiter has reported that it is waiting: no timing luck involved.
    assert_eq!(rx.await.unwrap(), g.id());
    g.release().await.unwrap();
    let g2 = waiter.await.unwrap().unwrap();
    assert!(g2.took_over().is_none());
    g2.release().await.unwrap();
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let dead = LockInfo::new("apply");
    let now = now_secs();
    assert!(matches!(s.try_acquire(&dead, now, now - 1).await.unwrap(), Attempt::Acquired(1)));
    let g = acquire(s.clone(), "apply", &opts(60, Duration::ZERO), &quiet).await.unwrap();
    assert_eq!(g.took_over().map(|r| &r.info), Some(&dead));
    assert_eq!(g.generation(), 2);
    // The dead holder cannot renew or release what is no longer its lock.
    assert!(!s.renew(&Token { id: dead.id.clone(), generation: 1 }, now + 100).await.unwrap());
    assert!(!s.release(&dead.id).await.unwrap());
    g.release().await.unwrap();
}

#[tokio::test]
async fn the_heartbeat_keeps_a_short_lease_alive() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let g = acquire(s.clone(), "apply", &opts(2, Duration::ZERO), &quiet).await.unwrap();
    let first = s.read().await.unwrap().unwrap().expires;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let rec = s.read().await.unwrap().unwrap();
    assert!(rec.expires > first, "renewed: {} > {first}", rec.expires);
    assert!(!rec.expired());
    assert!(matches!(acquire(s.clone(), "apply", &opts(2, Duration::ZERO), &quiet).await, Err(LockError::Held { .. })));
    assert!(!g.lost().is_cancelled());
    g.release().await.unwrap();
}

#[tokio::test]
async fn a_lost_lease_cancels_the_run_and_fails_release() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let g = acquire(s.clone(), "apply", &opts(2, Duration::ZERO), &quiet).await.unwrap();
    force_unlock(s.as_ref(), g.id()).await.unwrap();
    let other = acquire(s.clone(), "destroy", &opts(60, Duration::ZERO), &quiet).await.unwrap();
    // The next heartbeat (every ~0.7 s) finds another id.
    tokio::time::timeout(Duration::from_secs(10), g.lost().cancelled()).await.expect("lease loss noticed");
    assert!(g.lost_reason().unwrap().contains(&other.info().id), "{:?}", g.lost_reason());
    assert!(matches!(g.release().await, Err(LockError::Lost { .. })));
    assert_eq!(s.read().await.unwrap().map(|r| r.info), Some(other.info().clone()), "the new holder keeps it");
    other.release().await.unwrap();
}

#[tokio::test]
async fn force_unlock_needs_the_holders_id() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    assert!(matches!(force_unlock(s.as_ref(), "x").await, Err(LockError::NotLocked { .. })));
    let g = acquire(s.clone(), "apply", &opts(60, Duration::ZERO), &quiet).await.unwrap();
    let e = force_unlock(s.as_ref(), "not-the-id").await.unwrap_err();
    assert!(matches!(&e, LockError::WrongId { holder, .. } if holder.id == g.id()), "{e}");
    assert!(s.read().await.unwrap().is_some(), "a refused force-unlock leaves the lock");
    let removed = force_unlock(s.as_ref(), g.id()).await.unwrap();
    assert_eq!(&removed.info, g.info());
    assert_eq!(s.read().await.unwrap(), None);
}

#[tokio::test]
async fn the_generation_grows_with_each_acquisition_and_survives_release() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let lock_file = || std::fs::read_to_string(dir.path().join("dev.lock")).unwrap();
    let g = acquire(s.clone(), "apply", &opts(60, Duration::ZERO), &quiet).await.unwrap();
    assert_eq!((g.generation(), s.read().await.unwrap().unwrap().generation), (1, 1));
    g.release().await.unwrap();
    assert_eq!(lock_file(), "{\"generation\":1}\n", "a free lock keeps only its generation");
    let g = acquire(s.clone(), "apply", &opts(60, Duration::ZERO), &quiet).await.unwrap();
    assert_eq!(g.generation(), 2);
    force_unlock(s.as_ref(), g.id()).await.unwrap();
    let g3 = acquire(s.clone(), "apply", &opts(60, Duration::ZERO), &quiet).await.unwrap();
    assert_eq!(g3.generation(), 3, "a force-unlock keeps the generation too");
    // A renewal needs the generation as well as the id.
    let stale = Token { id: g3.id().to_string(), generation: 2 };
    assert!(!s.renew(&stale, now_secs() + 60).await.unwrap());
    g3.release().await.unwrap();
}

#[tokio::test]
async fn a_fenced_local_commit_lands_only_while_its_acquisition_is_current() {
    use crate::state::{Backend, LocalBackend, State, StateError};
    let dir = tempfile::tempdir().unwrap();
    let b = LocalBackend::for_env(dir.path(), "dev");
    let s: Arc<dyn LockStore> = Arc::new(FileLockStore::new(b.lock_path(), b.path()));
    let g = acquire(s.clone(), "apply", &opts(60, Duration::ZERO), &quiet).await.unwrap();
    b.fence(g.fence());
    let mut state = State::new("platform", "dev");
    state.serial = 1;
    Backend::save(&b, &state).await.unwrap();

    // The lease is lost (force-unlocked here; taken over after expiry in `tests/state_lock.rs`)
    // and another run holds the lock: the next commit is refused and nothing is written.
    force_unlock(s.as_ref(), g.id()).await.unwrap();
    let other = acquire(s.clone(), "apply", &opts(60, Duration::ZERO), &quiet).await.unwrap();
    let written = std::fs::read(b.path()).unwrap();
    state.serial = 2;
    let e = Backend::save(&b, &state).await.unwrap_err();
    assert!(matches!(&e, StateError::Fenced { reason, .. } if reason.contains(other.id())), "{e}");
    assert!(e.to_string().contains("no longer holds the state lock"), "{e}");
    assert!(g.lost().is_cancelled(), "the commit marked the lock lost");
    assert_eq!(std::fs::read(b.path()).unwrap(), written);
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 2, "state and lock file only, no temp file: {names:?}");

    // Once lost, always refused, even when the lock is free again.
    other.release().await.unwrap();
    assert!(matches!(Backend::save(&b, &state).await, Err(StateError::Fenced { .. })));
    assert!(matches!(g.release().await, Err(LockError::Lost { .. })));
}
