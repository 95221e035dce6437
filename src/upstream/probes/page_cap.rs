//! The upstream's page cap: the largest `$top` it accepts, at most the
//! configured one. Asked with a query that matches nothing, so that only
//! `$top` differs between the tries: first the configured cap (most
//! upstreams take it: one request), then powers of ten down, then the
//! value just above the largest accepted (caps are round numbers, so that
//! one is usually refused and the search ends), then round values within
//! the decade, then halving.

use super::ask::{id_is, spelled_out, Probe, PROBED};
use crate::error::GatewayError;
use crate::model::KEY;
use crate::odata::{CollectionQuery, CompareOp};
use std::future::Future;

/// The largest `$top` in `1..=cap` the upstream accepts; `None` when it
/// refuses even `$top=1` (then the refusal is about something else).
pub async fn search(cap: u64, probe: &Probe<'_>) -> Result<Option<u64>, GatewayError> {
    search_with(cap, |top| async move {
        let nothing = CollectionQuery::new(PROBED)
            .select(vec![KEY])
            .filter(id_is(CompareOp::Eq, -1))
            .top(top);
        Ok(probe(nothing, spelled_out()).await?.is_some())
    })
    .await
}

/// The search over any `accepts(top)`.
pub async fn search_with<F, Fut>(cap: u64, accepts: F) -> Result<Option<u64>, GatewayError>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Result<bool, GatewayError>>,
{
    let cap = cap.max(1);
    if accepts(cap).await? {
        return Ok(Some(cap));
    }
    // `lo` accepted (0: nothing yet), `hi` refused.
    let (mut lo, mut hi) = (0, cap);
    let mut power = 10u64.pow(cap.ilog10());
    while lo == 0 && power >= 1 {
        if power < hi {
            if accepts(power).await? {
                lo = power;
            } else {
                hi = power;
            }
        }
        power /= 10;
    }
    if lo == 0 {
        return Ok(None);
    }
    let decade = lo;
    if lo + 1 < hi {
        if !accepts(lo + 1).await? {
            return Ok(Some(lo));
        }
        lo += 1;
    }
    for guess in [5 * decade, 2 * decade] {
        if guess <= lo || guess >= hi {
            continue;
        }
        if !accepts(guess).await? {
            hi = guess;
            continue;
        }
        lo = guess;
        if guess + 1 < hi {
            if accepts(guess + 1).await? {
                lo = guess + 1;
            } else {
                hi = guess + 1;
            }
        }
        break;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if accepts(mid).await? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(Some(lo))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// The cap found for an upstream capping at `real`, and the `$top`s tried.
    async fn found(configured: u64, real: Option<u64>) -> (Option<u64>, Vec<u64>) {
        let tried = Mutex::new(Vec::new());
        let cap = search_with(configured, |top| {
            tried.lock().expect("lock").push(top);
            async move { Ok(real.is_some_and(|real| top <= real)) }
        })
        .await
        .expect("searched");
        (cap, tried.into_inner().expect("lock"))
    }

    #[tokio::test]
    async fn round_caps_take_few_requests() {
        assert_eq!(
            found(10_000, Some(10_000)).await,
            (Some(10_000), vec![10_000])
        );
        assert_eq!(found(10_000, Some(50_000)).await.1.len(), 1);
        assert_eq!(
            found(10_000, Some(1000)).await,
            (Some(1000), vec![10_000, 1000, 1001])
        );
        assert_eq!(
            found(10_000, Some(20)).await,
            (Some(20), vec![10_000, 1000, 100, 10, 11, 50, 20, 21])
        );
        assert_eq!(
            found(10_000, Some(5000)).await.1,
            [10_000, 1000, 1001, 5000, 5001]
        );
    }

    #[tokio::test]
    async fn any_cap_is_found_exactly() {
        for real in [1, 2, 9, 10, 11, 99, 101, 999, 1234, 4999, 7777, 9999] {
            let (cap, tried) = found(10_000, Some(real)).await;
            assert_eq!(cap, Some(real), "{real}");
            assert!(tried.len() <= 20, "{real}: {tried:?}");
        }
        assert_eq!(found(1, Some(1)).await, (Some(1), vec![1]));
        assert_eq!(found(500, Some(20)).await.0, Some(20));
        assert_eq!(found(10_000, None).await.0, None, "even $top=1 refused");
    }
}
