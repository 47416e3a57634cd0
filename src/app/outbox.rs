//! Back-channel logouts that survive the node that started them. When a session ends, each
//! party to tell (an OIDC client with a `backchannel_logout_uri`, a CAS service, a SAML
//! provider with a SOAP `SingleLogoutService`) becomes one record of the store's outbox
//! (`store::outbox`), written before the first attempt: who to tell and by which handle
//! (client_id and sid, NameID and SessionIndex, the CAS ticket), never a signed message; the
//! message is built and signed at each attempt. The node that ended the session holds the
//! record and sends at once; the attempts are at once, after 1 s and after 4 s, and the
//! outcome is traced (`LogoutSent`). Between attempts the record says when the next one is
//! due, held for a lease beyond it: a node that stops (crash, deploy) gives its deliveries back
//! when their leases end, and the outbox worker of any node ([`Backchannels::spawn`]) claims
//! and sends them from there, on the same schedule. Every change to a record names the lease
//! it was claimed under, so a node that lost its lease sends nothing more.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::config::Config;
use crate::session::{CasParty, RelyingParty, SamlParty, Session};
use crate::store::{Claimed, Store};
use crate::trace::{TraceEvent, Tracer};

/// How long a claim holds a delivery beyond the time its next attempt is due: longer than an
/// attempt takes (the HTTP client gives up after 5 s).
pub const LEASE: Duration = Duration::from_secs(15);
/// How often each node's worker looks for deliveries whose holder's lease ended.
pub const POLL: Duration = Duration::from_millis(500);
/// How many deliveries a worker claims at each look.
const BATCH: usize = 32;
/// How long a record is kept whatever becomes of it (three attempts take about 5 s).
const TTL: Duration = Duration::from_secs(3600);
/// Attempts per delivery, and the waits before the second and the third.
const ATTEMPTS: u32 = 3;
const WAITS: [u64; 2] = [1, 4];

/// Who a delivery tells, by the handle it got in the session.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "protocol", rename_all = "lowercase")]
enum Party {
    Oidc(RelyingParty),
    Saml(SamlParty),
    Cas(CasParty),
}

impl Party {
    fn provider(&self) -> &str {
        match self {
            Party::Oidc(p) => &p.provider,
            Party::Saml(p) => &p.provider,
            Party::Cas(p) => &p.provider,
        }
    }

    fn protocol(&self) -> &'static str {
        match self {
            Party::Oidc(_) => "oidc",
            Party::Saml(_) => "saml",
            Party::Cas(_) => "cas",
        }
    }
}

/// An outbox record: the party, and the attempts made so far.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Delivery {
    party: Party,
    attempts: u32,
}

/// Tells the OIDC clients, SAML providers and CAS services of an ended session that it ended,
/// each delivery in a task of its own (one that does not answer holds up nobody), through the
/// store's outbox.
pub struct Backchannels {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    tracer: Tracer,
    clock: Arc<dyn Clock>,
    issuer: String,
    http: reqwest::Client,
    /// Set when this node stops sending (`stop`): its deliveries wait in the store for
    /// another node.
    stopped: tokio::sync::watch::Sender<bool>,
}

impl Backchannels {
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        tracer: Tracer,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            issuer: config.oidc_issuer(),
            config,
            store,
            tracer,
            clock,
            http: crate::outbound::client(Duration::from_secs(5)),
            stopped: tokio::sync::watch::channel(false).0,
        }
    }

    /// This node's outbox worker: every [`POLL`], claims the deliveries whose holder's lease
    /// ended (a node that stopped) and sends them, until [`Backchannels::stop`].
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        let mut stopped = self.stopped.subscribe();
        tokio::spawn(async move {
            let mut failing = false;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stopped.wait_for(|s| *s) => return,
                }
                match this
                    .store
                    .outbox_claim_due(this.clock.now(), LEASE, BATCH)
                    .await
                {
                    Ok(claimed) => {
                        failing = false;
                        for c in claimed {
                            this.start(c);
                        }
                    }
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "the logout outbox cannot be read: deliveries other nodes left wait until the store answers");
                    }
                    Err(_) => {}
                }
            }
        })
    }

    /// Stops this node's sending, as if it died: its worker and its deliveries stop where they
    /// are, their records wait in the store for another node (tests; a node's shutdown).
    pub fn stop(&self) {
        self.stopped.send_replace(true);
    }

    /// Sends a claimed delivery in a task of its own.
    fn start(self: &Arc<Self>, claimed: Claimed) {
        let this = self.clone();
        let mut stopped = self.stopped.subscribe();
        if *stopped.borrow() {
            return;
        }
        tokio::spawn(async move {
            tokio::select! {
                biased;
                _ = stopped.wait_for(|s| *s) => {}
                _ = this.run(claimed) => {}
            }
        });
    }

    /// Queues one record per party to tell, then sends each at once.
    async fn queue(self: &Arc<Self>, session: &Session) {
        let parties = session
            .relying_parties
            .iter()
            .filter(|rp| {
                self.config
                    .oidc_client(&rp.client_id)
                    .is_some_and(|(_, c)| c.backchannel_logout_uri.is_some())
            })
            .map(|rp| Party::Oidc(rp.clone()))
            .chain(
                session
                    .saml_parties
                    .iter()
                    .filter(|p| self.saml_endpoint(&p.provider).is_some())
                    .map(|p| Party::Saml(p.clone())),
            )
            .chain(session.cas_services.iter().map(|p| Party::Cas(p.clone())));
        for party in parties {
            let id = uuid::Uuid::new_v4().simple().to_string();
            let delivery = Delivery { party, attempts: 0 };
            let value = serde_json::to_string(&delivery).unwrap_or_default();
            let now = self.clock.now();
            let held = now + lease(Duration::ZERO);
            let held = match self.store.outbox_put(&id, &value, held, now, TTL).await {
                Ok(()) => Some(held),
                Err(e) => {
                    tracing::warn!(provider = delivery.party.provider(), error = %e, "back-channel logout not queued in the store: this node alone sends it");
                    None
                }
            };
            let this = self.clone();
            let mut stopped = self.stopped.subscribe();
            if *stopped.borrow() {
                continue;
            }
            tokio::spawn(async move {
                tokio::select! {
                    biased;
                    _ = stopped.wait_for(|s| *s) => {}
                    _ = this.deliver(id, delivery, held) => {}
                }
            });
        }
    }

    async fn run(&self, claimed: Claimed) {
        match serde_json::from_str::<Delivery>(&claimed.value) {
            Ok(d) => self.deliver(claimed.id, d, Some(claimed.held)).await,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable logout outbox record dropped");
                let _ = self.store.outbox_done(&claimed.id, claimed.held).await;
            }
        }
    }

    /// Makes the attempts left of `d`, holding its record until `held` (`None`: the store did
    /// not answer, this node goes on alone), then traces the outcome and removes the record.
    /// Stops without a word when another node took the record over.
    async fn deliver(
        &self,
        id: String,
        mut d: Delivery,
        mut held: Option<chrono::DateTime<chrono::Utc>>,
    ) {
        let (provider, protocol) = (d.party.provider().to_string(), d.party.protocol());
        let delivered = loop {
            d.attempts += 1;
            match self.send(&d.party).await {
                Ok(()) => break true,
                Err(e) if d.attempts >= ATTEMPTS => {
                    tracing::warn!(%provider, protocol, error = %e, "back-channel logout not delivered after 3 attempts: check the provider's logout URL (OIDC backchannel_logout_uri, CAS logout_url, SAML SingleLogoutService)");
                    break false;
                }
                Err(_) => {
                    let wait = Duration::from_secs(WAITS[(d.attempts as usize - 1).min(1)]);
                    // The next attempt is due after `wait`; held a lease beyond it.
                    if !self.hold(&id, &d, &mut held, lease(wait)).await {
                        return;
                    }
                    tokio::time::sleep(wait).await;
                    // Still ours? Held a lease more for the attempt.
                    if !self.hold(&id, &d, &mut held, lease(Duration::ZERO)).await {
                        return;
                    }
                }
            }
        };
        if let Some(h) = held {
            if let Err(e) = self.store.outbox_done(&id, h).await {
                tracing::warn!(%provider, error = %e, "back-channel logout sent but its outbox record not removed: it goes when its TTL ends");
            }
        }
        self.tracer.record(TraceEvent::LogoutSent {
            provider,
            protocol,
            delivered,
            attempts: d.attempts,
        });
    }

    /// Moves the record to `d` held until now + `ahead`; `false` when it is no longer this
    /// node's. A store that does not answer leaves this node going on alone.
    async fn hold(
        &self,
        id: &str,
        d: &Delivery,
        held: &mut Option<chrono::DateTime<chrono::Utc>>,
        ahead: chrono::Duration,
    ) -> bool {
        let Some(h) = *held else {
            return true;
        };
        let until = self.clock.now() + ahead;
        let value = serde_json::to_string(d).unwrap_or_default();
        match self.store.outbox_retry(id, h, &value, until).await {
            Ok(true) => {
                *held = Some(until);
                true
            }
            Ok(false) => false,
            Err(e) => {
                tracing::warn!(provider = d.party.provider(), error = %e, "back-channel logout's outbox record not updated: this node goes on alone");
                *held = None;
                true
            }
        }
    }

    /// The SAML provider's entity id and SOAP logout URL, when it has one.
    fn saml_endpoint(&self, provider: &str) -> Option<(String, String)> {
        let sp = self.config.providers.get(provider)?.sp()?;
        Some((sp.entity_id.clone(), sp.slo.soap.clone()?))
    }

    /// One attempt: builds (and signs) the party's logout message now, and sends it.
    async fn send(&self, party: &Party) -> Result<(), String> {
        let now = self.clock.now();
        match party {
            Party::Oidc(rp) => {
                let uri = self
                    .config
                    .oidc_client(&rp.client_id)
                    .and_then(|(_, c)| c.backchannel_logout_uri.clone())
                    .ok_or("the client has no backchannel_logout_uri any more")?;
                let token = crate::oidc::op::backchannel::logout_token(
                    &self.config.oidc.keys,
                    &self.issuer,
                    &rp.client_id,
                    &rp.sid,
                    now,
                )
                .map_err(|e| format!("not signed: {}", e.description))?;
                crate::oidc::op::backchannel::post(&self.http, &uri, &token).await
            }
            Party::Saml(p) => {
                let (sp, url) = self
                    .saml_endpoint(&p.provider)
                    .ok_or("the provider has no SOAP SingleLogoutService any more")?;
                let issuer = self.config.url("/idp/metadata");
                let named = crate::saml::slo_out::Named {
                    issuer: &issuer,
                    sp: &sp,
                    name_id: &p.name_id,
                    session_index: &p.session_index,
                };
                let body = crate::saml::slo_out::soap_request(
                    named,
                    &url,
                    &self.config.signing_key.get(),
                    now,
                )
                .map_err(|e| format!("not signed: {e}"))?;
                let max = self.config.saml.max_message_bytes;
                crate::saml::slo_out::post(&self.http, &url, body, max).await
            }
            Party::Cas(p) => {
                crate::cas::logout::post(&self.http, &p.logout_url, &p.ticket, now).await
            }
        }
    }
}

/// `wait` and a lease beyond it.
fn lease(wait: Duration) -> chrono::Duration {
    chrono::Duration::from_std(wait + LEASE).unwrap_or(chrono::Duration::MAX)
}

/// The session's end, for the flows: queued, and sent without waiting for the parties.
#[async_trait::async_trait]
impl crate::flow::logout::Farewells for Arc<Backchannels> {
    async fn ended(&self, session: &Session) {
        self.queue(session).await;
    }
}
