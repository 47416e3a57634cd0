//! How the demo fills a running gateway, through the paths real data takes: the demo ENT's
//! directory exported as GAR-ENT files (`feed::export`) and imported as `passerelle directory
//! import` does; the subscriptions created by the demo providers over the gateway's
//! subscription web service (`PUT /abonnement/{id}`, bearer token); the individual assignments
//! made by the school's assignment manager through the rule of the `/affectations` page.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::data;
use crate::app::AppState;
use crate::domain::{AssignmentType, Subscription};
use crate::feed::ImportSummary;
use crate::flow::assign::Assigned;
use crate::saml::xml::{escape, instant};

/// What the demo seeded at start-up.
#[derive(Debug, Clone)]
pub struct Seeding {
    /// The export the directory was imported from.
    pub export_dir: PathBuf,
    /// What the import of the demo ENT's directory did.
    pub import: ImportSummary,
    /// The subscriptions created over the web service, with the provider that created each.
    pub subscriptions: Vec<(String, String)>,
    /// How many individual assignments the manager made.
    pub assignments: usize,
}

/// Seeds the gateway at `gateway_url` (already listening, on `state`); `tokens` are the demo
/// providers' bearer tokens, by provider key.
pub async fn seed(
    state: &AppState,
    gateway_url: &str,
    tokens: &[(&str, String)],
    export_dir: &Path,
    now: DateTime<Utc>,
) -> anyhow::Result<Seeding> {
    let import = directory(state, export_dir).await?;
    let mut subscriptions = Vec::new();
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    for (provider, s) in data::subscriptions(now)? {
        let token = tokens
            .iter()
            .find(|(k, _)| *k == provider)
            .map(|(_, t)| t.as_str())
            .ok_or_else(|| anyhow::anyhow!("demo: no token for provider {provider}"))?;
        subscribe(state, &client, gateway_url, token, &s).await?;
        subscriptions.push((provider.to_string(), s.id.clone()));
    }
    let assignments = assign(state).await?;
    Ok(Seeding {
        export_dir: export_dir.to_path_buf(),
        import,
        subscriptions,
        assignments,
    })
}

/// Exports the demo ENT's directory into `export_dir` and imports it.
async fn directory(state: &AppState, export_dir: &Path) -> anyhow::Result<ImportSummary> {
    let ent = data::ent()?;
    std::fs::create_dir_all(export_dir)?;
    let files = crate::feed::export::write_directory(export_dir, &ent, &data::directory()?)?;
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let summary =
        crate::feed::import_files(state.store.as_ref(), &ent, &paths, &Default::default())
            .await
            .map_err(|e| anyhow::anyhow!("demo: the directory import was refused: {e}"))?;
    tracing::info!(
        ent = %ent,
        files = files.len(),
        schools = summary.schools,
        persons = summary.persons,
        groups = summary.groups,
        "demo: directory imported from its export"
    );
    Ok(summary)
}

/// The `<abonnement>` body a provider sends to create `s`.
fn body(s: &Subscription) -> String {
    let el = |name: &str, value: &str| format!("<{name}>{}</{name}>", escape(value));
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<abonnement xmlns=\"{}\">",
        "http://www.atosworldline.com/wsabonnement/v1.0/"
    );
    for (name, value) in [
        ("idAbonnement", s.id.as_str()),
        ("commentaireAbonnement", "Abonnement de la démonstration"),
        ("idDistributeurCom", &s.distributor_id),
        ("idRessource", s.resource_id.as_str()),
        ("typeIdRessource", "ark"),
        ("libelleRessource", &s.resource_label),
        ("debutValidite", &instant(s.valid_from)),
        ("finValidite", &instant(s.valid_until)),
    ] {
        out.push_str(&el(name, value));
    }
    for u in &s.uais {
        out.push_str(&el("uaiEtab", u.as_str()));
    }
    out.push_str(&el("categorieAffectation", "transferable"));
    out.push_str(&el(
        "typeAffectation",
        match s.assignment_type {
            AssignmentType::Indiv => "INDIV",
            AssignmentType::Etabl => "ETABL",
        },
    ));
    out.push_str(&el("nbLicenceGlobale", "ILLIMITE"));
    for a in &s.audiences {
        out.push_str(&el("publicCible", a.code()));
    }
    out.push_str("</abonnement>\n");
    out
}

/// Creates `s` over the web service: 201, or 409 if the very same subscription is there.
async fn subscribe(
    state: &AppState,
    client: &reqwest::Client,
    gateway_url: &str,
    token: &str,
    s: &Subscription,
) -> anyhow::Result<()> {
    let response = client
        .put(format!(
            "{gateway_url}/abonnement/{}",
            urlencoding::encode(&s.id)
        ))
        .bearer_auth(token)
        .header("content-type", "application/xml")
        .body(body(s))
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    match status.as_u16() {
        201 => Ok(()),
        409 if text.contains("existe deja") => {
            let key = crate::domain::subscription::storage_id(&s.distributor_id, &s.id);
            let same = state.store.subscription(&key).await?.is_some_and(|e| {
                !e.deleted
                    && e.distributor_id == s.distributor_id
                    && e.resource_id == s.resource_id
                    && e.uais == s.uais
                    && e.assignment_type == s.assignment_type
                    && e.audiences == s.audiences
            });
            anyhow::ensure!(
                same,
                "demo: subscription {} exists and differs from the demo's",
                s.id
            );
            Ok(())
        }
        _ => anyhow::bail!(
            "demo: the subscription web service answered {status} to {}: {text}",
            s.id
        ),
    }
}

/// The manager's individual assignments, through the assignment rule.
async fn assign(state: &AppState) -> anyhow::Result<usize> {
    let ent = data::ent()?;
    let manager = state
        .store
        .person(&ent, data::MANAGER)
        .await?
        .ok_or_else(|| anyhow::anyhow!("demo: the manager is not in the directory"))?;
    let mut made = 0;
    // The subscriptions were created over the web service: each is stored under its
    // distributor's key.
    let distributors: Vec<(String, String)> = data::subscriptions(state.clock.now())?
        .into_iter()
        .map(|(_, s)| (s.id, s.distributor_id))
        .collect();
    for mut a in data::assignments()? {
        if let Some((_, d)) = distributors.iter().find(|(id, _)| *id == a.subscription_id) {
            a.subscription_id = crate::domain::subscription::storage_id(d, &a.subscription_id);
        }
        let subscription = state
            .store
            .subscription(&a.subscription_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("demo: no subscription {}", a.subscription_id))?;
        match crate::flow::assign::assign(
            &state.deps(),
            &manager,
            &subscription,
            &a,
            state.clock.now(),
        )
        .await?
        {
            Ok(Assigned::Done | Assigned::AlreadyThere) => made += 1,
            Err(r) => anyhow::bail!(
                "demo: assignment to {} refused: {} ({})",
                a.subscription_id,
                r.message(),
                r.code()
            ),
        }
    }
    Ok(made)
}
