//! The subscription list's `<filtres>` and sorting: which subscriptions a filter keeps, and
//! their order (`triPar`, `tri`).
//!
//! Date filters (`dateCreation`, `dateModification`, `debutValidite`, `finValidite`) take an
//! ISO 8601 interval `start/end`, either side `..` when open: `2026-09-01/..` keeps what is on or
//! after 1 September 2026, `../2027-01-01` what is before 2027, `2026-09-01/2026-10-01`
//! September. Dates and times are read as `debutValidite` is (in the subscriptions' time zone
//! when no offset is given).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::domain::subscription_dates::parse_instant;
use crate::domain::Subscription;

const SORT_FIELDS: [&str; 10] = [
    "idAbonnement",
    "idRessource",
    "idDistributeurCom",
    "debutValidite",
    "finValidite",
    "dateCreation",
    "dateModification",
    "uaiEtab",
    "libelleRessource",
    "codeProjetRessource",
];

/// `triPar` (a field of `<abonnement>`, default `idAbonnement`) and `tri` (`ASC`, default, or
/// `DSC`); ties are broken by `idAbonnement`, so that pages stay stable.
pub fn sort(
    list: &mut [Subscription],
    by: Option<&str>,
    order: Option<&str>,
) -> Result<(), String> {
    let descending = match order.map(str::trim) {
        None | Some("") | Some("ASC") => false,
        Some("DSC") => true,
        Some(o) => return Err(format!("tri « {o} » : ASC ou DSC")),
    };
    let by = by
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .unwrap_or("idAbonnement");
    if !SORT_FIELDS.contains(&by) {
        return Err(format!(
            "triPar « {by} » : champ de tri inconnu ({})",
            SORT_FIELDS.join(", ")
        ));
    }
    let key = |s: &Subscription| -> String {
        match by {
            "idAbonnement" => String::new(),
            "idRessource" => s.resource_id.to_string(),
            "idDistributeurCom" => s.distributor_id.clone(),
            "debutValidite" | "finValidite" | "dateCreation" | "dateModification" => {
                dated(s, by).map(|d| d.to_rfc3339()).unwrap_or_default()
            }
            "uaiEtab" => s.uais.first().map(|u| u.to_string()).unwrap_or_default(),
            "libelleRessource" => s.resource_label.clone(),
            "codeProjetRessource" => s.details.project_code.clone().unwrap_or_default(),
            _ => String::new(),
        }
    };
    list.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        let o = ka
            .cmp(&kb)
            .then_with(|| a.external_id().cmp(b.external_id()))
            .then_with(|| a.id.cmp(&b.id));
        if descending {
            o.reverse()
        } else {
            o
        }
    });
    Ok(())
}

/// Whether `s` passes the filter `name = value`; dates without an offset are read in `zone`.
pub fn matches(s: &Subscription, name: &str, value: &str, zone: Tz) -> Result<bool, String> {
    Ok(match name {
        "idAbonnement" => s.external_id() == value,
        "idDistributeurCom" => s.distributor_id == value,
        "uaiEtab" => s.uais.iter().any(|u| u.as_str() == value),
        "typeAffectation" => matches!(
            (s.assignment_type, value),
            (crate::domain::AssignmentType::Indiv, "INDIV")
                | (crate::domain::AssignmentType::Etabl, "ETABL")
        ),
        "categorieAffectation" => s.details.category == value,
        "publicCible" => s.audiences.iter().any(|a| a.code() == value),
        "codeProjetRessource" => s.details.project_code.as_deref() == Some(value),
        "idRessource" => s.resource_id.as_str() == value,
        "dateCreation" | "dateModification" | "debutValidite" | "finValidite" => {
            let (from, until) = interval(name, value, zone)?;
            dated(s, name)
                .is_some_and(|t| from.is_none_or(|f| f <= t) && until.is_none_or(|u| t < u))
        }
        other => return Err(format!("filtre inconnu : {other}")),
    })
}

/// The date a date filter or sort reads; a subscription never modified was last modified
/// when it was created.
fn dated(s: &Subscription, name: &str) -> Option<DateTime<Utc>> {
    match name {
        "dateCreation" => s.details.created_at,
        "dateModification" => s.details.updated_at.or(s.details.created_at),
        "debutValidite" => Some(s.valid_from),
        "finValidite" => Some(s.valid_until),
        _ => None,
    }
}

/// The bounds of a date filter: from (included), until (excluded); `None` when open.
type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// An ISO 8601 interval `start/end` (start included, end excluded), either side `..` when open.
fn interval(name: &str, value: &str, zone: Tz) -> Result<Bounds, String> {
    let refused = || {
        format!(
            "filtre {name} « {value} » : attendu un intervalle ISO 8601 début/fin, « .. » pour un côté ouvert (2026-09-01/..)"
        )
    };
    let (start, end) = value.trim().split_once('/').ok_or_else(refused)?;
    let side = |v: &str| match v.trim() {
        ".." | "" => Ok(None),
        v => parse_instant(v, zone).map(Some).ok_or_else(refused),
    };
    let (from, until) = (side(start)?, side(end)?);
    if from.is_none() && until.is_none() {
        return Err(refused());
    }
    if let (Some(f), Some(u)) = (from, until) {
        if u <= f {
            return Err(format!(
                "filtre {name} « {value} » : la fin doit suivre le début"
            ));
        }
    }
    Ok((from, until))
}
