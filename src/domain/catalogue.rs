//! The resource catalogue: what each resource is, who provides it, where it is opened and
//! which attributes were validated for it.

use serde::{Deserialize, Serialize};

use super::ido::IdoScope;
use super::ids::ResourceId;
use super::release::ReleasePolicy;

/// How a provider receives its users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Saml,
    Oidc,
    Cas,
}

/// One resource of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub id: ResourceId,
    pub name: String,
    /// The configuration key of the provider that serves it.
    pub provider: String,
    /// `idEditeur` / `nomEditeur`.
    pub editor_id: String,
    pub editor_name: String,
    /// `distributeurTech`: the technical distributor, `SIREN_ISNI`.
    pub technical_distributor: String,
    /// `distributeursCom`: the commercial distributors (`SIREN_ISNI`) that may sell it, hence
    /// subscribe schools to it; empty means the technical distributor alone.
    #[serde(default)]
    pub commercial_distributors: Vec<String>,
    /// Where the browser is sent once access is granted.
    pub access_url: String,
    pub protocol: Protocol,
    /// DNMA `SERVICE` category, e.g. `MANUEL_NUMERIQUE`.
    #[serde(default)]
    pub category: Option<String>,
    pub release: ReleasePolicy,
    /// The URLs of the resource's family of sites (released as `LRA`).
    #[serde(default)]
    pub sites: Vec<String>,
    /// What the médiacentre shows (the GAR listing's descriptive fields).
    #[serde(default)]
    pub display: Display,
}

/// A `{uri, nom}` entry of a ScoLOMFR vocabulary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Term {
    pub uri: String,
    pub nom: String,
}

/// `typePresentation`: `MUL`, `MAN` or `ACC` with its label.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presentation {
    pub code: String,
    pub nom: String,
}

/// The descriptive fields of a resource in the médiacentre listing, named as the GAR names them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Display {
    #[serde(default)]
    pub url_vignette: String,
    #[serde(default)]
    pub type_presentation: Presentation,
    #[serde(default)]
    pub type_pedagogique: Vec<Term>,
    #[serde(default)]
    pub typologie_document: Vec<Term>,
    #[serde(default)]
    pub niveau_educatif: Vec<Term>,
    #[serde(default)]
    pub domaine_enseignement: Vec<Term>,
    /// `validateurTech`, when it differs from the technical distributor.
    #[serde(default)]
    pub validateur_tech: Option<String>,
}

impl Resource {
    /// The declared commercial distributors, the technical distributor when none is.
    pub fn distributors(&self) -> &[String] {
        if self.commercial_distributors.is_empty() {
            std::slice::from_ref(&self.technical_distributor)
        } else {
            &self.commercial_distributors
        }
    }

    /// The value the IDO is scoped by for this resource.
    pub fn ido_scope_value(&self, scope: IdoScope) -> String {
        match scope {
            IdoScope::TechnicalDistributor => format!("dist:{}", self.technical_distributor),
            IdoScope::Provider => format!("provider:{}", self.provider),
            IdoScope::Resource => format!("resource:{}", self.id),
            IdoScope::Global => "global".to_string(),
        }
    }
}
