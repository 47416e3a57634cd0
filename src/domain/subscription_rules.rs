//! The business rules of the subscription web service: what a provider may create or update,
//! each refusal naming the rule and the field (gar-reference section 4).
//!
//! Input is a neutral [`SubscriptionInput`] of raw strings (the web service parses XML or JSON
//! into it); output is a [`Subscription`] or every [`Violation`] at once. `now` carries the
//! subscriptions' time zone, in which dates without an offset are read
//! (`subscription_dates`).

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::directory::is_primary_nature;
use super::ids::{PublicCible, ResourceId, Uai};
use super::subscription::{AssignmentType, LicenceCount, Subscription, SubscriptionDetails};
use super::subscription_dates::{parse_instant, school_year_end};

/// A subscription as a provider sent it, before any check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionInput {
    pub id: Option<String>,
    pub comment: Option<String>,
    pub distributor: Option<String>,
    pub resource_id: Option<String>,
    pub resource_type: Option<String>,
    pub resource_label: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub end_school_year: Option<String>,
    pub uais: Vec<String>,
    pub nature_uai: Option<String>,
    pub category: Option<String>,
    pub assignment_type: Option<String>,
    pub global_licences: Option<String>,
    /// `(audience, count)` from `nbLicenceEleve`, `nbLicenceEnseignant`, `nbLicenceProfDoc`,
    /// `nbLicenceAutrePersonnel`.
    pub licences: Vec<(PublicCible, String)>,
    pub audiences: Vec<String>,
    pub project_code: Option<String>,
}

/// The only `categorieAffectation` providers send today, and the default when they send none.
pub const TRANSFERABLE: &str = "transferable";

/// Create (`PUT`) or update (`POST`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Create,
    Update,
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Stable rule code, e.g. `RG-ID-FORMAT`.
    pub rule: &'static str,
    /// The field in the GAR's naming, e.g. `idAbonnement`.
    pub field: &'static str,
    pub message: String,
}

struct Checker(Vec<Violation>);

impl Checker {
    fn fail(&mut self, rule: &'static str, field: &'static str, message: impl Into<String>) {
        self.0.push(Violation {
            rule,
            field,
            message: message.into(),
        });
    }

    fn required<'a>(&mut self, field: &'static str, v: &'a Option<String>) -> Option<&'a str> {
        match v.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() => Some(s),
            _ => {
                self.fail("RG-REQUIRED", field, format!("{field} est obligatoire"));
                None
            }
        }
    }

    fn max_len(&mut self, field: &'static str, v: Option<&str>, max: usize) {
        if v.is_some_and(|s| s.chars().count() > max) {
            self.fail(
                "RG-LENGTH",
                field,
                format!("{field} dépasse {max} caractères"),
            );
        }
    }
}

/// Whether `s` is a distributor id `SIREN_ISNI`: 9 digits, `_`, 16 digits.
pub fn is_distributor_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 26
        && b[9] == b'_'
        && b[..9].iter().all(u8::is_ascii_digit)
        && b[10..].iter().all(u8::is_ascii_digit)
}

fn licence_count(s: &str) -> Option<LicenceCount> {
    let s = s.trim();
    if s == "ILLIMITE" {
        Some(LicenceCount::Unlimited)
    } else {
        s.parse::<u32>().ok().map(LicenceCount::Limited)
    }
}

/// The rule that ties a subscription to the catalogue: `distributor` may only subscribe schools
/// to a resource that declares it among its commercial distributors (`distributeursCom`).
pub fn check_resource_distributor(
    resource: &super::catalogue::Resource,
    distributor: &str,
) -> Result<(), Violation> {
    if resource.distributors().iter().any(|d| d == distributor) {
        return Ok(());
    }
    Err(Violation {
        rule: "RG-DISTRIBUTOR-RESOURCE",
        field: "idRessource",
        message: format!(
            "la ressource {} n'est pas distribuée par {distributor}",
            resource.id
        ),
    })
}

/// Applies every rule, knowing no school's degree (see [`validate_for_schools`]).
pub fn validate(
    input: &SubscriptionInput,
    path_id: &str,
    caller: &str,
    mode: Mode,
    existing: Option<&Subscription>,
    now: DateTime<Tz>,
) -> Result<Subscription, Vec<Violation>> {
    validate_for_schools(input, path_id, caller, mode, existing, now, &[])
}

/// Applies every rule. `path_id` is the id in the URL; `caller` the distributor id of the
/// authenticated provider; on update, `existing` is the stored subscription (its schools are
/// kept, as the update body carries none); `now` is the time of the write, in the time zone
/// where dates without an offset are read; `primary_schools` are the subscription's schools
/// that the directory knows as primary schools (no `DOCUMENTALISTE` audience there).
pub fn validate_for_schools(
    input: &SubscriptionInput,
    path_id: &str,
    caller: &str,
    mode: Mode,
    existing: Option<&Subscription>,
    now: DateTime<Tz>,
    primary_schools: &[Uai],
) -> Result<Subscription, Vec<Violation>> {
    let mut c = Checker(Vec::new());
    let zone = now.timezone();
    let now = now.with_timezone(&Utc);

    // Identifier.
    let id = c.required("idAbonnement", &input.id);
    if let Some(id) = id {
        if id != path_id {
            c.fail(
                "RG-ID-PATH",
                "idAbonnement",
                "idAbonnement diffère de l'identifiant de l'URL",
            );
        }
        c.max_len("idAbonnement", Some(id), 45);
        if id.starts_with('_')
            || id == "abonnements"
            || id == "categorie"
            || id.contains(['/', '?', '#'])
        {
            c.fail("RG-ID-FORMAT", "idAbonnement", "idAbonnement ne peut commencer par « _ » ni valoir « abonnements » ou « categorie »");
        }
    }
    c.max_len("commentaireAbonnement", input.comment.as_deref(), 255);

    // Distributor: the caller's own.
    if let Some(d) = c.required("idDistributeurCom", &input.distributor) {
        if !is_distributor_id(d) {
            c.fail(
                "RG-DISTRIBUTOR-FORMAT",
                "idDistributeurCom",
                "idDistributeurCom doit avoir la forme SIREN_ISNI (9 chiffres, « _ », 16 chiffres)",
            );
        } else if d != caller {
            c.fail(
                "RG-DISTRIBUTOR-OWNER",
                "idDistributeurCom",
                "idDistributeurCom n'est pas celui du fournisseur authentifié",
            );
        }
    }

    // Resource.
    let resource = c.required("idRessource", &input.resource_id).and_then(|r| {
        c.max_len("idRessource", Some(r), 1024);
        r.parse::<ResourceId>()
            .map_err(|_| {
                c.fail(
                    "RG-RESOURCE-FORMAT",
                    "idRessource",
                    "idRessource doit être un identifiant ARK",
                )
            })
            .ok()
    });
    if let Some(t) = c.required("typeIdRessource", &input.resource_type) {
        if t != "ark" {
            c.fail(
                "RG-RESOURCE-TYPE",
                "typeIdRessource",
                "typeIdRessource doit valoir « ark »",
            );
        }
    }
    let label = c
        .required("libelleRessource", &input.resource_label)
        .map(str::to_string);
    c.max_len("libelleRessource", label.as_deref(), 255);

    // Validity.
    let start = c.required("debutValidite", &input.start).and_then(|s| {
        parse_instant(s, zone).or_else(|| {
            c.fail(
                "RG-DATE-FORMAT",
                "debutValidite",
                "debutValidite n'est pas une date ISO 8601",
            );
            None
        })
    });
    let end = match (&input.end, &input.end_school_year) {
        // What the service answers carries both (finValidite is always written): sent back,
        // a finValidite that is the end of the anneeFinValidite beside it is that end.
        (Some(e), Some(y))
            if school_year_end(y, zone).is_some()
                && parse_instant(e, zone) == school_year_end(y, zone) =>
        {
            school_year_end(y, zone)
        }
        (Some(_), Some(_)) => {
            c.fail(
                "RG-END-EXCLUSIVE",
                "finValidite",
                "finValidite et anneeFinValidite sont exclusives (sauf si finValidite est la fin de anneeFinValidite)",
            );
            None
        }
        (None, None) => {
            c.fail(
                "RG-END-EXCLUSIVE",
                "finValidite",
                "finValidite ou anneeFinValidite est obligatoire",
            );
            None
        }
        (Some(e), None) => parse_instant(e, zone).or_else(|| {
            c.fail(
                "RG-DATE-FORMAT",
                "finValidite",
                "finValidite n'est pas une date ISO 8601",
            );
            None
        }),
        (None, Some(y)) => match school_year_end(y, zone) {
            Some(end) => Some(end),
            None => {
                c.fail("RG-SCHOOL-YEAR", "anneeFinValidite", "anneeFinValidite doit avoir la forme AAAA-AAAA, la seconde année suivant la première");
                None
            }
        },
    };
    if let (Some(s), Some(e)) = (start, end) {
        if e <= s {
            c.fail(
                "RG-VALIDITY-ORDER",
                "finValidite",
                "la fin de validité doit suivre le début",
            );
        } else if e - s > Duration::days(366 * 10) {
            c.fail(
                "RG-VALIDITY-MAX",
                "finValidite",
                "la validité ne peut dépasser dix années scolaires",
            );
        }
    }

    // Schools.
    let (uais, nature) = match mode {
        Mode::Update => {
            if !input.uais.is_empty() {
                c.fail(
                    "RG-UPDATE-UAI",
                    "uaiEtab",
                    "une mise à jour ne peut pas modifier uaiEtab",
                );
            }
            (
                existing.map(|e| e.uais.clone()).unwrap_or_default(),
                existing.and_then(|e| e.details.nature_uai.clone()),
            )
        }
        Mode::Create => match (input.uais.is_empty(), &input.nature_uai) {
            (false, Some(_)) => {
                c.fail(
                    "RG-SCOPE-EXCLUSIVE",
                    "uaiEtab",
                    "uaiEtab et codeNatureUAI sont exclusifs",
                );
                (Vec::new(), None)
            }
            (true, None) => {
                c.fail(
                    "RG-SCOPE-EXCLUSIVE",
                    "uaiEtab",
                    "uaiEtab ou codeNatureUAI est obligatoire",
                );
                (Vec::new(), None)
            }
            (true, Some(n)) => (Vec::new(), Some(n.trim().to_string())),
            (false, None) => {
                let mut out = Vec::new();
                for u in &input.uais {
                    match u.parse::<Uai>() {
                        Ok(u) if !out.contains(&u) => out.push(u),
                        Ok(_) => {}
                        Err(_) => c.fail(
                            "RG-UAI-FORMAT",
                            "uaiEtab",
                            format!("uaiEtab « {} » n'est pas un UAI valide", u.trim()),
                        ),
                    }
                }
                (out, None)
            }
        },
    };

    // Assignment. Providers no longer send categorieAffectation (its only value is
    // `transferable`): a creation without it is transferable, an update keeps what was stored.
    let sent = input
        .category
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let category = match (sent, existing) {
        (Some(cat), _) => {
            if cat != TRANSFERABLE && cat != "non transferable" {
                c.fail(
                    "RG-CATEGORY",
                    "categorieAffectation",
                    "categorieAffectation doit valoir « transferable » ou « non transferable »",
                );
            }
            cat.to_string()
        }
        (None, Some(e)) if mode == Mode::Update && !e.details.category.is_empty() => {
            e.details.category.clone()
        }
        (None, _) => TRANSFERABLE.to_string(),
    };
    let kind = c
        .required("typeAffectation", &input.assignment_type)
        .and_then(|t| match t {
            "INDIV" => Some(AssignmentType::Indiv),
            "ETABL" => Some(AssignmentType::Etabl),
            _ => {
                c.fail(
                    "RG-ASSIGNMENT-TYPE",
                    "typeAffectation",
                    "typeAffectation doit valoir INDIV ou ETABL",
                );
                None
            }
        });

    // Audiences.
    let mut audiences = Vec::new();
    for a in &input.audiences {
        match a.parse::<PublicCible>() {
            Ok(p) if !audiences.contains(&p) => audiences.push(p),
            Ok(_) => {}
            Err(_) => c.fail(
                "RG-AUDIENCE",
                "publicCible",
                format!("publicCible « {} » inconnu", a.trim()),
            ),
        }
    }
    if input.audiences.is_empty() {
        c.fail(
            "RG-AUDIENCE",
            "publicCible",
            "au moins un publicCible est obligatoire",
        );
    }
    // Primary schools have no librarians (professeurs documentalistes).
    if audiences.contains(&PublicCible::Documentaliste) {
        let mut primary: Vec<String> = uais
            .iter()
            .filter(|u| primary_schools.contains(u))
            .map(|u| format!("uaiEtab {u}"))
            .collect();
        if let Some(n) = nature.as_deref().filter(|n| is_primary_nature(n)) {
            primary.push(format!("codeNatureUAI {n}"));
        }
        if !primary.is_empty() {
            c.fail(
                "RG-PRIMARY-DOCUMENTALISTE",
                "publicCible",
                format!(
                    "le publicCible DOCUMENTALISTE n'existe pas dans le premier degré ({})",
                    primary.join(", ")
                ),
            );
        }
    }

    // Licences.
    let global = input.global_licences.as_deref().map(|g| {
        licence_count(g).ok_or(()).map_err(|()| {
            c.fail(
                "RG-LICENCE-FORMAT",
                "nbLicenceGlobale",
                "nbLicenceGlobale doit être un entier ou ILLIMITE",
            )
        })
    });
    let mut licences = Vec::new();
    for (aud, v) in &input.licences {
        let field = match aud {
            PublicCible::Eleve => "nbLicenceEleve",
            PublicCible::Enseignant => "nbLicenceEnseignant",
            PublicCible::Documentaliste => "nbLicenceProfDoc",
            PublicCible::AutrePersonnel => "nbLicenceAutrePersonnel",
        };
        match licence_count(v) {
            Some(n) => licences.push((*aud, n)),
            None => c.fail(
                "RG-LICENCE-FORMAT",
                field,
                format!("{field} doit être un entier ou ILLIMITE"),
            ),
        }
        if !audiences.contains(aud) {
            c.fail(
                "RG-LICENCE-AUDIENCE",
                field,
                format!("{field} demande le publicCible {}", aud.code()),
            );
        }
    }
    match (kind, &global, input.licences.is_empty()) {
        (_, Some(_), false) => c.fail(
            "RG-LICENCE-EXCLUSIVE",
            "nbLicenceGlobale",
            "nbLicenceGlobale exclut les licences par public",
        ),
        (Some(AssignmentType::Etabl), None, _) => c.fail(
            "RG-LICENCE-ETABL",
            "nbLicenceGlobale",
            "nbLicenceGlobale est obligatoire pour typeAffectation ETABL",
        ),
        (Some(AssignmentType::Indiv), None, true) => c.fail(
            "RG-LICENCE-REQUIRED",
            "nbLicenceGlobale",
            "nbLicenceGlobale ou une licence par public est obligatoire",
        ),
        _ => {}
    }
    c.max_len("codeProjetRessource", input.project_code.as_deref(), 50);

    match (c.0.is_empty(), id, resource, label, start, end, kind) {
        (
            true,
            Some(id),
            Some(resource_id),
            Some(resource_label),
            Some(valid_from),
            Some(valid_until),
            Some(assignment_type),
        ) => Ok(Subscription {
            id: id.to_string(),
            distributor_id: caller.to_string(),
            resource_id,
            resource_label,
            valid_from,
            valid_until,
            uais,
            assignment_type,
            audiences,
            deleted: false,
            details: SubscriptionDetails {
                comment: input.comment.clone(),
                end_school_year: input.end_school_year.clone(),
                nature_uai: nature,
                category,
                global_licences: global.and_then(Result::ok),
                licences,
                project_code: input.project_code.clone(),
                created_at: existing.and_then(|e| e.details.created_at).or(Some(now)),
                updated_at: Some(now),
            },
        }),
        _ => Err(c.0),
    }
}

#[cfg(test)]
#[path = "subscription_rules_tests.rs"]
mod tests;
