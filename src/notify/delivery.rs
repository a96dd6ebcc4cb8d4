//! The delivery worker: takes due items from the outbox and sends them to their channel.
//!
//! - One task per channel, sending that channel's items one after another; channels run in
//!   parallel, so a slow or dead receiver only delays its own channel.
//! - Each send is bounded by the channel's `timeout`. Success marks the item delivered; a
//!   retryable failure schedules the next attempt after an exponential backoff with jitter,
//!   until the item is older than the channel's `give_up_after`; a permanent failure abandons
//!   it. A channel's pass ends at its first retryable failure: its receiver is most likely
//!   down, and hammering it with the rest of the queue would not help it recover.
//! - Store calls go through `spawn_blocking`: with `synchronous = FULL` every commit waits
//!   for an fsync, which can take tens of milliseconds on a slow disk, and blocking a runtime
//!   thread that long would delay the load generator's requests and skew its latencies.
//! - Passes run every second, as soon as a retry is due, and when the enqueuer pokes the
//!   [`Wakeup`].
//! - Logs name the channel, the alert and the idempotency key; payloads and channel settings
//!   (which may hold secrets) are never logged.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use prometheus::{GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry};
use tokio::sync::Notify;
use tokio::task::{JoinError, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::{SendError, Sender};
use crate::config::model::Channel;
use crate::state::{OutboxItem, StateError, Store};

/// How often each channel looks for due items without being poked.
const TICK: Duration = Duration::from_secs(1);
/// Items read per store call; a channel reads again while batches come back full.
const BATCH: usize = 100;
/// How often finished outbox rows past their retention are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// The worker's metrics, labelled by `channel`.
#[derive(Clone)]
pub struct DeliveryMetrics {
    pub sent: IntCounterVec,
    pub failed: IntCounterVec,
    pub retried: IntCounterVec,
    pub abandoned: IntCounterVec,
    pub outbox_depth: IntGaugeVec,
    pub oldest_pending_seconds: GaugeVec,
}

impl DeliveryMetrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let counter = |name: &str, help: &str| -> Result<IntCounterVec, prometheus::Error> {
            let c = IntCounterVec::new(Opts::new(name, help), &["channel"])?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let outbox_depth = IntGaugeVec::new(
            Opts::new(
                "slamon_notification_outbox_depth",
                "Notifications in the outbox waiting to be delivered, including ones waiting for a retry.",
            ),
            &["channel"],
        )?;
        registry.register(Box::new(outbox_depth.clone()))?;
        let oldest_pending_seconds = GaugeVec::new(
            Opts::new(
                "slamon_notification_outbox_oldest_pending_seconds",
                "Age in seconds of the oldest notification waiting in the outbox; 0 when none waits.",
            ),
            &["channel"],
        )?;
        registry.register(Box::new(oldest_pending_seconds.clone()))?;
        Ok(DeliveryMetrics {
            sent: counter(
                "slamon_notifications_sent_total",
                "Notifications the channel's receiver accepted.",
            )?,
            failed: counter(
                "slamon_notifications_failed_total",
                "Delivery attempts that failed, whether or not the notification is tried again.",
            )?,
            retried: counter(
                "slamon_notifications_retried_total",
                "Failed delivery attempts after which the notification was scheduled for another.",
            )?,
            abandoned: counter(
                "slamon_notifications_abandoned_total",
                "Notifications given up on: refused for good by the receiver, or still failing after the channel's give_up_after.",
            )?,
            outbox_depth,
            oldest_pending_seconds,
        })
    }

    /// Creates every series of `channel` at zero, so dashboards and `rate()` see the channel
    /// before its first event.
    fn init(&self, channel: &str) {
        for c in [&self.sent, &self.failed, &self.retried, &self.abandoned] {
            c.with_label_values(&[channel]);
        }
        self.outbox_depth.with_label_values(&[channel]).set(0);
        self.oldest_pending_seconds
            .with_label_values(&[channel])
            .set(0.0);
    }
}

/// Wakes the worker at once, for the enqueuer to poke after adding to the outbox so a
/// notification does not wait for the next tick. Cheap to clone; a poke while the worker is
/// busy is remembered.
#[derive(Clone, Default)]
pub struct Wakeup(Arc<Notify>);

impl Wakeup {
    pub fn new() -> Wakeup {
        Wakeup::default()
    }

    pub fn poke(&self) {
        self.0.notify_one();
    }
}

/// Delivers due outbox items until `stop` fires, then makes one last pass.
pub async fn run(
    store: Arc<Store>,
    senders: HashMap<String, (Arc<Channel>, Sender)>,
    metrics: DeliveryMetrics,
    stop: CancellationToken,
) {
    run_with_wakeup(store, senders, metrics, Wakeup::new(), stop).await;
}

/// [`run`], also woken by `wakeup`.
pub async fn run_with_wakeup(
    store: Arc<Store>,
    senders: HashMap<String, (Arc<Channel>, Sender)>,
    metrics: DeliveryMetrics,
    wakeup: Wakeup,
    stop: CancellationToken,
) {
    let names: Vec<String> = senders.keys().cloned().collect();
    let mut tasks = JoinSet::new();
    let mut pokes = Vec::with_capacity(senders.len());
    for (name, (channel, sender)) in senders {
        metrics.init(&name);
        let poke = Arc::new(Notify::new());
        pokes.push(Arc::clone(&poke));
        let worker = ChannelWorker {
            name,
            channel,
            sender,
            store: Arc::clone(&store),
            metrics: metrics.clone(),
            unrecorded: HashSet::new(),
        };
        tasks.spawn(worker.run(poke, stop.clone()));
    }
    warn_unknown_channels(&store, &names).await;
    supervise(&store, &metrics, &names, &wakeup, &pokes, &stop).await;
    while let Some(joined) = tasks.join_next().await {
        if let Err(e) = joined {
            tracing::error!(error = %e, "a channel's delivery task failed");
        }
    }
    refresh_gauges(&store, &metrics, &names).await;
}

/// Fans pokes out to every channel, refreshes the outbox gauges, and prunes old rows.
async fn supervise(
    store: &Arc<Store>,
    metrics: &DeliveryMetrics,
    names: &[String],
    wakeup: &Wakeup,
    pokes: &[Arc<Notify>],
    stop: &CancellationToken,
) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_prune = Instant::now();
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            () = wakeup.0.notified() => pokes.iter().for_each(|p| p.notify_one()),
            _ = tick.tick() => {
                refresh_gauges(store, metrics, names).await;
                if last_prune.elapsed() >= PRUNE_EVERY {
                    last_prune = Instant::now();
                    if let Err(e) = call(store, |s| s.prune(Utc::now())).await {
                        tracing::warn!(error = %e, "could not prune the outbox");
                    }
                }
            }
        }
    }
}

async fn refresh_gauges(store: &Arc<Store>, metrics: &DeliveryMetrics, names: &[String]) {
    let stats = match call(store, |s| s.pending_stats(Utc::now())).await {
        Ok(stats) => stats,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the outbox depth");
            return;
        }
    };
    for name in names {
        if !stats.iter().any(|(channel, ..)| channel == name) {
            metrics.outbox_depth.with_label_values(&[name]).set(0);
            metrics
                .oldest_pending_seconds
                .with_label_values(&[name])
                .set(0.0);
        }
    }
    for (channel, depth, oldest) in stats {
        let depth = i64::try_from(depth).unwrap_or(i64::MAX);
        metrics
            .outbox_depth
            .with_label_values(&[&channel])
            .set(depth);
        metrics
            .oldest_pending_seconds
            .with_label_values(&[&channel])
            .set(oldest.unwrap_or(0.0));
    }
}

/// Items for a channel no longer in the config stay in the outbox (the channel may come back
/// after a rename is undone) and keep showing in the depth gauge; say so once at start.
async fn warn_unknown_channels(store: &Arc<Store>, names: &[String]) {
    let Ok(stats) = call(store, |s| s.pending_stats(Utc::now())).await else {
        return;
    };
    for (channel, depth, _) in stats {
        if !names.contains(&channel) {
            tracing::warn!(
                channel = %channel,
                pending = depth,
                "notifications are pending for a channel that is not configured; they stay in \
                 the outbox until it is"
            );
        }
    }
}

/// What became of one attempt.
enum Outcome {
    Finished,
    /// Try again at this instant.
    Retry(Instant),
}

struct ChannelWorker {
    name: String,
    channel: Arc<Channel>,
    sender: Sender,
    store: Arc<Store>,
    metrics: DeliveryMetrics,
    /// Items the receiver accepted but whose delivered mark could not be stored: the mark is
    /// retried instead of the send, so a store hiccup does not cause a duplicate.
    unrecorded: HashSet<i64>,
}

impl ChannelWorker {
    async fn run(mut self, poke: Arc<Notify>, stop: CancellationToken) {
        let mut tick = tokio::time::interval_at(Instant::now() + TICK, TICK);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let retry_at = self.pass(&stop, false).await;
            let retry = async move {
                match retry_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                () = poke.notified() => {}
                _ = tick.tick() => {}
                () = retry => {}
            }
        }
        // The last pass reads one batch and stops at the first retryable failure, so shutdown
        // waits at most one timeout per item; whatever is left stays in the outbox.
        self.pass(&stop, true).await;
    }

    /// Sends due items; returns when the earliest retry it scheduled is due, if any.
    async fn pass(&mut self, stop: &CancellationToken, last: bool) -> Option<Instant> {
        loop {
            let name = self.name.clone();
            let items = match call(&self.store, move |s| {
                s.due_for_channel(&name, Utc::now(), BATCH)
            })
            .await
            {
                Ok(items) => items,
                Err(e) => {
                    tracing::error!(channel = %self.name, error = %e, "could not read the outbox");
                    return None;
                }
            };
            let full = items.len() == BATCH;
            for item in items {
                if !last && stop.is_cancelled() {
                    return None;
                }
                if let Outcome::Retry(at) = self.attempt(item).await {
                    return Some(at);
                }
            }
            if !full || last {
                return None;
            }
        }
    }

    async fn attempt(&mut self, item: OutboxItem) -> Outcome {
        if self.unrecorded.contains(&item.id) {
            return self.delivered(item, Utc::now()).await;
        }
        let sent = tokio::time::timeout(
            self.channel.timeout,
            self.sender.send(&item.notification, &item.idempotency_key),
        )
        .await
        .unwrap_or_else(|_| {
            Err(SendError {
                retryable: true,
                message: format!("no answer within {:?}", self.channel.timeout),
            })
        });
        let now = Utc::now();
        match sent {
            Ok(()) => {
                self.metrics.sent.with_label_values(&[&self.name]).inc();
                self.delivered(item, now).await
            }
            Err(e) => {
                self.metrics.failed.with_label_values(&[&self.name]).inc();
                if e.retryable {
                    self.retry_or_give_up(item, &e.message, now).await
                } else {
                    self.abandon(item, format!("refused for good: {}", e.message))
                        .await
                }
            }
        }
    }

    async fn delivered(&mut self, item: OutboxItem, now: DateTime<Utc>) -> Outcome {
        let id = item.id;
        match call(&self.store, move |s| s.mark_delivered(id, now)).await {
            Ok(()) => {
                self.unrecorded.remove(&id);
                tracing::info!(
                    channel = %self.name,
                    alertname = %item.notification.alertname,
                    idempotency_key = %item.idempotency_key,
                    attempts = item.attempts + 1,
                    "notification delivered"
                );
            }
            Err(e) => {
                self.unrecorded.insert(id);
                tracing::error!(
                    channel = %self.name,
                    alertname = %item.notification.alertname,
                    idempotency_key = %item.idempotency_key,
                    error = %e,
                    "notification delivered, but the delivered mark could not be stored; \
                     retrying the mark (a restart before it succeeds sends it again, same key)"
                );
            }
        }
        Outcome::Finished
    }

    async fn retry_or_give_up(
        &mut self,
        item: OutboxItem,
        error: &str,
        now: DateTime<Utc>,
    ) -> Outcome {
        let age = (now - item.created_at).to_std().unwrap_or(Duration::ZERO);
        if age >= self.channel.give_up_after {
            let reason = format!("still failing after {}s: {error}", age.as_secs());
            return self.abandon(item, reason).await;
        }
        let wait = backoff(
            item.attempts,
            self.channel.retry_initial,
            self.channel.retry_max,
            rand::random_range(0.5..=1.0),
        );
        let next = TimeDelta::from_std(wait)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.metrics.retried.with_label_values(&[&self.name]).inc();
        tracing::warn!(
            channel = %self.name,
            alertname = %item.notification.alertname,
            idempotency_key = %item.idempotency_key,
            attempt = item.attempts + 1,
            retry_in_ms = wait.as_millis() as u64,
            error,
            "notification not delivered; will retry"
        );
        let (id, error) = (item.id, error.to_string());
        if let Err(e) = call(&self.store, move |s| s.mark_failed(id, &error, next)).await {
            // The item stays due, so it is simply tried again on the next pass.
            tracing::error!(channel = %self.name, error = %e, "could not record a failed attempt");
        }
        Outcome::Retry(Instant::now() + wait)
    }

    async fn abandon(&mut self, item: OutboxItem, reason: String) -> Outcome {
        self.metrics
            .abandoned
            .with_label_values(&[&self.name])
            .inc();
        tracing::error!(
            channel = %self.name,
            alertname = %item.notification.alertname,
            idempotency_key = %item.idempotency_key,
            attempts = item.attempts + 1,
            error = %reason,
            "notification abandoned: it will not be delivered"
        );
        let id = item.id;
        if let Err(e) = call(&self.store, move |s| s.mark_abandoned(id, &reason)).await {
            tracing::error!(channel = %self.name, error = %e, "could not record an abandoned notification");
        }
        Outcome::Finished
    }
}

/// The wait before the attempt after `attempts` earlier ones: `retry_initial × 2^attempts`,
/// capped at `retry_max`, scaled by `jitter` (drawn from 0.5..=1) so that receivers coming
/// back are not hit by every sender at once.
fn backoff(attempts: u32, initial: Duration, max: Duration, jitter: f64) -> Duration {
    let capped = initial
        .saturating_mul(2u32.saturating_pow(attempts))
        .min(max);
    Duration::try_from_secs_f64(capped.as_secs_f64() * jitter).unwrap_or(capped)
}

#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("the store call did not complete: {0}")]
    Join(#[from] JoinError),
}

/// Runs a store call on the blocking pool (see the module documentation for why).
async fn call<T, F>(store: &Arc<Store>, f: F) -> Result<T, CallError>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T, StateError> + Send + 'static,
{
    let store = Arc::clone(store);
    Ok(tokio::task::spawn_blocking(move || f(&store)).await??)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use tokio::task::JoinHandle;
    use url::Url;

    use super::*;
    use crate::alert::Status;
    use crate::config::model::{ChannelKind, WebhookChannel};
    use crate::state::tests::{TempDir, notification};

    /// An HTTP receiver on 127.0.0.1 that answers `refusal` to its first `refusals` requests
    /// and 200 afterwards, each after `delay`, recording every `Idempotency-Key`.
    struct Receiver {
        refusals: usize,
        refusal: StatusCode,
        delay: Duration,
        keys: Mutex<Vec<String>>,
    }

    impl Receiver {
        async fn start(refusals: usize, refusal: StatusCode, delay: Duration) -> (Url, Arc<Self>) {
            let receiver = Arc::new(Receiver {
                refusals,
                refusal,
                delay,
                keys: Mutex::new(Vec::new()),
            });
            let app = axum::Router::new()
                .fallback(answer)
                .with_state(Arc::clone(&receiver));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url =
                Url::parse(&format!("http://{}/hook", listener.local_addr().unwrap())).unwrap();
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            (url, receiver)
        }

        fn keys(&self) -> Vec<String> {
            self.keys.lock().unwrap().clone()
        }
    }

    async fn answer(State(r): State<Arc<Receiver>>, headers: HeaderMap) -> StatusCode {
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("<none>")
            .to_string();
        let n = {
            let mut keys = r.keys.lock().unwrap();
            keys.push(key);
            keys.len()
        };
        tokio::time::sleep(r.delay).await;
        if n <= r.refusals {
            r.refusal
        } else {
            StatusCode::OK
        }
    }

    type Senders = HashMap<String, (Arc<Channel>, Sender)>;

    fn webhook(name: &str, url: Url, timeout: Duration, give_up_after: Duration) -> Senders {
        let channel = Channel {
            name: name.into(),
            kind: ChannelKind::Webhook(WebhookChannel {
                url,
                headers: Vec::new(),
                hmac_secret: None,
                template: None,
                content_type: "application/json".into(),
            }),
            timeout,
            retry_initial: Duration::from_millis(50),
            retry_max: Duration::from_millis(200),
            give_up_after,
        };
        let sender = Sender::new(&channel).unwrap();
        HashMap::from([(name.to_string(), (Arc::new(channel), sender))])
    }

    struct Worker {
        stop: CancellationToken,
        wakeup: Wakeup,
        task: JoinHandle<()>,
    }

    impl Worker {
        fn start(store: &Arc<Store>, senders: Senders, metrics: &DeliveryMetrics) -> Worker {
            let (stop, wakeup) = (CancellationToken::new(), Wakeup::new());
            let task = tokio::spawn(run_with_wakeup(
                Arc::clone(store),
                senders,
                metrics.clone(),
                wakeup.clone(),
                stop.clone(),
            ));
            Worker { stop, wakeup, task }
        }

        async fn stop(self) {
            self.stop.cancel();
            tokio::time::timeout(Duration::from_secs(10), self.task)
                .await
                .expect("the worker stops within 10 s")
                .unwrap();
        }
    }

    fn metrics() -> DeliveryMetrics {
        DeliveryMetrics::new(&Registry::new()).unwrap()
    }

    fn pending(store: &Store, channel: &str) -> u64 {
        let stats = store.pending_stats(Utc::now()).unwrap();
        stats
            .iter()
            .find(|(c, ..)| c == channel)
            .map_or(0, |(_, depth, _)| *depth)
    }

    async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let waited = tokio::time::timeout(Duration::from_secs(10), async {
            while !done() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(waited.is_ok(), "timed out waiting for {what}");
    }

    fn count(c: &IntCounterVec, channel: &str) -> u64 {
        c.with_label_values(&[channel]).get()
    }

    #[tokio::test]
    async fn retries_until_accepted_and_never_sends_again_even_after_a_restart() {
        let dir = TempDir::new("delivery-retry");
        let (url, receiver) =
            Receiver::start(2, StatusCode::INTERNAL_SERVER_ERROR, Duration::ZERO).await;
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let n = notification("fp", Status::Firing);
        assert!(store.enqueue("hook", "key-1", &n).unwrap());
        let metrics = metrics();
        let senders = webhook(
            "hook",
            url.clone(),
            Duration::from_secs(5),
            Duration::from_secs(600),
        );
        let worker = Worker::start(&store, senders, &metrics);
        worker.wakeup.poke();

        wait_until("the delivery", || pending(&store, "hook") == 0).await;
        // More passes: a delivered item must not go out again.
        worker.wakeup.poke();
        tokio::time::sleep(Duration::from_millis(1200)).await;
        worker.stop().await;

        assert_eq!(receiver.keys(), ["key-1", "key-1", "key-1"]);
        assert_eq!(count(&metrics.sent, "hook"), 1);
        assert_eq!(count(&metrics.failed, "hook"), 2);
        assert_eq!(count(&metrics.retried, "hook"), 2);
        assert_eq!(count(&metrics.abandoned, "hook"), 0);
        assert_eq!(metrics.outbox_depth.with_label_values(&["hook"]).get(), 0);
        assert_eq!(
            metrics
                .oldest_pending_seconds
                .with_label_values(&["hook"])
                .get(),
            0.0
        );

        // A restart: the delivered mark is on disk, and the key still deduplicates.
        drop(store);
        let store = Arc::new(Store::open(dir.path()).unwrap());
        assert!(!store.enqueue("hook", "key-1", &n).unwrap());
        let senders = webhook(
            "hook",
            url,
            Duration::from_secs(5),
            Duration::from_secs(600),
        );
        let worker = Worker::start(&store, senders, &metrics);
        worker.wakeup.poke();
        tokio::time::sleep(Duration::from_millis(1200)).await;
        worker.stop().await;
        assert_eq!(receiver.keys().len(), 3);
    }

    #[tokio::test]
    async fn a_refused_notification_is_abandoned_at_once() {
        let dir = TempDir::new("delivery-refused");
        let (url, receiver) =
            Receiver::start(usize::MAX, StatusCode::BAD_REQUEST, Duration::ZERO).await;
        let store = Arc::new(Store::open(dir.path()).unwrap());
        store
            .enqueue("hook", "key-1", &notification("fp", Status::Firing))
            .unwrap();
        let metrics = metrics();
        let senders = webhook(
            "hook",
            url,
            Duration::from_secs(5),
            Duration::from_secs(600),
        );
        let worker = Worker::start(&store, senders, &metrics);
        worker.wakeup.poke();
        wait_until("the abandon", || pending(&store, "hook") == 0).await;
        worker.stop().await;

        assert_eq!(receiver.keys().len(), 1);
        assert_eq!(count(&metrics.failed, "hook"), 1);
        assert_eq!(count(&metrics.retried, "hook"), 0);
        assert_eq!(count(&metrics.abandoned, "hook"), 1);
        assert_eq!(count(&metrics.sent, "hook"), 0);
    }

    #[tokio::test]
    async fn a_failing_notification_older_than_give_up_after_is_abandoned() {
        let dir = TempDir::new("delivery-give-up");
        let (url, receiver) =
            Receiver::start(usize::MAX, StatusCode::SERVICE_UNAVAILABLE, Duration::ZERO).await;
        let store = Arc::new(Store::open(dir.path()).unwrap());
        store
            .enqueue("hook", "key-1", &notification("fp", Status::Firing))
            .unwrap();
        let metrics = metrics();
        // Long enough that the first attempt comes well within it even on a loaded machine
        // (it is counted from the enqueue), short enough to give up within the test.
        let give_up_after = Duration::from_millis(2000);
        let senders = webhook("hook", url, Duration::from_secs(5), give_up_after);
        let worker = Worker::start(&store, senders, &metrics);
        worker.wakeup.poke();
        wait_until("the give-up", || pending(&store, "hook") == 0).await;
        worker.stop().await;

        let attempts = receiver.keys().len() as u64;
        assert!(
            attempts >= 2,
            "retried before giving up ({attempts} attempts)"
        );
        assert_eq!(count(&metrics.failed, "hook"), attempts);
        assert_eq!(count(&metrics.retried, "hook"), attempts - 1);
        assert_eq!(count(&metrics.abandoned, "hook"), 1);
    }

    #[tokio::test]
    async fn a_slow_channel_does_not_hold_up_the_others() {
        let dir = TempDir::new("delivery-slow");
        let (slow_url, slow) = Receiver::start(0, StatusCode::OK, Duration::from_secs(2)).await;
        let (fast_url, fast) = Receiver::start(0, StatusCode::OK, Duration::ZERO).await;
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let n = notification("fp", Status::Firing);
        store.enqueue("slow", "key-s", &n).unwrap();
        store.enqueue("fast", "key-f", &n).unwrap();
        let metrics = metrics();
        let mut senders = webhook(
            "slow",
            slow_url,
            Duration::from_secs(5),
            Duration::from_secs(600),
        );
        senders.extend(webhook(
            "fast",
            fast_url,
            Duration::from_secs(5),
            Duration::from_secs(600),
        ));
        let worker = Worker::start(&store, senders, &metrics);
        worker.wakeup.poke();

        wait_until("the fast delivery", || pending(&store, "fast") == 0).await;
        assert_eq!(fast.keys(), ["key-f"]);
        assert_eq!(
            pending(&store, "slow"),
            1,
            "the slow receiver is still answering"
        );
        wait_until("the slow delivery", || pending(&store, "slow") == 0).await;
        worker.stop().await;
        assert_eq!(slow.keys(), ["key-s"]);
    }

    #[tokio::test]
    async fn stopping_still_makes_one_last_pass() {
        let dir = TempDir::new("delivery-last-pass");
        let (url, receiver) = Receiver::start(0, StatusCode::OK, Duration::ZERO).await;
        let store = Arc::new(Store::open(dir.path()).unwrap());
        store
            .enqueue("hook", "key-1", &notification("fp", Status::Firing))
            .unwrap();
        let metrics = metrics();
        let stop = CancellationToken::new();
        stop.cancel();
        let senders = webhook(
            "hook",
            url,
            Duration::from_secs(5),
            Duration::from_secs(600),
        );
        let ran = tokio::time::timeout(
            Duration::from_secs(10),
            run(Arc::clone(&store), senders, metrics.clone(), stop),
        )
        .await;
        assert!(ran.is_ok(), "the last pass is bounded");
        assert_eq!(receiver.keys(), ["key-1"]);
        assert_eq!(pending(&store, "hook"), 0);
        assert_eq!(count(&metrics.sent, "hook"), 1);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let (initial, max) = (Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(backoff(0, initial, max, 1.0), Duration::from_millis(100));
        assert_eq!(backoff(3, initial, max, 1.0), Duration::from_millis(800));
        assert_eq!(backoff(4, initial, max, 1.0), max);
        assert_eq!(backoff(u32::MAX, initial, max, 1.0), max);
        assert_eq!(backoff(2, initial, max, 0.5), Duration::from_millis(200));
        let huge = backoff(u32::MAX, Duration::MAX, Duration::MAX, 1.0);
        assert!(huge >= Duration::from_secs(u64::MAX / 2));
    }
}
