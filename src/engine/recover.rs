//! Operations whose outcome is unknown: find out what happened before doing it again.
//!
//! A retryable failure — a 5xx answer, a lost connection, throttling that outlasted its
//! retries — says nothing about whether AWS did the work. The connector (`aws::limits`) repeats
//! only calls that are safe to repeat; a `Create*` whose answer was lost comes back here as a
//! retryable error, and sending it again would make a second VPC, NAT gateway or hosted zone
//! (client tokens would prevent that on AWS for the few APIs that have them, but most do not).
//! So each operation gets up to [`OP_ATTEMPTS`] attempts, and after an ambiguous failure:
//! - **create**: look the resource up by its ownership tag (`find_owned`, the same lookup the
//!   next run would do for a pending intent). Found: adopt it, and bring it to the desired
//!   attributes with an update if the failed attempt stopped half-way. Not found (or an
//!   untaggable kind, found by its natural key instead): create again — with the same client
//!   token — as the kinds' creates are idempotent by natural key;
//! - **update**: read the resource again; done if it already has the desired attributes,
//!   otherwise update again from what it is now;
//! - **delete**: delete again (a kind's delete of a resource already gone is success).
//!
//! Definite failures (a validation error, an AWS refusal) are returned at once.

use std::time::Duration;

use crate::plan::diff::attr_changes;
use crate::resource::{Address, Cx, Observed, ResourceError, ResourceKind, Spec};

/// Attempts per operation (the first included). Each attempt's API calls have already been
/// retried by the connector where that is safe, so this only has to outlast a short run of
/// ambiguous failures.
pub const OP_ATTEMPTS: u32 = 4;

/// Could the operation have been performed although it failed (or succeed if tried again)?
pub fn is_ambiguous(e: &ResourceError) -> bool {
    matches!(e, ResourceError::Aws { retryable: true, .. } | ResourceError::Transport { .. })
}

/// A pause before the next attempt (exponential, full jitter), without the parallelism slot.
async fn pause(cx: &Cx, attempt: u32, address: &Address) -> Result<(), ResourceError> {
    let ceiling = Duration::from_millis(500) * 2u32.pow(attempt.saturating_sub(1).min(5));
    let d = ceiling.mul_f64(fastrand::f64());
    cx.wait_for(&format!("{address}: retrying after an unclear failure"), async {
        tokio::time::sleep(d).await;
        Ok(())
    })
    .await
}

/// Create `spec`, never twice. `replaces`: the resource this one replaces, which still exists
/// (create before destroy): it carries the same ownership tags, so it is never taken for the
/// new one, and the kind may need to name the new one differently
/// ([`ResourceKind::create_replacement`]).
pub async fn create(
    kind: &dyn ResourceKind,
    cx: &Cx,
    spec: &Spec,
    replaces: Option<&Observed>,
) -> Result<Observed, ResourceError> {
    let mut attempt = 1;
    let mut look_first = false;
    let make = || async {
        match replaces {
            Some(old) => kind.create_replacement(cx, spec, old).await,
            None => kind.create(cx, spec).await,
        }
    };
    loop {
        let result = if look_first {
            match locate(kind, cx, &spec.address, replaces.map(|o| o.id.as_str())).await {
                Ok(Some(found)) => converge(kind, cx, found, spec).await,
                Ok(None) => make().await,
                Err(e) => Err(e),
            }
        } else {
            make().await
        };
        match result {
            Err(e) if is_ambiguous(&e) && attempt < OP_ATTEMPTS => {
                tracing::info!(address = %spec.address, error = %e, attempt, "create failed unclearly; looking before retrying");
                pause(cx, attempt, &spec.address).await?;
                attempt += 1;
                // From now on the resource may exist: look before creating.
                look_first = true;
            }
            other => return other,
        }
    }
}

/// The resource of `address` carrying this stack's ownership tags, if any (other than `except`,
/// the old resource a create-before-destroy replaces).
async fn locate(
    kind: &dyn ResourceKind,
    cx: &Cx,
    address: &Address,
    except: Option<&str>,
) -> Result<Option<Observed>, ResourceError> {
    let want = address.to_string();
    Ok(kind
        .find_owned(cx)
        .await?
        .into_iter()
        .find(|o| o.owner_address.as_deref() == Some(want.as_str()) && Some(o.id.as_str()) != except))
}

/// `found` has the desired attributes, or is updated to them.
async fn converge(kind: &dyn ResourceKind, cx: &Cx, found: Observed, spec: &Spec) -> Result<Observed, ResourceError> {
    let desired = spec.attrs.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
    let changes = attr_changes(kind.schema(), &desired, Some(&found.attrs));
    if changes.is_empty() {
        return Ok(found);
    }
    if let Some(c) = changes.iter().find(|c| c.force_new) {
        // Cannot happen for a resource made from this very spec; refuse rather than guess.
        return Err(ResourceError::invalid(format!(
            "{}: found {} after an unclear failure, but its `{}` differs from the plan",
            spec.address, found.id, c.name
        )));
    }
    kind.update(cx, &found, spec).await
}

/// Update `prior` to `spec`, re-reading after an unclear failure.
pub async fn update(
    kind: &dyn ResourceKind,
    cx: &Cx,
    prior: &Observed,
    spec: &Spec,
) -> Result<Observed, ResourceError> {
    let mut current = prior.clone();
    let mut attempt = 1;
    loop {
        match kind.update(cx, &current, spec).await {
            Err(e) if is_ambiguous(&e) && attempt < OP_ATTEMPTS => {
                tracing::info!(address = %spec.address, error = %e, attempt, "update failed unclearly; reading before retrying");
                pause(cx, attempt, &spec.address).await?;
                attempt += 1;
                let read = match kind.read_many(cx, std::slice::from_ref(&current.id)).await {
                    Ok(r) => r,
                    Err(e2) if is_ambiguous(&e2) => continue,
                    Err(e2) => return Err(e2),
                };
                // Gone, or a new id (updates that replace an association): nothing safe to do.
                let Some(now) = read.into_iter().find(|o| o.id == current.id) else { return Err(e) };
                let desired = spec.attrs.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
                if attr_changes(kind.schema(), &desired, Some(&now.attrs)).is_empty() {
                    return Ok(now);
                }
                current = now;
            }
            other => return other,
        }
    }
}

/// Delete `prior`; after an unclear failure, delete again.
pub async fn delete(
    kind: &dyn ResourceKind,
    cx: &Cx,
    prior: &Observed,
    address: &Address,
) -> Result<(), ResourceError> {
    let mut attempt = 1;
    loop {
        match kind.delete(cx, prior).await {
            Err(e) if is_ambiguous(&e) && attempt < OP_ATTEMPTS => {
                tracing::info!(address = %address, error = %e, attempt, "delete failed unclearly; retrying");
                pause(cx, attempt, address).await?;
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;
    use crate::resource::{AttrSchema, AttrType, Attrs, Owner, Schema};

    /// A one-attribute kind in memory whose calls can be made to do the work and then lose the
    /// answer (`lose`), or to fail before doing anything (`refuse`), a given number of times.
    struct Flaky {
        schema: Schema,
        made: Mutex<Vec<Observed>>,
        lose: Mutex<u32>,
        refuse: Mutex<u32>,
        calls: Mutex<Vec<&'static str>>,
    }

    impl Flaky {
        fn new(lose: u32, refuse: u32) -> Self {
            Flaky {
                schema: Schema::new(vec![AttrSchema::optional("size", AttrType::Int)]),
                made: Mutex::default(),
                lose: Mutex::new(lose),
                refuse: Mutex::new(refuse),
                calls: Mutex::default(),
            }
        }
        /// Called by every operation after doing its work: maybe lose the answer.
        fn answer<T>(&self, op: &'static str, v: T) -> Result<T, ResourceError> {
            self.calls.lock().expect("calls").push(op);
            let mut lose = self.lose.lock().expect("lose");
            if *lose > 0 {
                *lose -= 1;
                return Err(ResourceError::Transport { operation: op.into(), message: "connection closed".into() });
            }
            Ok(v)
        }
        fn refused(&self, op: &str) -> Result<(), ResourceError> {
            let mut refuse = self.refuse.lock().expect("refuse");
            if *refuse > 0 {
                *refuse -= 1;
                return Err(ResourceError::Aws {
                    operation: op.into(),
                    code: "InternalError".into(),
                    message: "try again".into(),
                    request_id: None,
                    retryable: true,
                });
            }
            Ok(())
        }
    }

    #[async_trait::async_trait]
    impl ResourceKind for Flaky {
        fn kind(&self) -> &'static str {
            "flaky"
        }
        fn schema(&self) -> &Schema {
            &self.schema
        }
        async fn read_many(&self, _: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
            Ok(self.made.lock().expect("made").iter().filter(|o| ids.contains(&o.id)).cloned().collect())
        }
        async fn create(&self, _: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
            self.refused("Create")?;
            let mut made = self.made.lock().expect("made");
            // Tagged at creation, but without the size: that is set by a second call.
            let o = Observed {
                id: format!("r-{}", made.len()),
                attrs: Attrs::new(),
                owner_address: Some(spec.address.to_string()),
            };
            made.push(o.clone());
            drop(made);
            let mut o = self.answer("Create", o)?;
            o.attrs = spec.attrs.clone();
            if let Some(m) = self.made.lock().expect("made").iter_mut().find(|m| m.id == o.id) {
                m.attrs = spec.attrs.clone();
            }
            Ok(o)
        }
        async fn update(&self, _: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
            self.refused("Update")?;
            let mut made = self.made.lock().expect("made");
            let m = made.iter_mut().find(|m| m.id == prior.id).ok_or_else(|| ResourceError::invalid("gone"))?;
            m.attrs = spec.attrs.clone();
            let o = m.clone();
            drop(made);
            self.answer("Update", o)
        }
        async fn delete(&self, _: &Cx, prior: &Observed) -> Result<(), ResourceError> {
            self.refused("Delete")?;
            self.made.lock().expect("made").retain(|m| m.id != prior.id);
            self.answer("Delete", ())
        }
        async fn find_owned(&self, _: &Cx) -> Result<Vec<Observed>, ResourceError> {
            self.calls.lock().expect("calls").push("FindOwned");
            Ok(self.made.lock().expect("made").clone())
        }
    }

    fn spec() -> Spec {
        let mut attrs = Attrs::new();
        attrs.insert("size".into(), json!(3));
        Spec { address: Address::new("flaky", "main", None), attrs, client_token: "t".into() }
    }

    fn cx() -> Cx {
        Cx::new(Owner { stack: "s".into(), env: "e".into() })
    }

    #[tokio::test(start_paused = true)]
    async fn a_create_whose_answer_was_lost_is_found_and_finished_not_made_twice() {
        let k = Flaky::new(1, 0);
        let o = create(&k, &cx(), &spec(), None).await.expect("create recovers");
        let made = k.made.lock().expect("made").clone();
        assert_eq!(made.len(), 1, "one resource: {made:?}");
        assert_eq!(o.id, made[0].id);
        assert_eq!(made[0].attrs.get("size"), Some(&json!(3)), "the half-made resource was brought to the plan");
        assert_eq!(*k.calls.lock().expect("calls"), ["Create", "FindOwned", "Update"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_create_refused_before_doing_anything_is_looked_up_then_made_once() {
        let k = Flaky::new(0, 2);
        create(&k, &cx(), &spec(), None).await.expect("create succeeds on the third attempt");
        assert_eq!(k.made.lock().expect("made").len(), 1);
        assert_eq!(*k.calls.lock().expect("calls"), ["FindOwned", "FindOwned", "Create"]);
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_run_out_and_definite_errors_are_not_retried() {
        let k = Flaky::new(0, OP_ATTEMPTS);
        let e = create(&k, &cx(), &spec(), None).await.expect_err("still failing");
        assert!(is_ambiguous(&e));
        assert!(k.made.lock().expect("made").is_empty());
        assert!(!is_ambiguous(&ResourceError::invalid("no")));
    }

    #[tokio::test(start_paused = true)]
    async fn update_and_delete_recover_from_lost_answers() {
        let k = Flaky::new(0, 0);
        let o = create(&k, &cx(), &spec(), None).await.expect("create");
        let mut s = spec();
        s.attrs.insert("size".into(), json!(5));
        *k.lose.lock().expect("lose") = 1;
        let u = update(&k, &cx(), &o, &s).await.expect("update recovers");
        assert_eq!(u.attrs.get("size"), Some(&json!(5)));
        *k.lose.lock().expect("lose") = 1;
        delete(&k, &cx(), &u, &s.address).await.expect("delete recovers");
        assert!(k.made.lock().expect("made").is_empty());
    }
}
