//! Subscriptions (`abonnements`) and assignments (`affectations`): who may use which
//! resource, in which schools, for which audiences and for how long.
//!
//! Shapes follow the real subscription web service (gar-reference section 4) so that the
//! web service of a later issue stores exactly these values.

use super::ids::{IdEnt, PublicCible, ResourceId, Uai};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How licences of a subscription reach users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AssignmentType {
    /// Every user of the covered audiences in the school.
    Etabl,
    /// Only users assigned by the school's assignment managers.
    Indiv,
}

/// A subscription of one or more schools to a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// The store's key. An `idAbonnement` is unique per commercial distributor, as in the
    /// GAR: a subscription created through the web service is stored under
    /// [`storage_id`]`(idDistributeurCom, idAbonnement)`, so that one distributor's id never
    /// collides with (nor reveals) another's. Data stored before, and seeds, use the plain
    /// `idAbonnement`. [`Subscription::external_id`] is the `idAbonnement` either way.
    pub id: String,
    /// `idDistributeurCom`: the commercial distributor that owns the subscription.
    pub distributor_id: String,
    pub resource_id: ResourceId,
    #[serde(default)]
    pub resource_label: String,
    /// `debutValidite`.
    pub valid_from: DateTime<Utc>,
    /// `finValidite` (or the 15 August ending `anneeFinValidite`).
    pub valid_until: DateTime<Utc>,
    /// `uaiEtab`.
    pub uais: Vec<Uai>,
    pub assignment_type: AssignmentType,
    /// `publicCible`.
    pub audiences: Vec<PublicCible>,
    /// Set when the provider deleted it (`aboSuppr`); deleted subscriptions open nothing.
    #[serde(default)]
    pub deleted: bool,
    /// The rest of what the subscription web service records.
    #[serde(default)]
    pub details: SubscriptionDetails,
}

/// A licence count: a number, or `ILLIMITE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LicenceCount {
    Limited(u32),
    Unlimited,
}

/// What the subscription web service records beyond what the access rule needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionDetails {
    /// `commentaireAbonnement`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// `anneeFinValidite` as given (`YYYY-YYYY`), when the end was given that way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_school_year: Option<String>,
    /// `codeNatureUAI`, when the subscription covers a kind of school rather than a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nature_uai: Option<String>,
    /// `categorieAffectation`.
    #[serde(default)]
    pub category: String,
    /// `nbLicenceGlobale`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_licences: Option<LicenceCount>,
    /// `nbLicenceEleve`, `nbLicenceEnseignant`, `nbLicenceProfDoc`, `nbLicenceAutrePersonnel`.
    #[serde(default)]
    pub licences: Vec<(PublicCible, LicenceCount)>,
    /// `codeProjetRessource`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// The key under which distributor `distributor` stores its subscription `id` (an
/// `idAbonnement` never contains `/`).
pub fn storage_id(distributor: &str, id: &str) -> String {
    format!("{distributor}/{id}")
}

impl Subscription {
    /// The `idAbonnement`, as the distributor named it.
    pub fn external_id(&self) -> &str {
        self.id
            .strip_prefix(self.distributor_id.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .unwrap_or(&self.id)
    }

    /// Whether `now` falls within the validity period (start inclusive, end exclusive).
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        self.valid_from <= now && now < self.valid_until
    }

    pub fn covers(&self, uai: &Uai) -> bool {
        self.uais.contains(uai)
    }
}

/// Who an individual assignment gives a licence to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum AssignmentTarget {
    /// One person, by ENT project and `GARPersonIdentifiant`.
    Person { ent: IdEnt, id: String },
    /// Every member of a class or group of the school.
    Group { code: String },
}

/// An assignment of a subscription's licences in one school.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub subscription_id: String,
    pub uai: Uai,
    pub target: AssignmentTarget,
}
