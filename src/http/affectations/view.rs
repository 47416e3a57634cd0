//! What the assignment page shows of a subscription, in plain French: the licences left and
//! the people already reached, the current assignments (each with a withdrawal that asks for
//! confirmation), and the choice of whom to assign to, grouped (classes, groups, then people by
//! profile), without what is already assigned. School-wide subscriptions are listed read-only.

use crate::domain::assign;
use crate::domain::licence_count::AudienceCounts;
use crate::domain::{Assignment, Group};
use crate::domain::{AssignmentTarget, GroupKind, Person, Profile, PublicCible, Subscription, Uai};
use crate::saml::xml::escape;

/// `n` and the noun, singular or plural.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n <= 1 { one } else { many })
}

fn audience_label(code: &str) -> &'static str {
    match code {
        "toutes" => "tous publics",
        "ELEVE" => "élèves",
        "ENSEIGNANT" => "enseignants",
        "DOCUMENTALISTE" => "documentalistes",
        _ => "autres personnels",
    }
}

/// "Licences : sans limite." or "Licences restantes : élèves : 12, enseignants : sans limite."
pub(super) fn licences(s: &Subscription, used: &AudienceCounts) -> String {
    let left = assign::left(s, used);
    if left.iter().all(|(_, n)| n.is_none()) {
        return "Licences : sans limite.".into();
    }
    let parts: Vec<String> = left
        .iter()
        .map(|(who, n)| {
            let n = n.map_or("sans limite".to_string(), |n| n.to_string());
            format!("{} : {n}", audience_label(who))
        })
        .collect();
    format!("Licences restantes : {}.", parts.join(", "))
}

/// "Déjà affectée à 2 élèves et 1 enseignant." or "Affectée à personne pour l'instant."
pub(super) fn reached(used: &AudienceCounts) -> String {
    let parts: Vec<String> = [
        (used.eleve, "élève", "élèves"),
        (used.enseignant, "enseignant", "enseignants"),
        (used.documentaliste, "documentaliste", "documentalistes"),
        (used.autre_personnel, "autre personnel", "autres personnels"),
    ]
    .into_iter()
    .filter(|(n, ..)| *n > 0)
    .map(|(n, one, many)| count(n, one, many))
    .collect();
    match parts.as_slice() {
        [] => "Affectée à personne pour l'instant.".into(),
        [one] => format!("Déjà affectée à {one}."),
        [rest @ .., last] => format!("Déjà affectée à {} et {last}.", rest.join(", ")),
    }
}

fn profile_label(p: Option<Profile>) -> &'static str {
    match p.and_then(Profile::audience) {
        Some(PublicCible::Eleve) => "élève",
        Some(PublicCible::Enseignant) => "enseignant",
        Some(PublicCible::Documentaliste) => "documentaliste",
        _ => "personnel",
    }
}

/// How an assignment's target reads: "Classe 4e A", "Groupe Latin", "Léa Martin (élève)".
pub(super) fn describe(
    t: &AssignmentTarget,
    uai: &Uai,
    persons: &[Person],
    groups: &[Group],
) -> String {
    match t {
        AssignmentTarget::Person { id, .. } => persons.iter().find(|p| &p.id == id).map_or_else(
            || format!("personne {id}"),
            |p| {
                format!(
                    "{} {} ({})",
                    p.first_name,
                    p.last_name,
                    profile_label(p.profile_in(uai))
                )
            },
        ),
        AssignmentTarget::Group { code } => groups.iter().find(|g| &g.code == code).map_or_else(
            || format!("groupe {code}"),
            |g| format!("{} {}", kind_label(g.kind), g.label),
        ),
    }
}

fn kind_label(k: GroupKind) -> &'static str {
    if k == GroupKind::Division {
        "Classe"
    } else {
        "Groupe"
    }
}

pub(super) fn target_value(t: &AssignmentTarget) -> String {
    match t {
        AssignmentTarget::Person { id, .. } => format!("person:{id}"),
        AssignmentTarget::Group { code } => format!("group:{code}"),
    }
}

/// The `<select>` of whom to assign to: classes, groups, then the people of the
/// subscription's audiences by profile, "Prénom Nom" sorted by name; what is already assigned
/// is left out.
pub(super) fn choices(
    s: &Subscription,
    uai: &Uai,
    current: &[Assignment],
    persons: &[Person],
    groups: &[Group],
) -> String {
    let taken = |v: &str| current.iter().any(|a| target_value(&a.target) == v);
    let mut out = String::new();
    for (kind, label) in [
        (GroupKind::Division, "Classes"),
        (GroupKind::Groupe, "Groupes"),
    ] {
        let options: String = groups
            .iter()
            .filter(|g| g.kind == kind && !taken(&format!("group:{}", g.code)))
            .map(|g| {
                format!(
                    "<option value=\"group:{}\">{}</option>",
                    escape(&g.code),
                    escape(&g.label)
                )
            })
            .collect();
        if !options.is_empty() {
            out.push_str(&format!("<optgroup label=\"{label}\">{options}</optgroup>"));
        }
    }
    for (audience, label) in [
        (PublicCible::Eleve, "Élèves"),
        (PublicCible::Enseignant, "Enseignants"),
        (PublicCible::Documentaliste, "Documentalistes"),
        (PublicCible::AutrePersonnel, "Autres personnels"),
    ] {
        if !s.audiences.contains(&audience) {
            continue;
        }
        let mut people: Vec<&Person> = persons
            .iter()
            .filter(|p| p.profile_in(uai).and_then(Profile::audience) == Some(audience))
            .filter(|p| !taken(&format!("person:{}", p.id)))
            .collect();
        people.sort_by(|a, b| (&a.last_name, &a.first_name).cmp(&(&b.last_name, &b.first_name)));
        let options: String = people
            .iter()
            .map(|p| {
                format!(
                    "<option value=\"person:{}\">{} {}</option>",
                    escape(&p.id),
                    escape(&p.first_name),
                    escape(&p.last_name)
                )
            })
            .collect();
        if !options.is_empty() {
            out.push_str(&format!("<optgroup label=\"{label}\">{options}</optgroup>"));
        }
    }
    out
}

/// The school-wide subscriptions, read-only: nothing to assign, everyone in their audiences.
pub(super) fn school_wide(subs: &[Subscription]) -> String {
    if subs.is_empty() {
        return String::new();
    }
    let items: String = subs
        .iter()
        .map(|s| {
            let audiences: Vec<&str> = s
                .audiences
                .iter()
                .map(|a| audience_label(a.code()))
                .collect();
            let audiences = match audiences.as_slice() {
                [rest @ .., last] if !rest.is_empty() => format!("{} et {last}", rest.join(", ")),
                _ => audiences.join(""),
            };
            format!(
                "<li>{} <small>({})</small> — pour tous les {} de l'établissement</li>",
                escape(if s.resource_label.is_empty() {
                    s.resource_id.as_str()
                } else {
                    &s.resource_label
                }),
                escape(s.external_id()),
                escape(&audiences)
            )
        })
        .collect();
    format!("<h3>Abonnements pour tout l'établissement</h3><p>Ces ressources sont ouvertes à tout leur public sans affectation : il n'y a rien à affecter.</p><ul>{items}</ul>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_as_french() {
        let mut used = AudienceCounts::default();
        assert_eq!(reached(&used), "Affectée à personne pour l'instant.");
        used.eleve = 2;
        assert_eq!(reached(&used), "Déjà affectée à 2 élèves.");
        used.enseignant = 1;
        used.documentaliste = 3;
        assert_eq!(
            reached(&used),
            "Déjà affectée à 2 élèves, 1 enseignant et 3 documentalistes."
        );
    }
}
