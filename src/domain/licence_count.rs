//! Licence counts (`decompteaffectations`): how many people a subscription's assignments reach
//! in one school, per audience, by the same matching as the access rule: every person of a
//! covered audience for `ETABL`, the persons assigned individually or through one of their
//! classes or groups for `INDIV`. A deleted subscription reaches nobody.

use super::directory::Person;
use super::ids::{PublicCible, Uai};
use super::subscription::{Assignment, AssignmentTarget, AssignmentType, Subscription};

/// People reached, per audience.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AudienceCounts {
    pub eleve: u64,
    pub enseignant: u64,
    pub documentaliste: u64,
    pub autre_personnel: u64,
}

impl AudienceCounts {
    fn add(&mut self, audience: PublicCible) {
        match audience {
            PublicCible::Eleve => self.eleve += 1,
            PublicCible::Enseignant => self.enseignant += 1,
            PublicCible::Documentaliste => self.documentaliste += 1,
            PublicCible::AutrePersonnel => self.autre_personnel += 1,
        }
    }
}

/// Counts the people of school `uai` (`persons`, the school's directory) that `subscription`
/// reaches there, given its `assignments` in that school. Each person counts once.
pub fn count(
    subscription: &Subscription,
    uai: &Uai,
    persons: &[Person],
    assignments: &[Assignment],
) -> AudienceCounts {
    let mut counts = AudienceCounts::default();
    if subscription.deleted {
        return counts;
    }
    let mine: Vec<&AssignmentTarget> = assignments
        .iter()
        .filter(|a| a.subscription_id == subscription.id && &a.uai == uai)
        .map(|a| &a.target)
        .collect();
    for person in persons {
        let Some(audience) = person.profile_in(uai).and_then(|p| p.audience()) else {
            continue;
        };
        if !subscription.audiences.contains(&audience) {
            continue;
        }
        let reached = match subscription.assignment_type {
            AssignmentType::Etabl => true,
            AssignmentType::Indiv => mine.iter().any(|t| match t {
                AssignmentTarget::Person { ent, id } => ent == &person.ent && id == &person.id,
                AssignmentTarget::Group { code } => person.group_codes_in(uai).any(|g| g == code),
            }),
        };
        if reached {
            counts.add(audience);
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::directory::{GroupRef, SchoolProfile};
    use crate::domain::Profile;
    use chrono::{TimeZone, Utc};

    fn uai() -> Uai {
        "0561641E".parse().unwrap()
    }

    fn person(id: &str, profile: Profile, groups: &[&str]) -> Person {
        Person {
            ent: "B0".parse().unwrap(),
            id: id.into(),
            last_name: "N".into(),
            first_name: "P".into(),
            civility: None,
            email: None,
            profiles: vec![SchoolProfile {
                uai: uai(),
                profile,
            }],
            groups: groups
                .iter()
                .map(|g| GroupRef {
                    uai: uai(),
                    code: (*g).into(),
                })
                .collect(),
            mefstat4: vec![],
            subjects: vec![],
            manages: vec![],
        }
    }

    fn subscription(kind: AssignmentType, audiences: Vec<PublicCible>) -> Subscription {
        Subscription {
            id: "abo".into(),
            distributor_id: "123456789_0000000000000000".into(),
            resource_id: "ark:/99999/r".parse().unwrap(),
            resource_label: "R".into(),
            valid_from: Utc.with_ymd_and_hms(2026, 8, 15, 0, 0, 0).unwrap(),
            valid_until: Utc.with_ymd_and_hms(2027, 8, 15, 0, 0, 0).unwrap(),
            uais: vec![uai()],
            assignment_type: kind,
            audiences,
            deleted: false,
            details: Default::default(),
        }
    }

    fn school() -> Vec<Person> {
        vec![
            person("e1", Profile::Eleve, &["4A", "LATIN"]),
            person("e2", Profile::Eleve, &["4A"]),
            person("e3", Profile::Eleve, &["3B"]),
            person("t1", Profile::Enseignant, &["4A"]),
            person("d1", Profile::Documentaliste, &[]),
            person("v1", Profile::VieScolaire, &[]),
            person("x1", Profile::Tuteur, &["4A"]),
        ]
    }

    fn assign(target: AssignmentTarget) -> Assignment {
        Assignment {
            subscription_id: "abo".into(),
            uai: uai(),
            target,
        }
    }

    #[test]
    fn establishment_wide_subscriptions_reach_every_covered_person() {
        let all = vec![
            PublicCible::Eleve,
            PublicCible::Enseignant,
            PublicCible::Documentaliste,
            PublicCible::AutrePersonnel,
        ];
        let s = subscription(AssignmentType::Etabl, all);
        assert_eq!(
            count(&s, &uai(), &school(), &[]),
            AudienceCounts {
                eleve: 3,
                enseignant: 1,
                documentaliste: 1,
                autre_personnel: 1
            },
            "tutors are no audience"
        );
        let s = subscription(AssignmentType::Etabl, vec![PublicCible::Enseignant]);
        assert_eq!(
            count(&s, &uai(), &school(), &[]),
            AudienceCounts {
                enseignant: 1,
                ..Default::default()
            }
        );
    }

    #[test]
    fn individual_subscriptions_reach_assigned_people_once() {
        let s = subscription(
            AssignmentType::Indiv,
            vec![PublicCible::Eleve, PublicCible::Enseignant],
        );
        let assignments = [
            assign(AssignmentTarget::Group { code: "4A".into() }),
            // Also in 4A: counted once.
            assign(AssignmentTarget::Person {
                ent: "B0".parse().unwrap(),
                id: "e1".into(),
            }),
            // A librarian, not covered by the subscription.
            assign(AssignmentTarget::Person {
                ent: "B0".parse().unwrap(),
                id: "d1".into(),
            }),
            // Another subscription's assignment.
            Assignment {
                subscription_id: "other".into(),
                ..assign(AssignmentTarget::Group { code: "3B".into() })
            },
        ];
        assert_eq!(
            count(&s, &uai(), &school(), &assignments),
            AudienceCounts {
                eleve: 2,
                enseignant: 1,
                ..Default::default()
            }
        );
        let mut deleted = s.clone();
        deleted.deleted = true;
        assert_eq!(
            count(&deleted, &uai(), &school(), &assignments),
            AudienceCounts::default()
        );
    }
}
