//! Trace events: the typed record of every decision, for audience counting and audit.
//!
//! Every decision point (ENT login, access granted or refused, assertion issued, a protocol
//! message refused) emits one [`TraceEvent`] through a [`TraceSink`]. This issue writes them
//! as JSON lines; the audience and audit pipeline implements the same trait later.
//!
//! Invariant: events carry pseudonymous ids only (trace subject, IDO), never a name, an ENT
//! user id, an IP address, an assertion or a token.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::clock::Clock;
use crate::domain::{AttributeName, IdEnt, Profile, ResourceId, Subscription, Uai};

pub use crate::domain::Channel;

/// One decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TraceEvent {
    /// An ENT authenticated a user and the gateway accepted it.
    EntLogin {
        ent: IdEnt,
        protocol: &'static str,
        subject: String,
    },
    /// A gateway session ended before its time: another person is at the browser
    /// (`replaced`), or the ENT, asked who is there, has nobody logged in (`no_ent_session`).
    SessionEnded {
        ent: IdEnt,
        /// The pseudonymous subject of the session's person.
        subject: String,
        reason: &'static str,
    },
    /// A provider was told (or could not be told, after its retries) that a session ended.
    LogoutSent {
        provider: String,
        /// `oidc`: the back-channel logout token; `cas`: the `logoutRequest`.
        protocol: &'static str,
        delivered: bool,
        attempts: u32,
    },
    /// A message from an ENT or a provider was refused by a protocol check.
    ProtocolRefused {
        /// `ent` or `provider`.
        peer_kind: &'static str,
        /// The ENT id or provider key, when it could be told.
        peer: Option<String>,
        protocol: &'static str,
        /// The check that failed, e.g. `saml.signature`, `saml.replay`.
        check: &'static str,
    },
    AccessGranted {
        ent: IdEnt,
        subject: String,
        uai: Uai,
        profile: Profile,
        resource: ResourceId,
        subscription: String,
        channel: Channel,
    },
    AccessRefused {
        ent: Option<IdEnt>,
        subject: Option<String>,
        uai: Option<Uai>,
        resource: Option<ResourceId>,
        reason: &'static str,
    },
    /// An assertion or a token was issued to a provider.
    CredentialIssued {
        protocol: &'static str,
        provider: String,
        resource: ResourceId,
        uai: Uai,
        profile: Profile,
        ent: IdEnt,
        /// The pseudonymous subject the provider received (its IDO).
        ido: String,
        /// Names of the released attributes, never their values.
        attributes: Vec<AttributeName>,
        channel: Channel,
    },
    /// A node started with a configuration: which keys sign, so that a key change is recorded.
    ConfigurationLoaded {
        /// SHA-256 of the gateway's signing certificate (SAML, and OIDC when no OIDC key is set).
        signing_certificate_sha256: String,
        /// The `kid` of every published OIDC key, the signing one first.
        oidc_kids: Vec<String>,
        ents: usize,
        providers: usize,
    },
    /// A partner's metadata changed its signing keys or endpoints (a refresh, or another
    /// node's copy taken from the store); in effect from the next request.
    PartnerMetadataChanged {
        /// `ent:<idENT>` or `provider:<key>`.
        partner: String,
        entity_id: String,
        /// SHA-256 fingerprints of the signing certificates before and after.
        old_keys: Vec<String>,
        new_keys: Vec<String>,
        /// `sso <url>`, `acs <url>`, `slo <binding> <url>`.
        old_endpoints: Vec<String>,
        new_endpoints: Vec<String>,
    },
    /// A partner's metadata refresh failed or its document was refused; the last good copy is
    /// kept.
    PartnerMetadataRefused { partner: String, reason: String },
    /// An auditor searched the audit log.
    AuditQuery {
        /// The auditor's configuration key.
        auditor: String,
        /// The criteria, as `name=value`.
        criteria: Vec<String>,
        results: usize,
    },
    /// A school's assignment manager assigned a subscription or withdrew an assignment.
    AssignmentChanged {
        /// The manager's pseudonymous subject.
        manager: String,
        /// `assign` or `withdraw`.
        action: &'static str,
        subscription: String,
        uai: Uai,
        /// `group:<code>`, or `person:<pseudonymous subject>`.
        target: String,
    },
    /// An operator bound a school to another ENT (`passerelle directory move-school`).
    SchoolMoved {
        uai: Uai,
        /// The ENT it was bound to, if any.
        from: Option<IdEnt>,
        /// The ENT it is bound to now.
        ent: IdEnt,
        /// Who decided it, as the operator gave it (`--by`).
        by: String,
    },
    /// A provider created, changed or deleted a subscription: who, what, before and after.
    SubscriptionChanged {
        /// The provider's configuration key.
        provider: String,
        /// `create`, `update` or `delete`.
        action: &'static str,
        subscription: String,
        before: Option<Box<Subscription>>,
        after: Option<Box<Subscription>>,
    },
}

impl TraceEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            TraceEvent::SubscriptionChanged { .. } => "subscription_changed",
            TraceEvent::SchoolMoved { .. } => "school_moved",
            TraceEvent::AssignmentChanged { .. } => "assignment_changed",
            TraceEvent::ConfigurationLoaded { .. } => "configuration_loaded",
            TraceEvent::AuditQuery { .. } => "audit_query",
            TraceEvent::PartnerMetadataChanged { .. } => "partner_metadata_changed",
            TraceEvent::PartnerMetadataRefused { .. } => "partner_metadata_refused",
            TraceEvent::EntLogin { .. } => "ent_login",
            TraceEvent::SessionEnded { .. } => "session_ended",
            TraceEvent::LogoutSent { .. } => "logout_sent",
            TraceEvent::ProtocolRefused { .. } => "protocol_refused",
            TraceEvent::AccessGranted { .. } => "access_granted",
            TraceEvent::AccessRefused { .. } => "access_refused",
            TraceEvent::CredentialIssued { .. } => "credential_issued",
        }
    }
}

/// A trace event with its time and the node that recorded it.
#[derive(Debug, Clone, Serialize)]
pub struct TraceRecord<'a> {
    pub at: DateTime<Utc>,
    pub node: &'a str,
    #[serde(flatten)]
    pub event: &'a TraceEvent,
}

/// Where trace events go.
pub trait TraceSink: Send + Sync {
    fn record(&self, at: DateTime<Utc>, event: TraceEvent);
}

/// Counts of decisions by kind, exposed at `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub ent_logins: AtomicU64,
    pub sessions_ended: AtomicU64,
    /// Back-channel logouts that no attempt delivered.
    pub logouts_undelivered: AtomicU64,
    pub access_granted: AtomicU64,
    pub access_refused: AtomicU64,
    pub protocol_refused: AtomicU64,
    pub credentials_issued: AtomicU64,
    pub subscription_changes: AtomicU64,
    pub assignment_changes: AtomicU64,
}

impl Metrics {
    fn count(&self, event: &TraceEvent) {
        let c = match event {
            TraceEvent::EntLogin { .. } => &self.ent_logins,
            TraceEvent::SessionEnded { .. } => &self.sessions_ended,
            TraceEvent::AccessGranted { .. } => &self.access_granted,
            TraceEvent::AccessRefused { .. } => &self.access_refused,
            TraceEvent::ProtocolRefused { .. } => &self.protocol_refused,
            TraceEvent::CredentialIssued { .. } => &self.credentials_issued,
            TraceEvent::SubscriptionChanged { .. } => &self.subscription_changes,
            TraceEvent::AssignmentChanged { .. } => &self.assignment_changes,
            TraceEvent::LogoutSent {
                delivered: false, ..
            } => &self.logouts_undelivered,
            TraceEvent::ConfigurationLoaded { .. }
            | TraceEvent::AuditQuery { .. }
            | TraceEvent::PartnerMetadataChanged { .. }
            | TraceEvent::PartnerMetadataRefused { .. }
            | TraceEvent::LogoutSent { .. }
            | TraceEvent::SchoolMoved { .. } => return,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Records decisions: each event stamped with the clock's time, counted, and sent to the sink.
#[derive(Clone)]
pub struct Tracer {
    sink: Arc<dyn TraceSink>,
    clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
}

impl Tracer {
    pub fn new(sink: Arc<dyn TraceSink>, clock: Arc<dyn Clock>) -> Self {
        Self {
            sink,
            clock,
            metrics: Arc::new(Metrics::default()),
        }
    }

    /// Records `event` at the current time and counts it.
    pub fn record(&self, event: TraceEvent) {
        self.metrics.count(&event);
        self.sink.record(self.clock.now(), event);
    }
}

/// Writes one JSON object per line to a file or to standard output.
pub struct JsonLinesSink {
    node: String,
    out: Mutex<Box<dyn Write + Send>>,
}

impl JsonLinesSink {
    /// `path` `-` means standard output; otherwise the file is created or appended to.
    pub fn open(path: &str, node: impl Into<String>) -> std::io::Result<Self> {
        let out: Box<dyn Write + Send> = if path == "-" {
            Box::new(std::io::stdout())
        } else {
            let p = PathBuf::from(path);
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            )
        };
        Ok(Self {
            node: node.into(),
            out: Mutex::new(out),
        })
    }
}

impl TraceSink for JsonLinesSink {
    fn record(&self, at: DateTime<Utc>, event: TraceEvent) {
        let record = TraceRecord {
            at,
            node: &self.node,
            event: &event,
        };
        let line = match serde_json::to_string(&record) {
            Ok(line) => line,
            Err(e) => {
                tracing::error!(error = %e, kind = event.kind(), "trace event could not be serialised");
                return;
            }
        };
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
            tracing::error!(error = %e, kind = event.kind(), "trace event could not be written: check the trace file's disk and permissions");
        }
    }
}

type Recorded = Vec<(DateTime<Utc>, TraceEvent)>;

/// Keeps events in memory, for tests and the demo.
#[derive(Clone, Default)]
pub struct MemorySink(Arc<Mutex<Recorded>>);

impl MemorySink {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn events(&self) -> Vec<TraceEvent> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(_, e)| e.clone())
            .collect()
    }

    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

impl TraceSink for MemorySink {
    fn record(&self, at: DateTime<Utc>, event: TraceEvent) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((at, event));
    }
}

/// Sends every event to several sinks.
pub struct FanOut(pub Vec<Arc<dyn TraceSink>>);

impl TraceSink for FanOut {
    fn record(&self, at: DateTime<Utc>, event: TraceEvent) {
        for sink in &self.0 {
            sink.record(at, event.clone());
        }
    }
}
