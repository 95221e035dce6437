//! Which account a client credential reads. The replica holds the account
//! of the gateway's own token; another credential is answered from it only
//! once the upstream has shown that credential the same account, and again
//! after `replica_account_check_s`.

use crate::error::GatewayError;
use crate::odata::response::lenient_i64;
use crate::odata::CollectionQuery;
use crate::report::Report;
use crate::upstream::{Caller, Upstream};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// More confirmed credentials than this: forget them all and check again.
const MAX_ENTRIES: usize = 10_000;

pub(super) struct Accounts {
    ttl: Duration,
    checked: Mutex<HashMap<crate::upstream::Fingerprint, (Option<i64>, Instant)>>,
}

impl Accounts {
    pub fn new(ttl: Duration) -> Accounts {
        Accounts {
            ttl,
            checked: Mutex::default(),
        }
    }

    /// Whether `caller` reads `account` (the replica's, whose own token
    /// is `token`).
    pub async fn confirm(
        &self,
        upstream: &Upstream,
        token: &str,
        caller: &Caller,
        account: Option<i64>,
    ) -> Result<bool, GatewayError> {
        let Some(account) = account else {
            return Ok(false);
        };
        if caller.credential.secret() == token {
            return Ok(true);
        }
        let key = upstream.fingerprint(&caller.credential);
        let known = self
            .checked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(a, _)| *a);
        let theirs = match known {
            Some(a) => a,
            // Asked afresh, never from a cached answer.
            None => match read_account(upstream, &fresh(caller)).await {
                Ok(a) => {
                    let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
                    if checked.len() >= MAX_ENTRIES {
                        checked.clear();
                    }
                    checked.insert(key, (a, Instant::now()));
                    a
                }
                // A refused credential is refused as it would be upstream.
                Err(e) if e.is_refusal() => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot check the caller's account; asking the upstream");
                    return Ok(false);
                }
            },
        };
        Ok(theirs == Some(account))
    }
}

fn fresh(caller: &Caller) -> Caller {
    Caller {
        no_cache: true,
        ..caller.uncached()
    }
}

/// The account of the first row the caller can read (conversations, else
/// inboxes); `None` when it reads none.
pub(super) async fn read_account(
    upstream: &Upstream,
    caller: &Caller,
) -> Result<Option<i64>, GatewayError> {
    let metadata = upstream.metadata(caller).await;
    let dialect = upstream.dialect_for(caller, metadata.as_deref()).await;
    for collection in ["Conversation", "Inbox"] {
        let query = CollectionQuery::new(collection)
            .select(vec!["account_id"])
            .top(1);
        let report = Report::default();
        let page = upstream
            .fetch_collection(caller, &report, &query, dialect)
            .await?;
        if let Some(account) = page
            .rows
            .first()
            .and_then(|row| row.get("account_id"))
            .and_then(lenient_i64)
        {
            return Ok(Some(account));
        }
    }
    Ok(None)
}
