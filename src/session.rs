//! Gateway sessions and pending logins: the state a browser's journey leaves behind between
//! requests, shared by every gateway node through the store.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{IdEnt, Profile, ResourceId, Uai};

/// A user's session at the gateway, created when their ENT authenticated them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Random, unguessable; the value of the session cookie.
    pub id: String,
    pub ent: IdEnt,
    /// `GARPersonIdentifiant`.
    pub person_id: String,
    pub authenticated_at: DateTime<Utc>,
    /// Hard end of the session, whatever the activity (about 6 hours in the real GAR).
    pub expires_at: DateTime<Utc>,
    /// Resources opened through `domaineGar` in this session, most recent last: the school
    /// and profile of each access travel to the provider's assertion.
    #[serde(default)]
    pub launches: Vec<Launch>,
    /// How the ENT names the login that opened this session (what its logout names).
    #[serde(default)]
    pub ent_session: Option<EntSessionRef>,
    /// The OIDC clients this session gave a code to, with the `sid` their ID tokens carry:
    /// whom a back-channel logout must reach when the session ends.
    #[serde(default)]
    pub relying_parties: Vec<RelyingParty>,
    /// The CAS services this session gave a ticket to: whom a back-channel `logoutRequest`
    /// must reach when the session ends.
    #[serde(default)]
    pub cas_services: Vec<CasParty>,
    /// The SAML providers this session gave an assertion to that take a back-channel logout.
    #[serde(default)]
    pub saml_parties: Vec<SamlParty>,
}

/// A SAML provider that holds an assertion of a session, as its logout must name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamlParty {
    pub provider: String,
    /// The assertion's NameID (the IDO).
    pub name_id: String,
    /// The assertion's `SessionIndex`.
    pub session_index: String,
}

/// A CAS service that got a ticket in a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CasParty {
    pub provider: String,
    /// Where the `logoutRequest` is POSTed.
    pub logout_url: String,
    /// The ticket that opened the provider's session (the `SessionIndex` of its logout).
    pub ticket: String,
}

/// An OIDC client that holds an ID token of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelyingParty {
    pub provider: String,
    pub client_id: String,
    pub sid: String,
}

/// How an ENT names one of its logins: SAML's NameID and `SessionIndex`, OIDC's `sub` and
/// `sid`. An ENT's logout message names the session it ends this way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntSessionRef {
    pub subject: String,
    pub index: Option<String>,
    /// The subjects of the earlier logins of the same person that this session continues (a
    /// SAML ENT's transient NameID changes at each passive confirmation; its logout may name an
    /// earlier one), most recent first, at most [`EntSessionRef::MAX_EARLIER`].
    #[serde(default)]
    pub earlier_subjects: Vec<String>,
    /// A SAML ENT's NameID `Format` (the gateway's LogoutRequest to the ENT names the login
    /// with it); none for OIDC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

impl EntSessionRef {
    pub const MAX_EARLIER: usize = 8;

    /// Whether `subject` names this login or one it continues.
    pub fn names(&self, subject: &str) -> bool {
        self.subject == subject || self.earlier_subjects.iter().any(|s| s == subject)
    }

    /// This login, continuing `earlier` (the same person's previous login at the same ENT).
    pub fn continuing(mut self, earlier: &EntSessionRef) -> Self {
        let mut subjects: Vec<String> = std::iter::once(&earlier.subject)
            .chain(&earlier.earlier_subjects)
            .filter(|s| **s != self.subject)
            .cloned()
            .collect();
        subjects.dedup();
        subjects.truncate(Self::MAX_EARLIER);
        self.earlier_subjects = subjects;
        self
    }

    /// The store key under which ENT `ent`'s login `subject` (with `index`, or any index when
    /// `None`) finds the gateway session: a hash, so that the ENT's identifiers are not keys.
    pub fn store_key(ent: &IdEnt, subject: &str, index: Option<&str>) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for part in [ent.as_str(), subject, index.unwrap_or("")] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        h.update([u8::from(index.is_some())]);
        hex::encode(h.finalize())
    }
}

impl Session {
    /// A session `id` opened at `now` for `person_id` of `ent`, live for `life`: nothing opened
    /// in it yet, no party to tell.
    pub fn opened(
        id: String,
        ent: IdEnt,
        person_id: String,
        now: DateTime<Utc>,
        life: chrono::Duration,
    ) -> Self {
        Self {
            id,
            ent,
            person_id,
            authenticated_at: now,
            expires_at: now + life,
            launches: Vec::new(),
            ent_session: None,
            relying_parties: Vec::new(),
            cas_services: Vec::new(),
            saml_parties: Vec::new(),
        }
    }

    /// Whether anyone must be told when this session ends (OIDC clients, CAS services, SAML
    /// providers with a back channel).
    pub fn has_parties(&self) -> bool {
        !self.relying_parties.is_empty()
            || !self.cas_services.is_empty()
            || !self.saml_parties.is_empty()
    }

    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
    }

    /// Whether the ENT vouched for the session's person no longer than `max_age` before `now`.
    /// Every ENT login (a passive check included) opens a new session, so `authenticated_at`
    /// is when the ENT last said who is at this browser.
    pub fn confirmed_within(&self, max_age: std::time::Duration, now: DateTime<Utc>) -> bool {
        let max_age = chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX);
        now - self.authenticated_at <= max_age
    }

    /// The session's public handle (SAML `SessionIndex`, OIDC `sid`): 16 bytes of the SHA-256
    /// of its id, in hex, so that the id (the cookie's secret) never leaves the gateway.
    pub fn public_ref(&self) -> String {
        use sha2::Digest;
        hex::encode(&sha2::Sha256::digest(self.id.as_bytes())[..16])
    }

    /// Records a launch, replacing an earlier one of the same resource.
    pub fn record_launch(&mut self, launch: Launch) {
        self.launches.retain(|l| l.resource != launch.resource);
        self.launches.push(launch);
        const MAX_LAUNCHES: usize = 64;
        if self.launches.len() > MAX_LAUNCHES {
            self.launches.remove(0);
        }
    }

    /// The most recent launch of any of `resources`.
    pub fn latest_launch_of<'a>(&'a self, resources: &[&ResourceId]) -> Option<&'a Launch> {
        self.launches
            .iter()
            .rev()
            .find(|l| resources.contains(&&l.resource))
    }
}

/// One resource opened from the médiacentre.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Launch {
    pub resource: ResourceId,
    pub uai: Uai,
    pub profile: Profile,
    pub at: DateTime<Utc>,
}

/// Where the browser should go once the ENT has authenticated the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTarget {
    pub uai: Uai,
    pub resource: ResourceId,
}

/// A login the gateway started at an ENT and has not yet seen come back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogin {
    /// The AuthnRequest ID (SAML) or `state` (OIDC).
    pub id: String,
    pub ent: IdEnt,
    pub target: Option<PendingTarget>,
    /// Where to continue once the user is authenticated, when there is no `target`: a path on
    /// this gateway (e.g. an OIDC authorization resumed after the user chose their ENT).
    #[serde(default)]
    pub resume: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Protocol-specific extras (e.g. the OIDC nonce and PKCE verifier), opaque to the store.
    #[serde(default)]
    pub extra: Option<serde_json::Value>,
    /// The ENT was asked to authenticate the user again (a provider's `ForceAuthn`): its
    /// answer must say it did after `created_at`.
    #[serde(default)]
    pub forced: bool,
    /// The ENT was asked who is at this browser without showing anything (SAML `IsPassive`,
    /// OIDC `prompt=none`), to confirm or replace a session: an answer that it has no session
    /// ends the gateway's session and starts an ordinary login.
    #[serde(default)]
    pub passive: bool,
}

/// A fresh, unguessable session id (256 random bits, hex).
pub fn new_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}
