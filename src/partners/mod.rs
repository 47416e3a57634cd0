//! Partners' SAML metadata as a living source: each ENT identity provider's and each
//! provider's metadata read from a file (watched), a URL or an MDQ server ([`source`]),
//! trusted only after the XML boundary, its signature against the configured certificate, its
//! `validUntil` and its entityID (`saml::metadata::read_idp`/`read_sp`); refreshed when due
//! (`cacheDuration`/`validUntil` within `[metadata]` bounds), on an unknown signing key and on
//! an operator's command. Every accepted document is kept as the last good copy (in the store,
//! so that every node agrees, and on disk, for a start while the source is down); a refused or
//! failed refresh keeps serving it, counted and told in the health detail. The current peer is
//! a [`Live`] cell that the configuration's ENTs and providers share: a change applies at the
//! next request, traced (and so audited) with its old and new key fingerprints and endpoints.

pub mod source;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::saml::idp::ProviderSp;
use crate::saml::metadata::{self, Freshness, SloEndpoints, Trust};
use crate::saml::sp::EntIdp;
use crate::store::Store;
use crate::trace::{TraceEvent, Tracer};
pub use source::Source;
use source::{Fetched, Validators};

/// A value read by every request and replaced, whole, by a refresh or a reload. Clones share
/// the cell.
#[derive(Debug)]
pub struct Live<T>(Arc<RwLock<Arc<T>>>);

impl<T> Clone for Live<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Live<T> {
    pub fn new(value: T) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(value))))
    }

    /// The current value.
    pub fn get(&self) -> Arc<T> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A cell holding a value already shared.
    pub fn from_arc(value: Arc<T>) -> Self {
        Self(Arc::new(RwLock::new(value)))
    }

    pub fn set(&self, value: T) {
        self.set_arc(Arc::new(value));
    }

    /// Replaces the value with one already shared (another cell's current value).
    pub fn set_arc(&self, value: Arc<T>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = value;
    }
}

/// One partner's source and how far its documents are trusted (`[ents.<id>.saml]`,
/// `[providers.<key>.saml]`).
#[derive(Debug, Clone)]
pub struct MetadataSource {
    pub source: Source,
    /// The entityID the documents must carry (the configured one, else the first document's).
    pub entity_id: Option<String>,
    pub trust: Trust,
}

/// `[metadata]`: what every partner's refresh shares.
#[derive(Debug, Clone)]
pub struct MetadataSettings {
    /// Where last good copies are kept for a start while a source is down.
    pub cache_dir: Option<PathBuf>,
    /// No refresh sooner than this after the previous one (and no refresh on an unknown key
    /// more often).
    pub min_refresh: Duration,
    /// No longer than this between refreshes, whatever `cacheDuration` says.
    pub max_refresh: Duration,
    /// How often a node looks for another node's newer copy in the store, and at watched files.
    pub poll: Duration,
    pub max_bytes: usize,
    pub fetch_timeout: Duration,
}

impl Default for MetadataSettings {
    fn default() -> Self {
        Self {
            cache_dir: None,
            min_refresh: Duration::from_secs(300),
            max_refresh: Duration::from_secs(86_400),
            poll: Duration::from_secs(10),
            max_bytes: 2 * 1024 * 1024,
            fetch_timeout: Duration::from_secs(10),
        }
    }
}

/// The cell a partner's accepted documents replace.
#[derive(Debug, Clone)]
pub enum Cell {
    Idp(Live<EntIdp>),
    Sp {
        live: Live<ProviderSp>,
        /// `slo_soap_url` configured over the metadata's.
        slo_soap: Option<String>,
        /// `slo_redirect_url` configured over the metadata's.
        slo_redirect: Option<String>,
    },
}

/// A partner as the registry is given it.
pub struct PartnerSpec {
    /// `ent:<idENT>` or `provider:<key>`.
    pub key: String,
    pub source: MetadataSource,
    pub cell: Cell,
    /// The document the configuration was built from, and whether it was the disk copy.
    pub initial_xml: String,
    pub from_cache: bool,
}

/// A partner's refresh state, for scheduling and the health detail.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Status {
    pub digest: String,
    /// The document served.
    #[serde(skip)]
    xml: String,
    /// What it says of its freshness.
    #[serde(skip)]
    freshness: Freshness,
    #[serde(skip)]
    validators: Validators,
    pub next_due: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub valid_until: Option<DateTime<Utc>>,
    /// The copy served is not the source's latest (its last refresh failed).
    pub stale: bool,
    #[serde(skip)]
    last_unknown_key: Option<DateTime<Utc>>,
    #[serde(skip)]
    stored: bool,
}

pub struct Partner {
    pub key: String,
    pub source: MetadataSource,
    cell: Cell,
    status: Mutex<Status>,
    /// Refreshes refused or failed (`passerelle_metadata_refresh_failures_total`).
    pub failures: AtomicU64,
    /// One refresh at a time.
    busy: tokio::sync::Mutex<()>,
}

impl Status {
    /// Whether the copy served is past its `validUntil` at `now`: still served (a partner
    /// whose source is down keeps working), told in `/health/metadata` and `/metrics`.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.valid_until.is_some_and(|u| u <= now)
    }
}

impl Partner {
    pub fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn with_status<R>(&self, f: impl FnOnce(&mut Status) -> R) -> R {
        f(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn entity_id(&self) -> String {
        match &self.cell {
            Cell::Idp(l) => l.get().peer.entity_id.clone(),
            Cell::Sp { live, .. } => live.get().entity_id.clone(),
        }
    }

    /// The entityID a document must carry.
    fn expected(&self) -> String {
        self.source
            .entity_id
            .clone()
            .unwrap_or_else(|| self.entity_id())
    }

    /// Keys (SHA-256 fingerprints) and endpoints of the current peer.
    fn facts(&self) -> (Vec<String>, Vec<String>) {
        use crate::saml::keys::fingerprints;
        match &self.cell {
            Cell::Idp(l) => {
                let p = l.get();
                let mut ends = vec![format!("sso {}", p.peer.sso_redirect_url)];
                ends.extend(slo_facts(&p.peer.slo));
                (fingerprints(&p.peer.signing_certs), ends)
            }
            Cell::Sp { live, .. } => {
                let p = live.get();
                let mut ends: Vec<String> = p.acs_urls.iter().map(|u| format!("acs {u}")).collect();
                ends.extend(slo_facts(&p.slo));
                (fingerprints(&p.signing_certs), ends)
            }
        }
    }

    /// Reads `xml` under the partner's trust and, when it passes, makes it the current peer.
    /// Answers whether keys or endpoints changed, and what the document says of its freshness.
    fn apply(
        &self,
        xml: &str,
        now: DateTime<Utc>,
        tracer: &Tracer,
    ) -> Result<(bool, Freshness), String> {
        let expected = self.expected();
        let trust = &self.source.trust;
        let before = self.facts();
        let fresh = match &self.cell {
            Cell::Idp(live) => {
                let (peer, fresh) = metadata::read_idp(xml, trust, Some(&expected), Some(now))?;
                let current = live.get();
                live.set(EntIdp {
                    peer,
                    algorithms: current.algorithms.clone(),
                });
                fresh
            }
            Cell::Sp {
                live,
                slo_soap,
                slo_redirect,
            } => {
                let (sp, fresh) = metadata::read_sp(xml, trust, Some(&expected), Some(now))?;
                let current = live.get();
                live.set(ProviderSp {
                    entity_id: sp.entity_id,
                    acs_urls: sp.acs_urls,
                    signing_certs: sp.signing_certs,
                    algorithms: current.algorithms.clone(),
                    slo: SloEndpoints {
                        soap: slo_soap.clone().or(sp.slo.soap.clone()),
                        redirect: slo_redirect.clone().or(sp.slo.redirect.clone()),
                        ..sp.slo
                    },
                });
                fresh
            }
        };
        let after = self.facts();
        let changed = before != after;
        if changed {
            tracing::info!(partner = %self.key, entity = %expected, old_keys = ?before.0, new_keys = ?after.0, old_endpoints = ?before.1, new_endpoints = ?after.1, "partner metadata changed: keys or endpoints");
            tracer.record(TraceEvent::PartnerMetadataChanged {
                partner: self.key.clone(),
                entity_id: expected,
                old_keys: before.0,
                new_keys: after.0,
                old_endpoints: before.1,
                new_endpoints: after.1,
            });
        }
        self.with_status(|s| {
            s.digest = digest(xml);
            s.xml = xml.to_string();
            s.freshness = fresh.clone();
            s.valid_until = fresh.valid_until;
            s.last_success = Some(now);
            s.last_error = None;
            s.stale = false;
        });
        Ok((changed, fresh))
    }
}

fn slo_facts(slo: &SloEndpoints) -> Vec<String> {
    [
        ("slo redirect", &slo.redirect),
        ("slo post", &slo.post),
        ("slo soap", &slo.soap),
    ]
    .into_iter()
    .filter_map(|(n, u)| u.as_ref().map(|u| format!("{n} {u}")))
    .collect()
}

/// SHA-256 (hex) of a document.
pub fn digest(xml: &str) -> String {
    hex::encode(Sha256::digest(xml.as_bytes()))
}

/// The store's record kind of last good copies.
pub const STORE_KIND: &str = "metadata";
/// Last good copies outlive any partner's yearly rollover.
const STORE_TTL: Duration = Duration::from_secs(400 * 86_400);

/// Why a refresh was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Due,
    UnknownKey,
    Operator,
}

/// Every partner's metadata, its refreshes and last good copies.
pub struct Partners {
    partners: BTreeMap<String, Arc<Partner>>,
    settings: MetadataSettings,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    tracer: Tracer,
    http: reqwest::Client,
}

/// The disk file of a partner's last good copy.
pub fn cache_file(dir: &std::path::Path, key: &str) -> PathBuf {
    let name: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    dir.join(format!("{name}.xml"))
}

/// The document a partner starts on: its source's, else (the source down or refusing) the
/// last good copy on disk. `check` reads it under the partner's trust. Answers the document
/// and whether it is the disk copy.
pub async fn initial(
    key: &str,
    source: &MetadataSource,
    settings: &MetadataSettings,
    check: impl Fn(&str) -> Result<(), String>,
) -> Result<(String, bool), String> {
    let http = source::client(settings.fetch_timeout);
    let fetched = source::fetch(
        &http,
        &source.source,
        source.entity_id.as_deref(),
        &Validators::default(),
        settings.max_bytes,
    )
    .await
    .and_then(|f| match f {
        Fetched::Document { xml, .. } => Ok(xml),
        Fetched::NotModified => Err("the source answered 304 to an unconditional request".into()),
    })
    .and_then(|xml| check(&xml).map(|()| xml));
    let err = match fetched {
        Ok(xml) => return Ok((xml, false)),
        Err(e) => e,
    };
    let Some(dir) = &settings.cache_dir else {
        return Err(err);
    };
    let file = cache_file(dir, key);
    match std::fs::read_to_string(&file) {
        Ok(xml) => match check(&xml) {
            Ok(()) => {
                tracing::warn!(partner = key, error = %err, copy = %file.display(), "partner metadata source unavailable: starting on the last good copy");
                Ok((xml, true))
            }
            Err(e) => Err(format!(
                "{err}; and the last good copy {} is refused: {e}",
                file.display()
            )),
        },
        Err(_) => Err(format!(
            "{err} (and no last good copy in {})",
            dir.display()
        )),
    }
}

impl Partners {
    pub fn new(
        specs: Vec<PartnerSpec>,
        settings: MetadataSettings,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        tracer: Tracer,
    ) -> Self {
        let now = clock.now();
        let mut partners = BTreeMap::new();
        for spec in specs {
            let p = Partner {
                key: spec.key.clone(),
                source: spec.source,
                cell: spec.cell,
                status: Mutex::new(Status {
                    digest: digest(&spec.initial_xml),
                    xml: spec.initial_xml.clone(),
                    next_due: Some(now + chrono_of(settings.min_refresh)),
                    last_success: (!spec.from_cache).then_some(now),
                    stale: spec.from_cache,
                    ..Default::default()
                }),
                failures: AtomicU64::new(0),
                busy: tokio::sync::Mutex::new(()),
            };
            if !spec.from_cache {
                write_disk(&settings, &spec.key, &spec.initial_xml);
            }
            // The configuration read the document without a clock: its validUntil now.
            if let Err(e) = p.apply(&spec.initial_xml, now, &tracer) {
                tracing::warn!(partner = %p.key, error = %e, "the partner metadata the gateway starts on is refused (expired?): it is served until a refresh succeeds");
                p.with_status(|s| {
                    s.last_error = Some(e);
                    s.stale = true;
                });
            }
            if spec.from_cache {
                p.with_status(|s| {
                    s.stale = true;
                    s.last_success = None;
                });
            }
            partners.insert(spec.key, Arc::new(p));
        }
        let http = source::client(settings.fetch_timeout);
        Self {
            partners,
            settings,
            store,
            clock,
            tracer,
            http,
        }
    }

    pub fn settings(&self) -> &MetadataSettings {
        &self.settings
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<Partner>> {
        self.partners.values()
    }

    /// The partner named by its key (`ent:B0`, `provider:x`), its bare id or key, or its
    /// entityID.
    pub fn find(&self, name: &str) -> Option<&Arc<Partner>> {
        self.partners.get(name).or_else(|| {
            self.partners.values().find(|p| {
                p.key.split_once(':').is_some_and(|(_, k)| k == name) || p.entity_id() == name
            })
        })
    }

    /// Refreshes one partner from its source (when `reason` is `Due` or `Operator`, whatever
    /// its schedule). A failure keeps the last good copy, counted and logged.
    pub async fn refresh(&self, p: &Partner, reason: Reason) -> Result<bool, String> {
        let _one = p.busy.lock().await;
        let validators = match reason {
            Reason::Operator => Validators::default(),
            Reason::Due | Reason::UnknownKey => p.status().validators,
        };
        let expected = p.expected();
        let fetched = source::fetch(
            &self.http,
            &p.source.source,
            Some(&expected),
            &validators,
            self.settings.max_bytes,
        )
        .await;
        let now = self.clock.now();
        // `Some(healthy)`: the source answered with what is served (or a newer accepted
        // document); `None`: it answered "not modified", which says nothing of a document it
        // served before and that was refused.
        let outcome = match fetched {
            Ok(Fetched::NotModified) => Ok((false, None)),
            Ok(Fetched::Document { xml, validators }) => {
                // Kept even for a refused document: it is not fetched again until it changes
                // (or the operator asks), and the partner stays stale meanwhile.
                p.with_status(|s| s.validators = validators);
                if digest(&xml) == p.status().digest {
                    Ok((false, Some(())))
                } else {
                    match p.apply(&xml, now, &self.tracer) {
                        Ok((changed, _)) => {
                            self.keep(p, &xml, now).await;
                            Ok((changed, Some(())))
                        }
                        Err(e) => Err(e),
                    }
                }
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok((changed, healthy)) => {
                let next = self.next_refresh(Some(&p.status().freshness), now);
                p.with_status(|s| {
                    s.next_due = Some(next);
                    if healthy.is_some() {
                        s.last_success = Some(now);
                        s.last_error = None;
                        s.stale = false;
                    }
                });
                Ok(changed)
            }
            Err(e) => {
                self.failed(p, &e, now);
                Err(e)
            }
        }
    }

    fn failed(&self, p: &Partner, error: &str, now: DateTime<Utc>) {
        p.failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(partner = %p.key, source = %p.source.source.location(Some(&p.expected())), error, "partner metadata refresh failed: the last good copy is kept");
        self.tracer.record(TraceEvent::PartnerMetadataRefused {
            partner: p.key.clone(),
            reason: error.to_string(),
        });
        p.with_status(|s| {
            s.last_error = Some(error.to_string());
            s.stale = true;
            s.next_due = Some(now + chrono_of(self.settings.min_refresh));
        });
    }

    /// When the next refresh is due: `cacheDuration`, or sooner `validUntil`, within the
    /// configured bounds.
    fn next_refresh(&self, fresh: Option<&Freshness>, now: DateTime<Utc>) -> DateTime<Utc> {
        let (min, max) = (self.settings.min_refresh, self.settings.max_refresh);
        let mut wait = max;
        if let Some(f) = fresh {
            if let Some(c) = f.cache_duration {
                wait = wait.min(c);
            }
            if let Some(u) = f.valid_until {
                let left = (u - now).to_std().unwrap_or_default();
                wait = wait.min(left / 2);
            }
        }
        now + chrono_of(wait.clamp(min, max.max(min)))
    }

    /// Keeps an accepted document: in the store (every node picks it up), on disk (for a
    /// start while the source is down).
    async fn keep(&self, p: &Partner, xml: &str, now: DateTime<Utc>) {
        write_disk(&self.settings, &p.key, xml);
        let record = serde_json::json!({ "xml": xml, "digest": digest(xml), "at": now });
        match self
            .store
            .put_token(STORE_KIND, &p.key, &record, STORE_TTL)
            .await
        {
            Ok(()) => p.with_status(|s| s.stored = true),
            Err(e) => {
                tracing::warn!(partner = %p.key, error = %e, "partner metadata not kept in the store: other nodes keep their copy until their own refresh")
            }
        }
    }

    /// Takes another node's newer copy from the store, or puts this node's there when the
    /// store has none. Answers whether keys or endpoints changed.
    pub async fn sync(&self, p: &Partner) -> bool {
        let _one = p.busy.lock().await;
        let now = self.clock.now();
        let record = match self.store.get_token(STORE_KIND, &p.key).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(partner = %p.key, error = %e, "partner metadata: the store did not answer");
                return false;
            }
        };
        let ours = p.status().digest;
        let Some(record) = record else {
            if !p.status().stored {
                let xml = p.status().xml;
                self.keep(p, &xml, now).await;
            }
            return false;
        };
        let (Some(xml), Some(theirs)) = (record["xml"].as_str(), record["digest"].as_str()) else {
            return false;
        };
        if theirs == ours {
            p.with_status(|s| s.stored = true);
            return false;
        }
        match p.apply(xml, now, &self.tracer) {
            Ok((changed, fresh)) => {
                write_disk(&self.settings, &p.key, xml);
                let next = self.next_refresh(Some(&fresh), now);
                p.with_status(|s| {
                    s.stored = true;
                    s.next_due = Some(next);
                });
                changed
            }
            Err(e) => {
                tracing::warn!(partner = %p.key, error = %e, "the store's copy of a partner's metadata is refused: this node keeps its own");
                false
            }
        }
    }

    /// A message from `key` was signed by a key its metadata does not list: another node's
    /// newer copy is read from the store (one read, every time: a forged signature cannot
    /// keep a node from taking a key change), else the source is asked, at most once per
    /// `metadata.min_refresh_seconds`. Answers whether the peer's keys or endpoints changed
    /// (worth verifying again).
    pub async fn unknown_key(&self, key: &str) -> bool {
        let Some(p) = self.partners.get(key) else {
            return false;
        };
        if self.sync(p).await {
            return true;
        }
        let now = self.clock.now();
        let min = chrono_of(self.settings.min_refresh);
        let allowed = p.with_status(|s| {
            let ok = s.last_unknown_key.is_none_or(|t| now >= t + min);
            if ok {
                s.last_unknown_key = Some(now);
            }
            ok
        });
        if !allowed {
            return false;
        }
        self.refresh(p, Reason::UnknownKey).await.unwrap_or(false)
    }

    /// One round: every partner takes the store's newer copy; those due (or whose watched
    /// file changed) are refreshed.
    pub async fn tick(&self) {
        let now = self.clock.now();
        for p in self.partners.values() {
            self.sync(p).await;
            let due = p.status().next_due.is_none_or(|d| now >= d)
                || matches!(p.source.source, Source::File(_));
            if due {
                let _ = self.refresh(p, Reason::Due).await;
            }
        }
    }

    /// A request from `key` names an endpoint its metadata does not list (a provider's new
    /// ACS URL): another node may have taken a newer copy already, so the store's is read (one
    /// read, no source asked: an endpoint appears by a refresh, not by a request naming it).
    /// Answers whether the peer changed (worth checking the request again).
    pub async fn unknown_endpoint(&self, key: &str) -> bool {
        match self.partners.get(key) {
            Some(p) => self.sync(p).await,
            None => false,
        }
    }

    /// Refreshes until `shutdown`, one round every `metadata.poll_seconds`.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            self.tick().await;
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(self.settings.poll) => {}
            }
        }
    }

    /// Starts [`Partners::run`] in a task of its own, when there is any partner to refresh.
    pub fn spawn(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        if self.partners.is_empty() {
            return None;
        }
        Some(tokio::spawn(self.clone().run(std::future::pending())))
    }
}

fn write_disk(settings: &MetadataSettings, key: &str, xml: &str) {
    let Some(dir) = &settings.cache_dir else {
        return;
    };
    let file = cache_file(dir, key);
    let tmp = file.with_extension("xml.tmp");
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&tmp, xml))
        .and_then(|()| std::fs::rename(&tmp, &file));
    if let Err(e) = written {
        tracing::warn!(partner = key, file = %file.display(), error = %e, "the last good copy of a partner's metadata could not be written: check metadata.cache_dir");
    }
}

fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
