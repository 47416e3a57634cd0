//! Assignments made by a school's assignment managers (`RespAff` of the directory): who may
//! assign what to whom, and the licence check. The licences of a subscription are counted
//! over all of its schools, per audience and globally, by the people its assignments reach
//! (`licence_count`); an assignment that would reach more people than the licences allow is
//! refused. Callers make the check and the write one atomic step with the store's versioned
//! write (`add_assignment_if`). Pure functions; time is a parameter.

use chrono::{DateTime, Utc};

use super::directory::{Group, Person};
use super::ids::{PublicCible, Uai};
use super::licence_count::AudienceCounts;
use super::subscription::{AssignmentTarget, AssignmentType, LicenceCount, Subscription};

/// Why an assignment is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignRefusal {
    /// The user is not an assignment manager of that school.
    NotManager,
    /// Only individual (`INDIV`) subscriptions are assigned.
    NotIndividual,
    /// Deleted, expired or not yet valid.
    NotInForce,
    /// The subscription does not cover that school.
    NotCovered,
    /// The person or the class/group is not in that school, or not in a covered audience.
    UnknownTarget,
    /// More people than the licences allow (`None`: the global licence count).
    OverLicences {
        audience: Option<PublicCible>,
        limit: u32,
    },
}

impl AssignRefusal {
    /// A stable code, for logs, traces and the page.
    pub fn code(&self) -> &'static str {
        match self {
            AssignRefusal::NotManager => "assign.not_manager",
            AssignRefusal::NotIndividual => "assign.not_individual",
            AssignRefusal::NotInForce => "assign.not_in_force",
            AssignRefusal::NotCovered => "assign.not_covered",
            AssignRefusal::UnknownTarget => "assign.unknown_target",
            AssignRefusal::OverLicences { .. } => "assign.over_licences",
        }
    }

    /// What the page tells the manager, in French.
    pub fn message(&self) -> String {
        match self {
            AssignRefusal::NotManager => {
                "Vous n'êtes pas responsable des affectations de cet établissement.".into()
            }
            AssignRefusal::NotIndividual => {
                "Cet abonnement couvre tout l'établissement : il ne s'affecte pas.".into()
            }
            AssignRefusal::NotInForce => "Cet abonnement n'est pas en cours de validité.".into(),
            AssignRefusal::NotCovered => "Cet abonnement ne couvre pas cet établissement.".into(),
            AssignRefusal::UnknownTarget => {
                "Cette personne ou ce groupe n'est pas dans l'établissement, ou pas dans un public de l'abonnement.".into()
            }
            AssignRefusal::OverLicences {
                audience: Some(a),
                limit,
            } => format!(
                "Licences insuffisantes : l'abonnement compte {limit} licence(s) pour le public {}.",
                a.code()
            ),
            AssignRefusal::OverLicences {
                audience: None,
                limit,
            } => format!("Licences insuffisantes : l'abonnement compte {limit} licence(s) en tout."),
        }
    }
}

/// Checks what does not depend on licence counts: the manager, the subscription, the target.
pub fn check(
    manager: &Person,
    subscription: &Subscription,
    uai: &Uai,
    target: &AssignmentTarget,
    persons: &[Person],
    groups: &[Group],
    now: DateTime<Utc>,
) -> Result<(), AssignRefusal> {
    if !manager.manages.contains(uai) {
        return Err(AssignRefusal::NotManager);
    }
    if subscription.assignment_type != AssignmentType::Indiv {
        return Err(AssignRefusal::NotIndividual);
    }
    if subscription.deleted || !subscription.is_valid_at(now) {
        return Err(AssignRefusal::NotInForce);
    }
    if !subscription.covers(uai) {
        return Err(AssignRefusal::NotCovered);
    }
    let known = match target {
        AssignmentTarget::Person { ent, id } => persons.iter().any(|p| {
            &p.ent == ent
                && &p.id == id
                && p.profile_in(uai)
                    .and_then(|pr| pr.audience())
                    .is_some_and(|a| subscription.audiences.contains(&a))
        }),
        AssignmentTarget::Group { code } => groups.iter().any(|g| &g.uai == uai && &g.code == code),
    };
    if known {
        Ok(())
    } else {
        Err(AssignRefusal::UnknownTarget)
    }
}

fn of(c: &AudienceCounts, a: PublicCible) -> u64 {
    match a {
        PublicCible::Eleve => c.eleve,
        PublicCible::Enseignant => c.enseignant,
        PublicCible::Documentaliste => c.documentaliste,
        PublicCible::AutrePersonnel => c.autre_personnel,
    }
}

fn total(c: &AudienceCounts) -> u64 {
    c.eleve + c.enseignant + c.documentaliste + c.autre_personnel
}

/// The licence check: the people reached `after` the assignment, against the subscription's
/// licences. A count already over (the directory grew since) only refuses what adds to it.
pub fn within_licences(
    subscription: &Subscription,
    before: &AudienceCounts,
    after: &AudienceCounts,
) -> Result<(), AssignRefusal> {
    if let Some(LicenceCount::Limited(limit)) = subscription.details.global_licences {
        if total(after) > u64::from(limit) && total(after) > total(before) {
            return Err(AssignRefusal::OverLicences {
                audience: None,
                limit,
            });
        }
    }
    for (audience, count) in &subscription.details.licences {
        if let LicenceCount::Limited(limit) = count {
            if of(after, *audience) > u64::from(*limit)
                && of(after, *audience) > of(before, *audience)
            {
                return Err(AssignRefusal::OverLicences {
                    audience: Some(*audience),
                    limit: *limit,
                });
            }
        }
    }
    Ok(())
}

/// Licences left per audience (`None`: unlimited), and globally.
pub fn left(subscription: &Subscription, used: &AudienceCounts) -> Vec<(String, Option<u64>)> {
    let mut out = Vec::new();
    if let Some(g) = subscription.details.global_licences {
        out.push((
            "toutes".to_string(),
            match g {
                LicenceCount::Limited(n) => Some(u64::from(n).saturating_sub(total(used))),
                LicenceCount::Unlimited => None,
            },
        ));
    }
    for (a, c) in &subscription.details.licences {
        out.push((
            a.code().to_string(),
            match c {
                LicenceCount::Limited(n) => Some(u64::from(*n).saturating_sub(of(used, *a))),
                LicenceCount::Unlimited => None,
            },
        ));
    }
    out
}

/// Adds the counts of several schools.
pub fn sum(parts: &[AudienceCounts]) -> AudienceCounts {
    parts.iter().fold(AudienceCounts::default(), |mut acc, c| {
        acc.eleve += c.eleve;
        acc.enseignant += c.enseignant;
        acc.documentaliste += c.documentaliste;
        acc.autre_personnel += c.autre_personnel;
        acc
    })
}

#[cfg(test)]
#[path = "assign_tests.rs"]
mod tests;
