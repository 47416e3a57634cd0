//! The optional Matomo forwarder: reads the audience stream as the `matomo` consumer group and
//! sends the events to a Matomo site through its bulk tracking API (`POST matomo.php` with
//! `{"requests": [...], "token_auth": ...}`), in chronological order, with the DNMA dimensions
//! as custom dimensions and the event time as `cdt`. A batch is acknowledged only once Matomo
//! accepted it; a failed batch is retried, unchanged, with exponential backoff, so an outage
//! loses nothing and sends nothing twice. (If Matomo recorded a batch but its answer was lost,
//! the retry is a duplicate Matomo cannot tell apart; events appended twice to the stream are
//! skipped by id.)

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use super::metrics::AudienceMetrics;
use super::MatomoSettings;
use crate::backoff::Backoff;
use crate::domain::audience_event::{dnma_profile, AudienceEvent, DNMA_TYPE};
use crate::store::{Delivered, Store, StoreError};

/// The consumer group of the forwarder.
pub const MATOMO_GROUP: &str = "matomo";

/// How many recently sent event ids are remembered to skip stream duplicates.
const RECENT: usize = 100_000;

/// Why a batch was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("matomo did not accept the batch: {0}")]
    Matomo(String),
}

/// The value of a DNMA dimension for an event.
fn dimension(e: &AudienceEvent, name: &str) -> Option<String> {
    Some(match name {
        "SERVICE" => e.service.clone(),
        "TYPE" => DNMA_TYPE.to_string(),
        "OUTIL" => e.outil.clone(),
        "UAI" => e.uai.clone(),
        "PROJET" => e.ent.clone(),
        "PROFIL" => dnma_profile(e.gar_profile()?).to_string(),
        "CANAL" => match e.channel {
            crate::trace::Channel::Web => "web".into(),
            crate::trace::Channel::App => "app".into(),
        },
        "TERMINAL" => e.device.code().to_string(),
        "RESSOURCE" => e.resource.clone(),
        _ => return None,
    })
}

/// One bulk-tracking request line for an event.
pub fn request_line(e: &AudienceEvent, s: &MatomoSettings, gateway_url: &str) -> String {
    let enc = |v: &str| urlencoding::encode(v).into_owned();
    let visitor: String = e.visitor.chars().take(16).collect();
    let mut line = format!(
        "?idsite={}&rec=1&apiv=1&send_image=0&action_name={}&url={}&_id={visitor}&cid={visitor}&cdt={}",
        s.site_id,
        enc(&e.outil),
        enc(&format!("{gateway_url}/domaineGar?idRessource={}", e.resource)),
        e.at.timestamp(),
    );
    for (name, index) in &s.dimensions {
        if let Some(v) = dimension(e, name) {
            line.push_str(&format!("&dimension{index}={}", enc(&v)));
        }
    }
    line
}

/// The forwarder of one node.
pub struct Forwarder {
    settings: MatomoSettings,
    gateway_url: String,
    node: String,
    client: reqwest::Client,
    recent: Mutex<(VecDeque<String>, HashSet<String>)>,
}

impl Forwarder {
    pub fn new(settings: MatomoSettings, gateway_url: String, node: String) -> Self {
        // No proxy from the environment either: the operator names Matomo's URL.
        let client = crate::outbound::client(std::time::Duration::from_secs(30));
        Self {
            settings,
            gateway_url,
            node,
            client,
            recent: Mutex::new((VecDeque::new(), HashSet::new())),
        }
    }

    fn fresh(&self, batch: &[Delivered]) -> Vec<AudienceEvent> {
        let r = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let mut events: Vec<AudienceEvent> = batch
            .iter()
            .filter_map(|d| serde_json::from_str::<AudienceEvent>(&d.event).ok())
            .filter(|e| !r.1.contains(&e.id))
            .collect();
        events.sort_by_key(|e| e.t);
        events.dedup_by(|a, b| a.id == b.id);
        events
    }

    fn remember(&self, events: &[AudienceEvent]) {
        let mut r = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        for e in events {
            if r.1.insert(e.id.clone()) {
                r.0.push_back(e.id.clone());
            }
        }
        while r.0.len() > RECENT {
            if let Some(old) = r.0.pop_front() {
                r.1.remove(&old);
            }
        }
    }

    /// Sends one batch of events to Matomo.
    pub async fn send(&self, events: &[AudienceEvent]) -> Result<(), ForwardError> {
        if events.is_empty() {
            return Ok(());
        }
        let requests: Vec<String> = events
            .iter()
            .map(|e| request_line(e, &self.settings, &self.gateway_url))
            .collect();
        let body = serde_json::json!({
            "requests": requests,
            "token_auth": self.settings.token_auth.expose(),
        });
        let resp = self
            .client
            .post(self.settings.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| ForwardError::Matomo(format!("request failed: {}", e.without_url())))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(ForwardError::Matomo(format!("HTTP {status}")));
        }
        // Matomo answers {"status":"success","tracked":N,...}; an error status is a refusal.
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
            if v.get("status").and_then(|s| s.as_str()) == Some("error") {
                return Err(ForwardError::Matomo("status error in the answer".into()));
            }
        }
        Ok(())
    }

    /// Runs until the process ends: read a batch, send it until Matomo accepts it, acknowledge.
    pub async fn run(
        self: Arc<Self>,
        store: Arc<dyn Store>,
        metrics: Arc<AudienceMetrics>,
        claim_idle: std::time::Duration,
        poll: std::time::Duration,
    ) {
        let mut backoff = Backoff::new(self.settings.retry_initial, self.settings.retry_max);
        loop {
            let batch = match store
                .read_events(
                    MATOMO_GROUP,
                    &self.node,
                    self.settings.batch_size,
                    claim_idle,
                )
                .await
            {
                Ok(b) if b.is_empty() => {
                    tokio::time::sleep(poll).await;
                    continue;
                }
                Ok(b) => b,
                Err(e) => {
                    if backoff.first() {
                        tracing::warn!(error = %e, "matomo forwarder: the store does not answer; retrying");
                    }
                    backoff.wait().await;
                    continue;
                }
            };
            backoff.reset();
            let events = self.fresh(&batch);
            loop {
                match self.send(&events).await {
                    Ok(()) => break,
                    Err(e) => {
                        metrics.matomo_failures.fetch_add(1, Ordering::Relaxed);
                        if backoff.first() {
                            tracing::warn!(error = %e, url = %self.settings.url, "matomo forwarder: batch not accepted; retrying with backoff (events wait in the stream)");
                        }
                        backoff.wait().await;
                    }
                }
            }
            backoff.reset();
            self.remember(&events);
            metrics
                .matomo_sent
                .fetch_add(events.len() as u64, Ordering::Relaxed);
            let ids: Vec<String> = batch.iter().map(|d| d.id.clone()).collect();
            while let Err(e) = store.ack_events(MATOMO_GROUP, &ids).await {
                tracing::warn!(error = %e, "matomo forwarder: acknowledgement failed; retrying");
                backoff.wait().await;
            }
            backoff.reset();
        }
    }
}
