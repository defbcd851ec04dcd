//! The `ExchangeService` gRPC service.

use std::{collections::BTreeSet, pin::Pin, sync::Arc, time::Duration};

use futures::Stream;
use prost::Message;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use vawg_domain::{
    identity::{AgencyKind, CallerIdentity},
    pseudonym::Keyring,
};
use vawg_firewall::Firewall;
use vawg_policy::Flow;
use vawg_proto::{
    error::{IntoStatus, status},
    pb::{self, exchange_service_server::ExchangeService},
};
use vawg_store::{
    Store,
    exchange::{Acknowledged, KeyRegistration, Topic, Wakeup},
};

use crate::{
    Error, mask,
    scope::{in_scope, read_flow},
};

const RPC_SUBSCRIBE: &str = "/vawg.v1.ExchangeService/Subscribe";

/// Longest justification kept (it goes to the audit trail; it must not hold personal data).
const MAX_JUSTIFICATION: usize = 2000;

/// Tunables of the exchange.
#[derive(Clone, Debug)]
pub struct ExchangeSettings {
    /// How often an idle subscription re-reads the outbox even without a wake-up (the fallback
    /// that bounds the delay of a lost wake-up).
    pub poll_interval: Duration,
    /// Most records one `RequestRecords` returns.
    pub max_records: u32,
    /// Notifications read from the outbox per query.
    pub batch: u32,
}

impl Default for ExchangeSettings {
    fn default() -> Self {
        ExchangeSettings {
            poll_interval: Duration::from_millis(500),
            max_records: 500,
            batch: 100,
        }
    }
}

struct Inner {
    store: Store,
    firewall: Firewall,
    keyring: Arc<Keyring>,
    settings: ExchangeSettings,
    wakeups: broadcast::Sender<Wakeup>,
    shutdown: watch::Sender<bool>,
}

/// The `ExchangeService`. Cheap to clone. Needs the auth layer in front of it (it reads the
/// [`CallerIdentity`] the layer inserts).
#[derive(Clone)]
pub struct ExchangeApi {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ExchangeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeApi")
            .field("settings", &self.inner.settings)
            .finish()
    }
}

impl ExchangeApi {
    /// Builds the service and starts listening for notification wake-ups (on PostgreSQL, a
    /// `LISTEN` connection that lives until the store is closed).
    pub async fn new(
        store: Store,
        firewall: Firewall,
        keyring: Arc<Keyring>,
        settings: ExchangeSettings,
    ) -> Result<ExchangeApi, Error> {
        let wakeups = store.notification_wakeups().await?;
        let (shutdown, _) = watch::channel(false);
        Ok(ExchangeApi {
            inner: Arc::new(Inner {
                store,
                firewall,
                keyring,
                settings,
                wakeups,
                shutdown,
            }),
        })
    }

    /// Ends every open subscription (each client sees `UNAVAILABLE` and reconnects elsewhere or
    /// later, resuming after its last acknowledged sequence). Call when the server starts its
    /// graceful shutdown, which otherwise waits for these streams for ever.
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }
}

fn caller<T>(request: &Request<T>) -> Result<CallerIdentity, Error> {
    request
        .extensions()
        .get::<CallerIdentity>()
        .cloned()
        .ok_or(Error::Unauthenticated)
}

fn short(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_string()
}

fn topic_of(value: i32) -> Result<Topic, Error> {
    pb::Topic::try_from(value)
        .ok()
        .and_then(Topic::from_pb)
        .ok_or_else(|| {
            Error::InvalidArgument("topic: required (ENCOMPASS, MARAC or SUPPORT_REFERRAL)".into())
        })
}

/// Who receives a topic, the purpose receiving it serves, and the event kind behind it.
fn topic_rule(topic: Topic) -> (AgencyKind, pb::Purpose, pb::EventKind) {
    match topic {
        Topic::Encompass => (
            AgencyKind::School,
            pb::Purpose::Safeguarding,
            pb::EventKind::EncompassNotification,
        ),
        Topic::Marac => (
            AgencyKind::Marac,
            pb::Purpose::MaracRiskAssessment,
            pb::EventKind::MaracReferral,
        ),
        Topic::SupportReferral => (
            AgencyKind::SupportService,
            pb::Purpose::VictimSupport,
            pb::EventKind::SupportReferral,
        ),
    }
}

fn plain_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A `RequestRecords` request that passed its checks: what is asked, and the subject's
/// pseudonyms under every key of the ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedRequest {
    /// The declared purpose.
    pub purpose: pb::Purpose,
    /// The declared lawful basis.
    pub lawful_basis: pb::LawfulBasis,
    /// The event kinds asked for (empty: all).
    pub kinds: BTreeSet<pb::EventKind>,
    /// The subject's pseudonyms, primary key first (never the raw identifiers).
    pub pseudonyms: Vec<String>,
    /// The justification as audited (checked by `vawg_firewall::caller_text`).
    pub justification: String,
}

/// Checks a `RequestRecords` request from `agency_id` without touching the store: enums,
/// event kinds, the justification, and a subject with enough identifiers to pseudonymise
/// (under every key of `keyring`, so records pseudonymised before a rotation are found).
/// Pure, so the fuzz target runs it on arbitrary decoded requests.
pub fn check_request(
    req: &pb::RequestRecordsRequest,
    keyring: &Keyring,
    agency_id: &str,
) -> Result<CheckedRequest, Error> {
    let purpose = pb::Purpose::try_from(req.purpose)
        .map_err(|_| Error::InvalidArgument("purpose: unknown value".into()))?;
    let lawful_basis = pb::LawfulBasis::try_from(req.lawful_basis)
        .map_err(|_| Error::InvalidArgument("lawful_basis: unknown value".into()))?;
    let mut kinds = BTreeSet::new();
    for (i, k) in req.event_kinds.iter().enumerate() {
        match pb::EventKind::try_from(*k) {
            Ok(pb::EventKind::Unspecified) | Err(_) => {
                return Err(Error::InvalidArgument(format!(
                    "event_kinds[{i}]: not an event kind"
                )));
            }
            Ok(k) => {
                kinds.insert(k);
            }
        }
    }
    if req.justification.len() > MAX_JUSTIFICATION {
        return Err(Error::InvalidArgument(format!(
            "justification: longer than {MAX_JUSTIFICATION} bytes"
        )));
    }
    let subject = req
        .subject
        .as_ref()
        .ok_or_else(|| Error::InvalidArgument("subject: required".into()))?;
    // Kept in the audit log: bounded, and none of the subject's identifiers in it.
    let named = [
        subject.given_name.as_str(),
        &subject.family_name,
        &subject.nhs_number,
        &subject.pnc_id,
        &subject.local_person_id,
    ];
    let justification = vawg_firewall::caller_text::check(&req.justification, &named)
        .map_err(|why| Error::InvalidArgument(format!("justification: {why}")))?;
    let pseudonyms: Vec<String> = keyring
        .person_all(subject, agency_id)
        .into_iter()
        .map(|p| p.value)
        .collect();
    if pseudonyms.is_empty() {
        return Err(Error::InvalidArgument(
            "subject: needs name and date of birth, an NHS number, a PNC id or a local \
             person id"
                .into(),
        ));
    }
    Ok(CheckedRequest {
        purpose,
        lawful_basis,
        kinds,
        pseudonyms,
        justification,
    })
}

impl Inner {
    async fn request_records(
        &self,
        caller: CallerIdentity,
        req: pb::RequestRecordsRequest,
    ) -> Result<pb::RequestRecordsResponse, Error> {
        let CheckedRequest {
            purpose,
            lawful_basis,
            kinds,
            pseudonyms,
            justification,
        } = check_request(&req, &self.keyring, &caller.agency_id)?;
        let kind_names: Vec<String> = kinds
            .iter()
            .map(|k| short(k.as_str_name(), "EVENT_KIND_"))
            .collect();
        let found = self
            .store
            .records_about(&pseudonyms, &kind_names, self.settings.max_records)
            .await?;
        let mut found = in_scope(&caller, purpose, found);
        let request = (purpose, lawful_basis, &kinds);
        let mut flow = read_flow(request, &found);
        let (mut decision, mut receipt) = self
            .firewall
            .decide_and_audit_justified(&caller, &flow, &pseudonyms, &justification)
            .await?;
        if flow.police_personnel && !decision.allowed && decision.hard_rule {
            // The refusal is audited above, naming the hard rule; the labelled records are
            // withheld and the rest is decided (and audited) on its own.
            found.retain(|r| !mask::police_personnel(r));
            flow = read_flow(request, &found);
            (decision, receipt) = self
                .firewall
                .decide_and_audit_justified(&caller, &flow, &pseudonyms, &justification)
                .await?;
        }
        tracing::info!(
            agency = %caller.agency_id,
            purpose = purpose.as_str_name(),
            allowed = decision.allowed,
            hard_rule = decision.hard_rule,
            records = if decision.allowed { found.len() } else { 0 },
            "records requested"
        );
        let records = if decision.allowed {
            found
                .iter()
                .map(|r| mask::minimise(mask::full_record(r), &decision.released_fields))
                .collect()
        } else {
            Vec::new()
        };
        Ok(pb::RequestRecordsResponse {
            decision: Some(decision.to_pb()),
            records,
            audit_receipt: Some(receipt),
        })
    }

    /// Decides (and audits) whether `caller` may receive `topic`, and where to start. A police
    /// caller's subscription is decided as one that may carry records labelled
    /// `suspect_is_police_personnel` (a stream cannot be vetted before it is read): fail closed.
    async fn open_subscription(
        &self,
        caller: &CallerIdentity,
        req: &pb::SubscribeRequest,
    ) -> Result<(Topic, u64), Error> {
        let topic = topic_of(req.topic)?;
        let (recipient_kind, purpose, kind) = topic_rule(topic);
        let mut flow = Flow::new(pb::Action::ReceiveNotifications, purpose, RPC_SUBSCRIBE);
        flow.lawful_basis = pb::LawfulBasis::PublicTaskSafeguarding;
        flow.event_kinds = vec![kind];
        flow.police_personnel = caller.agency_kind == AgencyKind::Police;
        let (decision, _) = self.firewall.decide_and_audit(caller, &flow, &[]).await?;
        decision
            .require_allowed()
            .map_err(vawg_firewall::Error::from)?;
        if caller.agency_kind != recipient_kind {
            return Err(Error::PermissionDenied(format!(
                "topic {} is delivered to {} agencies only",
                topic.as_str(),
                recipient_kind
            )));
        }
        let start = if req.after_sequence > 0 {
            req.after_sequence
        } else {
            self.store.acknowledged(&caller.agency_id, topic).await?
        };
        Ok((topic, start))
    }

    /// Streams the outbox of (`agency_id`, `topic`) after `last` until the client goes away or
    /// the hub shuts down.
    async fn deliver(
        self: Arc<Self>,
        agency_id: String,
        topic: Topic,
        mut last: u64,
        tx: mpsc::Sender<Result<pb::SubscribeResponse, Status>>,
    ) {
        // Subscribe to wake-ups before the first read, so nothing committed after it is missed.
        let mut wakeups = self.wakeups.subscribe();
        let mut shutdown = self.shutdown.subscribe();
        loop {
            if *shutdown.borrow_and_update() {
                let _ = tx.try_send(Err(status(&Error::ShuttingDown)));
                return;
            }
            match self.drain(&agency_id, topic, &mut last, &tx).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    let _ = tx.send(Err(status(&e))).await;
                    return;
                }
            }
            tokio::select! {
                () = tx.closed() => return,
                _ = shutdown.changed() => {}
                () = wait_for(&mut wakeups, &agency_id, topic) => {}
                () = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
    }

    /// Sends everything after `last`; `Ok(false)` when the client went away.
    async fn drain(
        &self,
        agency_id: &str,
        topic: Topic,
        last: &mut u64,
        tx: &mpsc::Sender<Result<pb::SubscribeResponse, Status>>,
    ) -> Result<bool, Error> {
        loop {
            let batch = self
                .store
                .notifications_after(agency_id, topic, *last, self.settings.batch)
                .await?;
            if batch.is_empty() {
                return Ok(true);
            }
            for n in batch {
                let notification =
                    pb::Notification::decode(n.content.as_slice()).map_err(|_| Error::Corrupt)?;
                let message = pb::SubscribeResponse {
                    notification: Some(notification),
                };
                if tx.send(Ok(message)).await.is_err() {
                    return Ok(false);
                }
                *last = n.sequence;
            }
        }
    }
}

/// Returns at the next wake-up that concerns (`agency_id`, `topic`), or when wake-ups may have
/// been missed (lagging). Never returns if the broadcast closed: the poll fallback takes over.
async fn wait_for(wakeups: &mut broadcast::Receiver<Wakeup>, agency_id: &str, topic: Topic) {
    loop {
        match wakeups.recv().await {
            Ok(w) if w.concerns(agency_id, topic) => return,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => return,
            Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

impl Inner {
    /// Records that the caller has received `topic` up to `req.sequence`.
    async fn acknowledge(
        &self,
        caller: &CallerIdentity,
        req: pb::AcknowledgeRequest,
    ) -> Result<pb::AcknowledgeResponse, Error> {
        let topic = topic_of(req.topic)?;
        match self
            .store
            .acknowledge(&caller.agency_id, topic, req.sequence)
            .await?
        {
            Acknowledged::Upto(v) => Ok(pb::AcknowledgeResponse {
                acknowledged_sequence: v,
            }),
            Acknowledged::BeyondLast { last } => Err(Error::InvalidArgument(format!(
                "sequence: {} is beyond the last notification ({last})",
                req.sequence
            ))),
        }
    }

    /// Registers the caller's public sealing key under a key id not yet taken by another key.
    async fn register_sealing_key(
        &self,
        caller: &CallerIdentity,
        req: pb::RegisterSealingKeyRequest,
    ) -> Result<pb::RegisterSealingKeyResponse, Error> {
        if !plain_id(&req.key_id) {
            return Err(Error::InvalidArgument(
                "key_id: required; letters, digits, '-', '_' and '.', at most 128".into(),
            ));
        }
        vawg_seal::check_public_key(&req.public_key)
            .map_err(|_| Error::InvalidArgument("public_key: must be 32 bytes (X25519)".into()))?;
        match self
            .store
            .register_sealing_key(&caller.agency_id, &req.key_id, &req.public_key)
            .await?
        {
            KeyRegistration::Current => {
                tracing::info!(agency = %caller.agency_id, key_id = %req.key_id, "sealing key registered");
                Ok(pb::RegisterSealingKeyResponse { key_id: req.key_id })
            }
            KeyRegistration::KeyIdTaken => Err(Error::AlreadyExists(format!(
                "key_id: '{}' is already registered with another key",
                req.key_id
            ))),
        }
    }

    /// An agency's current public sealing key.
    async fn sealing_key(
        &self,
        req: pb::GetSealingKeyRequest,
    ) -> Result<pb::GetSealingKeyResponse, Error> {
        if !plain_id(&req.agency_id) {
            return Err(Error::InvalidArgument("agency_id: required".into()));
        }
        let key = self
            .store
            .sealing_key(&req.agency_id)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "agency '{}' has registered no sealing key",
                    req.agency_id
                ))
            })?;
        Ok(pb::GetSealingKeyResponse {
            agency_id: req.agency_id,
            key_id: key.key_id,
            public_key: key.public_key,
            suite: vawg_seal::SUITE.to_string(),
        })
    }
}

type SubscribeStream = Pin<Box<dyn Stream<Item = Result<pb::SubscribeResponse, Status>> + Send>>;

/// The gRPC methods: each error reaches the client through [`vawg_proto::error::status`].
#[tonic::async_trait]
impl ExchangeService for ExchangeApi {
    async fn request_records(
        &self,
        request: Request<pb::RequestRecordsRequest>,
    ) -> Result<Response<pb::RequestRecordsResponse>, Status> {
        let caller = caller(&request).into_status()?;
        let response = self
            .inner
            .request_records(caller, request.into_inner())
            .await
            .into_status()?;
        Ok(Response::new(response))
    }

    type SubscribeStream = SubscribeStream;

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let caller = caller(&request).into_status()?;
        let req = request.into_inner();
        let (topic, start) = self
            .inner
            .open_subscription(&caller, &req)
            .await
            .into_status()?;
        tracing::info!(agency = %caller.agency_id, topic = topic.as_str(), after = start, "subscribed");
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(
            self.inner
                .clone()
                .deliver(caller.agency_id, topic, start, tx),
        );
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn acknowledge(
        &self,
        request: Request<pb::AcknowledgeRequest>,
    ) -> Result<Response<pb::AcknowledgeResponse>, Status> {
        let caller = caller(&request).into_status()?;
        let response = self
            .inner
            .acknowledge(&caller, request.into_inner())
            .await
            .into_status()?;
        Ok(Response::new(response))
    }

    async fn register_sealing_key(
        &self,
        request: Request<pb::RegisterSealingKeyRequest>,
    ) -> Result<Response<pb::RegisterSealingKeyResponse>, Status> {
        let caller = caller(&request).into_status()?;
        let response = self
            .inner
            .register_sealing_key(&caller, request.into_inner())
            .await
            .into_status()?;
        Ok(Response::new(response))
    }

    async fn get_sealing_key(
        &self,
        request: Request<pb::GetSealingKeyRequest>,
    ) -> Result<Response<pb::GetSealingKeyResponse>, Status> {
        caller(&request).into_status()?;
        let response = self
            .inner
            .sealing_key(request.into_inner())
            .await
            .into_status()?;
        Ok(Response::new(response))
    }
}
