//! The cohorts of the process and the limits on subscriptions: joining
//! finds or starts a cohort's poller, leaving (dropping the subscription)
//! stops the poller with the last member.

use super::cohort::{Cohort, Evaluate, Poll};
use super::error::LiveError;
use super::inbox::{Delivery, End, Inbox};
use super::operation::LiveOperation;
use crate::config::LiveSettings;
use crate::metrics::{Metrics, ReasonLabel};
use crate::upstream::{Caller, Fingerprint, Upstream};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;

/// Whose data a result is: never shared beyond it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Audience {
    fingerprint: Fingerprint,
    /// An API key limited to some collections sees less than the
    /// service credential it goes upstream with.
    collections: Option<Arc<[String]>>,
    no_cache: bool,
}

/// Who a subscription counts for under `max_subscriptions_per_credential`:
/// the credential, or in service mode the client's API key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Client {
    fingerprint: Fingerprint,
    api_key: Option<Arc<str>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CohortKey {
    audience: Audience,
    operation: String,
    interval: Duration,
}

pub struct Hub {
    settings: LiveSettings,
    upstream: Arc<Upstream>,
    evaluate: Evaluate,
    metrics: Arc<Metrics>,
    registry: Mutex<Registry>,
    next_id: AtomicU64,
    /// True once the server shuts down: every subscription completes.
    closing: watch::Sender<bool>,
}

#[derive(Default)]
struct Registry {
    /// Keyed by the key every member holds a share of (the document text
    /// is kept once per cohort, not once per subscriber).
    cohorts: HashMap<Arc<CohortKey>, Arc<Cohort>>,
    open: usize,
    open_by_client: HashMap<Client, usize>,
}

impl Hub {
    pub fn new(
        settings: LiveSettings,
        upstream: Arc<Upstream>,
        evaluate: Evaluate,
        metrics: Arc<Metrics>,
    ) -> Hub {
        Hub {
            settings,
            upstream,
            evaluate,
            metrics,
            registry: Mutex::default(),
            next_id: AtomicU64::new(0),
            closing: watch::Sender::new(false),
        }
    }

    /// Completes every subscription (graceful shutdown): their streams
    /// end, their cohorts stop, and new ones complete at once.
    pub fn close(&self) {
        let registry = self.registry();
        self.closing.send_replace(true);
        for cohort in registry.cohorts.values() {
            cohort.complete_all();
        }
    }

    /// Turns true when the hub closes.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Resolves once every holder of a `closing` receiver (a WebSocket
    /// connection, which leaves the HTTP server at its upgrade) is gone.
    pub async fn connections_gone(&self) {
        self.closing.closed().await
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock leaves plain counts behind; go on.
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Subscribes `caller` to `operation`: joins its cohort or starts one.
    /// Within the limits, else TOO_MANY_SUBSCRIPTIONS.
    pub fn subscribe(
        self: &Arc<Self>,
        caller: Caller,
        operation: LiveOperation,
    ) -> Result<Subscription, LiveError> {
        let interval = self.settings.interval(operation.every_seconds);
        let fingerprint = self.upstream.fingerprint(&caller.credential);
        let client = Client {
            fingerprint,
            api_key: caller.api_key.clone(),
        };
        let audience = Audience {
            fingerprint,
            collections: caller.collections.clone(),
            no_cache: caller.no_cache,
        };
        let key = CohortKey {
            audience,
            operation: operation.cohort_text(),
            interval,
        };
        let mut registry = self.registry();
        self.admit(&mut registry, &client)?;
        let running = registry
            .cohorts
            .get_key_value(&key)
            .filter(|(_, cohort)| !cohort.is_stopped());
        let (key, cohort) = match running {
            Some((key, cohort)) => (key.clone(), cohort.clone()),
            // None yet, or one the upstream refused: a new subscriber
            // tries once more.
            None => {
                let poll = Poll {
                    evaluate: self.evaluate.clone(),
                    metrics: self.metrics.clone(),
                    caller,
                    operation,
                    interval,
                };
                let (key, cohort) = (Arc::new(key), Cohort::start(poll));
                registry.cohorts.insert(key.clone(), cohort.clone());
                (key, cohort)
            }
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let inbox = Inbox::new();
        cohort.join(id, inbox.clone(), &self.metrics);
        if *self.closing.borrow() {
            inbox.end(End::Completed);
        }
        self.publish(&registry);
        Ok(Subscription {
            inbox,
            ended: false,
            _membership: Membership {
                hub: self.clone(),
                key,
                client,
                id,
            },
        })
    }

    /// Counts one more subscription for `client`, or refuses it past
    /// `max_subscriptions` or `max_subscriptions_per_credential`.
    fn admit(&self, registry: &mut Registry, client: &Client) -> Result<(), LiveError> {
        let limits = &self.settings;
        let refused = if registry.open >= limits.max_subscriptions {
            Some(LiveError::TooMany {
                limit: limits.max_subscriptions,
            })
        } else if registry.open_by_client.get(client).copied().unwrap_or(0)
            >= limits.max_per_credential
        {
            Some(LiveError::TooManyForCredential {
                limit: limits.max_per_credential,
            })
        } else {
            None
        };
        if let Some(refused) = refused {
            self.metrics
                .live_refused
                .get_or_create(&ReasonLabel { reason: "limit" })
                .inc();
            return Err(refused);
        }
        registry.open += 1;
        *registry.open_by_client.entry(client.clone()).or_default() += 1;
        Ok(())
    }

    fn leave(&self, key: &CohortKey, client: &Client, id: u64) {
        let mut registry = self.registry();
        registry.open = registry.open.saturating_sub(1);
        if let Some(open) = registry.open_by_client.get_mut(client) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                registry.open_by_client.remove(client);
            }
        }
        // The cohort under this key may be a newer one (after a refusal):
        // this member is not in it, and it ends only when its own leave.
        let last = registry.cohorts.get(key).is_some_and(|c| c.leave(id));
        if last {
            if let Some(cohort) = registry.cohorts.remove(key) {
                cohort.stop();
            }
        }
        self.publish(&registry);
    }

    fn publish(&self, registry: &Registry) {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.metrics.live_subscriptions.set(gauge(registry.open));
        self.metrics.live_cohorts.set(gauge(registry.cohorts.len()));
    }
}

/// What a subscriber receives.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    /// An execution result, as JSON text.
    Result(Arc<str>),
    /// The subscription ends with this error.
    Ended(LiveError),
    /// The upstream refused the credential: the subscription ends with
    /// this execution result (its `errors` say why).
    Refused(Arc<str>),
}

/// One subscriber's results; dropping it leaves the cohort.
pub struct Subscription {
    inbox: Arc<Inbox>,
    ended: bool,
    /// Held for its `Drop`: leaving the cohort.
    _membership: Membership,
}

impl Subscription {
    /// The next result; `None` when the subscription is over.
    pub async fn next(&mut self) -> Option<LiveEvent> {
        if self.ended {
            return None;
        }
        match self.inbox.next().await {
            Some(Delivery::Result(result)) => Some(LiveEvent::Result(result)),
            Some(Delivery::Ended(End::TooSlow)) => {
                self.ended = true;
                Some(LiveEvent::Ended(LiveError::TooSlow))
            }
            Some(Delivery::Ended(End::Refused(result))) => {
                self.ended = true;
                Some(LiveEvent::Refused(result))
            }
            Some(Delivery::Ended(End::Completed)) | None => {
                self.ended = true;
                None
            }
        }
    }
}

struct Membership {
    hub: Arc<Hub>,
    key: Arc<CohortKey>,
    client: Client,
    id: u64,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.hub.leave(&self.key, &self.client, self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::live::cohort::Evaluation;
    use crate::upstream::Credential;
    use std::sync::atomic::AtomicUsize;

    fn hub(evaluations: Arc<AtomicUsize>) -> Arc<Hub> {
        let config = Config {
            upstream: Some("http://127.0.0.1:9/odata".into()),
            live_min_interval_s: 1,
            live_default_interval_s: 1,
            max_subscriptions: 3,
            max_subscriptions_per_credential: 2,
            ..Config::default()
        };
        let settings = config.validate().expect("settings");
        let metrics = Arc::new(Metrics::new());
        let upstream = Arc::new(Upstream::new(&settings.upstream).expect("upstream"));
        let evaluate: Evaluate = Arc::new(move |_, caller: Caller| {
            // The same result every time, one per credential.
            evaluations.fetch_add(1, Ordering::SeqCst);
            let secret = caller.credential.secret().to_string();
            let result = Arc::from(format!("{secret}:0"));
            let refused = secret == "refused";
            Box::pin(async move { Evaluation { result, refused } })
        });
        Arc::new(Hub::new(settings.live, upstream, evaluate, metrics))
    }

    fn operation(query: &str) -> LiveOperation {
        let document = async_graphql::parser::parse_query(query).expect("document");
        LiveOperation::from_subscription(query.into(), None, Default::default(), document)
            .expect("live")
    }

    fn caller(token: &str) -> Caller {
        Caller::new(Credential::Bearer(token.into()))
    }

    #[tokio::test]
    async fn one_poller_per_cohort_and_limits() {
        let evaluations = Arc::new(AtomicUsize::new(0));
        let hub = hub(evaluations.clone());
        let op = operation("subscription { a { x } }");
        let mut a1 = hub.subscribe(caller("a"), op.clone()).expect("a1");
        let mut a2 = hub.subscribe(caller("a"), op.clone()).expect("a2");
        let refused = hub.subscribe(caller("a"), op.clone()).err();
        assert_eq!(
            refused.map(|e| e.kind()),
            Some(crate::error::ErrorCode::TooManySubscriptions)
        );
        let mut b = hub.subscribe(caller("b"), op.clone()).expect("b");
        assert!(matches!(
            hub.subscribe(caller("c"), op.clone()),
            Err(LiveError::TooMany { limit: 3 })
        ));
        assert_eq!(hub.registry().cohorts.len(), 2);
        let first = |e: Option<LiveEvent>| match e {
            Some(LiveEvent::Result(text)) => text.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(first(a1.next().await), "a:0");
        assert_eq!(first(a2.next().await), "a:0");
        assert_eq!(first(b.next().await), "b:0");
        drop((a1, a2, b));
        assert!(hub.registry().cohorts.is_empty());
        assert_eq!(hub.registry().open, 0);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let settled = evaluations.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(
            evaluations.load(Ordering::SeqCst),
            settled,
            "pollers stopped"
        );
    }

    #[tokio::test]
    async fn service_mode_limits_count_per_api_key() {
        let hub = hub(Arc::new(AtomicUsize::new(0)));
        let op = operation("subscription { a { x } }");
        let keyed = |name: &str| Caller {
            api_key: Some(Arc::from(name)),
            ..caller("service")
        };
        let _one = hub.subscribe(keyed("wall"), op.clone()).expect("one");
        let _two = hub.subscribe(keyed("wall"), op.clone()).expect("two");
        assert!(hub.subscribe(keyed("wall"), op.clone()).is_err());
        let _other = hub.subscribe(keyed("desk"), op).expect("another key");
        assert_eq!(hub.registry().cohorts.len(), 1, "same audience, one poller");
    }

    #[tokio::test]
    async fn a_refused_credential_ends_its_subscriptions_and_polls_no_more() {
        let evaluations = Arc::new(AtomicUsize::new(0));
        let hub = hub(evaluations.clone());
        let op = operation("subscription { a { x } }");
        let mut one = hub.subscribe(caller("refused"), op.clone()).expect("one");
        let refused = LiveEvent::Refused(Arc::from("refused:0"));
        assert_eq!(one.next().await, Some(refused.clone()));
        assert_eq!(one.next().await, None);
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(evaluations.load(Ordering::SeqCst), 1, "no second poll");
        // A new subscription tries once more, in a cohort of its own.
        let mut two = hub.subscribe(caller("refused"), op).expect("two");
        assert_eq!(two.next().await, Some(refused));
        assert_eq!(evaluations.load(Ordering::SeqCst), 2);
        drop((one, two));
        assert!(hub.registry().cohorts.is_empty());
    }

    #[tokio::test]
    async fn closing_completes_every_subscription() {
        let hub = hub(Arc::new(AtomicUsize::new(0)));
        let op = operation("subscription { a { x } }");
        let mut open = hub.subscribe(caller("a"), op.clone()).expect("open");
        assert!(matches!(open.next().await, Some(LiveEvent::Result(_))));
        hub.close();
        assert_eq!(open.next().await, None);
        let mut late = hub.subscribe(caller("b"), op).expect("late");
        assert_eq!(late.next().await, None);
    }
}
