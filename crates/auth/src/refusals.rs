//! Refusals before identity is established (a TLS handshake without a valid client
//! certificate, a dashboard call without a valid token, a call over a source's rate): rate
//! limited per source address and audited in **aggregate**, so an unauthenticated flood costs
//! bounded storage in the append-only audit log.
//!
//! Each listener has one [`RefusalGate`]. Every such refusal is counted against its source
//! address in a keyed GCRA limiter (`governor`); a source over its rate is *blocked* until the
//! limiter would admit it again: its connections are dropped before the TLS handshake and its
//! dashboard calls refused with `RESOURCE_EXHAUSTED` before any token check.
//!
//! The first refusal of a source in an interval is audited at once, on its own (a single
//! misconfigured client shows up in the log straight away); the rest are only tallied, and
//! at the end of the interval **one** entry per source records how many more there were and
//! of which kinds. At most `max_sources` sources are tallied separately per interval, every
//! other source sharing one tally. So the audit log grows by at most
//! `2 × (max_sources + 1)` entries per listener per interval, however large the flood.

use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use vawg_firewall::Firewall;

/// The limits of one listener's gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefusalSettings {
    /// Refusals per second a source address may cause before it is blocked (sustained).
    pub per_source_per_second: u32,
    /// Refusals a source may cause in a burst above that rate.
    pub burst: u32,
    /// How often the tallies are written to the audit log, one entry per source.
    pub interval: Duration,
    /// Sources tallied separately per interval; the rest share one entry.
    pub max_sources: usize,
}

/// Refusals of one source in the current interval, by kind.
#[derive(Default)]
struct Tally {
    count: u64,
    kinds: BTreeMap<String, u64>,
}

/// Longest kind recorded (kinds are the hub's own words, never the caller's input).
const MAX_KIND_CHARS: usize = 96;

/// Most distinct kinds kept per source (the rest are counted as "other").
const MAX_KINDS: usize = 16;

/// A listener's per-source refusal limiter and tally. Cheap to share (`Arc`).
pub struct RefusalGate {
    listener: &'static str,
    settings: RefusalSettings,
    firewall: Firewall,
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    /// `None` is "every other source" once `max_sources` are tallied.
    tallies: Mutex<HashMap<Option<IpAddr>, Tally>>,
}

impl std::fmt::Debug for RefusalGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefusalGate")
            .field("listener", &self.listener)
            .field("settings", &self.settings)
            .finish()
    }
}

fn non_zero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

impl RefusalGate {
    /// A gate for the listener called `listener` (`"main"`, `"dashboard"`), auditing through
    /// `firewall`.
    pub fn new(listener: &'static str, settings: RefusalSettings, firewall: Firewall) -> Self {
        let quota = Quota::per_second(non_zero(settings.per_source_per_second))
            .allow_burst(non_zero(settings.burst));
        RefusalGate {
            listener,
            settings,
            firewall,
            limiter: RateLimiter::keyed(quota),
            blocked: Mutex::new(HashMap::new()),
            tallies: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `source` may try now (it is not blocked for causing too many refusals).
    pub fn admits(&self, source: IpAddr) -> bool {
        let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        match blocked.get(&source) {
            Some(until) if *until > Instant::now() => false,
            Some(_) => {
                blocked.remove(&source);
                true
            }
            None => true,
        }
    }

    /// Counts one refusal of `source` for `kind` (the hub's words) and blocks the source once
    /// it is over its rate. Returns whether this is the source's first refusal this interval,
    /// which the caller audits at once ([`RefusalGate::audit_first`]); later ones are audited
    /// in aggregate at the end of the interval.
    pub fn refused(&self, source: IpAddr, kind: &str) -> bool {
        if let Err(not_until) = self.limiter.check_key(&source) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
            if blocked.len() < self.settings.max_sources.max(1) * 4 || blocked.contains_key(&source)
            {
                blocked.insert(source, Instant::now() + wait.max(Duration::from_millis(1)));
            }
        }
        self.tally(source, kind)
    }

    /// Audits the first refusal of a source in an interval, on its own.
    pub async fn audit_first(
        &self,
        agency_id: &str,
        rpc: &str,
        code: tonic::Code,
        reason: &str,
    ) -> Result<(), vawg_firewall::Error> {
        self.firewall
            .audit_refusal(agency_id, rpc, code, reason)
            .await
            .map(|_| ())
    }

    /// Counts a refusal in the current interval's tally only (a blocked source's attempts).
    /// Returns whether it is the first of its tally this interval.
    pub fn tally(&self, source: IpAddr, kind: &str) -> bool {
        let mut tallies = self.tallies.lock().unwrap_or_else(|p| p.into_inner());
        let key = if tallies.contains_key(&Some(source))
            || tallies.len() < self.settings.max_sources.max(1)
        {
            Some(source)
        } else {
            None
        };
        let tally = tallies.entry(key).or_default();
        tally.count += 1;
        if tally.count == 1 {
            // Audited on its own by the caller; only later ones are aggregated.
            return true;
        }
        let kind: String = kind.chars().take(MAX_KIND_CHARS).collect();
        if tally.kinds.len() < MAX_KINDS || tally.kinds.contains_key(&kind) {
            *tally.kinds.entry(kind).or_default() += 1;
        } else {
            *tally.kinds.entry("other".into()).or_default() += 1;
        }
        false
    }

    /// Writes the current tallies to the audit log, one entry per source that was refused
    /// more than once (its first refusal was audited on its own), and starts a new interval.
    /// Returns the number of entries written.
    pub async fn flush(&self) -> usize {
        let tallies = std::mem::take(&mut *self.tallies.lock().unwrap_or_else(|p| p.into_inner()));
        self.limiter.retain_recent();
        self.blocked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, until| *until > Instant::now());
        let mut written = 0;
        for (source, tally) in tallies.into_iter().filter(|(_, t)| t.count > 1) {
            let reason = self.describe(source, &tally);
            match self
                .firewall
                .audit_refusal("", "", tonic::Code::Unauthenticated, &reason)
                .await
            {
                Ok(_) => written += 1,
                Err(e) => tracing::error!(error = %e, "auditing aggregated refusals failed"),
            }
        }
        written
    }

    fn describe(&self, source: Option<IpAddr>, tally: &Tally) -> String {
        let kinds: Vec<String> = tally
            .kinds
            .iter()
            .map(|(k, n)| format!("{k} ×{n}"))
            .collect();
        let source = source.map_or_else(|| "other sources".to_string(), |ip| ip.to_string());
        format!(
            "aggregated: {} more refusals before identity on the {} listener from {} within {} s \
             (the first audited on its own): {}",
            tally.count - 1,
            self.listener,
            source,
            self.settings.interval.as_secs_f64(),
            kinds.join("; ")
        )
    }

    /// Flushes every interval until `stop` turns true, then once more.
    pub fn spawn_flusher(
        self: Arc<Self>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticks =
                tokio::time::interval(self.settings.interval.max(Duration::from_millis(10)));
            ticks.tick().await;
            loop {
                if *stop.borrow() {
                    break;
                }
                tokio::select! {
                    _ = ticks.tick() => {
                        self.flush().await;
                    }
                    changed = stop.changed() => if changed.is_err() {
                        break;
                    },
                }
            }
            self.flush().await;
        })
    }
}
