//! The demo's world: one school, its classes and groups, three users, five resources with
//! their subscriptions, assignments and validated attribute lists. The demo seeds the
//! directory through the feed, the subscriptions through the web service and the assignments
//! through the assignment rule (see `seeding`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};

use crate::domain::directory::{GroupRef, SchoolCode, SchoolProfile, SchoolSubject};
use crate::domain::{
    Assignment, AssignmentTarget, AssignmentType, AttributeName, Directory, Group, GroupKind,
    IdEnt, Person, Profile, Protocol, PublicCible, ReleasePolicy, Resource, School, Subscription,
    Uai,
};

pub const ENT_ID: &str = "B0";
pub const DISTRIBUTOR: &str = "123456789_0000000000000000";
pub const SCHOOL_NUMBER: u32 = 561_641;

/// A demo user as the demo ENT shows it.
pub struct DemoUser {
    pub id: &'static str,
    pub label: &'static str,
}

pub const USERS: [DemoUser; 3] = [
    DemoUser {
        id: "eleve-demo-1",
        label: "Léa Martin — élève de 4e A",
    },
    DemoUser {
        id: "ens-demo-1",
        label: "Paul Durand — professeur de mathématiques",
    },
    DemoUser {
        id: "doc-demo-1",
        label: "Claire Bernard — professeure documentaliste",
    },
];

/// A demo resource: short name (its path at the demo resource), ARK and title.
pub struct DemoResource {
    pub short: &'static str,
    pub ark: &'static str,
    pub title: &'static str,
}

pub const RESOURCES: [DemoResource; 3] = [
    DemoResource {
        short: "manuel-maths",
        ark: "ark:/99999/demo.manuel-maths",
        title: "Manuel de mathématiques 4e",
    },
    DemoResource {
        short: "dictionnaire",
        ark: "ark:/99999/demo.dictionnaire",
        title: "Dictionnaire junior",
    },
    DemoResource {
        short: "atlas",
        ark: "ark:/99999/demo.atlas",
        title: "Atlas historique",
    },
];

/// The demo resource that logs users in over OpenID Connect, at the demo OIDC resource.
pub const OIDC_RESOURCE: DemoResource = DemoResource {
    short: "atelier",
    ark: "ark:/99999/demo.atelier-sciences",
    title: "Atelier de sciences",
};
pub const OIDC_DISTRIBUTOR: &str = "111111111_0000000000000000";

/// The demo resource that logs users in over CAS, at the demo CAS resource.
pub const CAS_RESOURCE: DemoResource = DemoResource {
    short: "cahier",
    ark: "ark:/99999/demo.cahier-de-textes",
    title: "Cahier de textes",
};
pub const CAS_DISTRIBUTOR: &str = "222222222_0000000000000000";

/// The CAS resource, served by the demo CAS resource at `base`: its service URL is the access
/// URL, as django-gar's `/?sso_id=gar`.
pub fn cas_resource(base: &str) -> anyhow::Result<Resource> {
    use AttributeName::*;
    Ok(Resource {
        id: CAS_RESOURCE.ark.parse()?,
        name: CAS_RESOURCE.title.into(),
        provider: "demo-cahier".into(),
        editor_id: CAS_DISTRIBUTOR.into(),
        editor_name: "Cahier Démo".into(),
        technical_distributor: CAS_DISTRIBUTOR.into(),
        commercial_distributors: Vec::new(),
        access_url: cas_service(base),
        protocol: Protocol::Cas,
        category: Some("RESSOURCE_PRODUCTION".into()),
        release: ReleasePolicy {
            by_profile: [
                (
                    Profile::Eleve,
                    names(&[Ido, Uai, Pro, Div, Idc, Lra, IdEnt]),
                ),
                (
                    Profile::Enseignant,
                    names(&[Ido, Uai, Pro, Nom, Pre, Div, Idc, IdEnt]),
                ),
                (Profile::Documentaliste, names(&[Ido, Uai, Pro])),
            ]
            .into_iter()
            .collect(),
        },
        sites: vec![format!("{base}/"), format!("{base}/aide/")],
        display: crate::domain::Display {
            type_presentation: crate::domain::Presentation {
                code: "MUL".into(),
                nom: "ressources d'enseignement multimédias".into(),
            },
            ..Default::default()
        },
    })
}

/// The demo CAS resource's service URL.
pub fn cas_service(base: &str) -> String {
    format!("{base}/?sso_id=gar")
}
pub const OIDC_CLIENT_ID: &str = "demo-atelier";

/// The OIDC resource, served by the demo OIDC resource at `base`.
pub fn oidc_resource(base: &str) -> anyhow::Result<Resource> {
    use AttributeName::*;
    Ok(Resource {
        id: OIDC_RESOURCE.ark.parse()?,
        name: OIDC_RESOURCE.title.into(),
        provider: "demo-atelier".into(),
        editor_id: OIDC_DISTRIBUTOR.into(),
        editor_name: "Atelier Démo".into(),
        technical_distributor: OIDC_DISTRIBUTOR.into(),
        commercial_distributors: Vec::new(),
        access_url: format!("{base}/ressource/{}", OIDC_RESOURCE.short),
        protocol: Protocol::Oidc,
        category: Some("RESSOURCE_PRODUCTION".into()),
        release: ReleasePolicy {
            by_profile: [
                (Profile::Eleve, names(&[Ido, Uai, Pro, Div])),
                (Profile::Enseignant, names(&[Ido, Uai, Pro, Nom, Pre, PMat])),
                (Profile::Documentaliste, names(&[Ido, Uai, Pro])),
            ]
            .into_iter()
            .collect(),
        },
        sites: Vec::new(),
        display: crate::domain::Display {
            type_presentation: crate::domain::Presentation {
                code: "MUL".into(),
                nom: "ressources d'enseignement multimédias".into(),
            },
            ..Default::default()
        },
    })
}

pub fn uai() -> anyhow::Result<Uai> {
    Ok(Uai::from_number(SCHOOL_NUMBER)?)
}

fn names(list: &[AttributeName]) -> BTreeSet<AttributeName> {
    list.iter().copied().collect()
}

/// The catalogue, served by the demo resource at `resource_base`.
pub fn catalogue(resource_base: &str) -> anyhow::Result<Vec<Resource>> {
    use AttributeName::*;
    let policies: [BTreeMap<Profile, BTreeSet<AttributeName>>; 3] = [
        [
            (Profile::Eleve, names(&[Ido, Uai, Pro, Div, Gro, EMs4])),
            (
                Profile::Enseignant,
                names(&[
                    Ido, Uai, Pro, Nom, Pre, Civ, PMel, Div, Gro, DivApp, PMs4, PMat,
                ]),
            ),
            (Profile::Documentaliste, names(&[Ido, Uai, Pro, Nom, Pre])),
        ]
        .into_iter()
        .collect(),
        [
            (Profile::Eleve, names(&[Ido, Uai, Pro])),
            (Profile::Enseignant, names(&[Ido, Uai, Pro])),
            (Profile::Documentaliste, names(&[Ido, Uai, Pro])),
        ]
        .into_iter()
        .collect(),
        [
            (Profile::Eleve, names(&[Ido, Uai, Pro, Div])),
            (Profile::Enseignant, names(&[Ido, Uai, Pro, Nom, Pre, Div])),
        ]
        .into_iter()
        .collect(),
    ];
    let categories = [
        "MANUEL_NUMERIQUE",
        "RESSOURCE_REFERENCE_DICTIONNAIRE",
        "RESSOURCE_DOCUMENTAIRE",
    ];
    RESOURCES
        .iter()
        .zip(policies)
        .zip(categories)
        .map(|((r, by_profile), category)| {
            Ok(Resource {
                id: r.ark.parse()?,
                name: r.title.to_string(),
                provider: "demo-editeur".into(),
                editor_id: DISTRIBUTOR.into(),
                editor_name: "Éditions Démo".into(),
                technical_distributor: DISTRIBUTOR.into(),
                commercial_distributors: Vec::new(),
                access_url: format!("{resource_base}/ressource/{}", r.short),
                protocol: Protocol::Saml,
                category: Some(category.into()),
                release: ReleasePolicy { by_profile },
                sites: Vec::new(),
                display: crate::domain::Display {
                    type_presentation: crate::domain::Presentation {
                        code: "MUL".into(),
                        nom: "ressources d'enseignement multimédias".into(),
                    },
                    ..Default::default()
                },
            })
        })
        .collect()
}

/// The ENT of the demo.
pub fn ent() -> anyhow::Result<IdEnt> {
    Ok(ENT_ID.parse()?)
}

/// The teacher who is also the school's assignment manager (`RespAff`).
pub const MANAGER: &str = "ens-demo-1";

/// The directory the demo ENT exports: one collège, a class and a Latin group, a pupil, a
/// teacher who assigns the school's licences and a librarian.
pub fn directory() -> anyhow::Result<Directory> {
    let ent = ent()?;
    let uai = uai()?;
    let at = |code: &str| GroupRef {
        uai: uai.clone(),
        code: code.into(),
    };
    let profile = |p: Profile| {
        vec![SchoolProfile {
            uai: uai.clone(),
            profile: p,
        }]
    };
    let person = |id: &str, last: &str, first: &str, civ: &str, p: Profile| Person {
        ent: ent.clone(),
        id: id.into(),
        last_name: last.into(),
        first_name: first.into(),
        civility: Some(civ.into()),
        email: None,
        profiles: profile(p),
        groups: vec![],
        mefstat4: vec![],
        subjects: vec![],
        manages: vec![],
    };
    let mut pupil = person("eleve-demo-1", "Martin", "Léa", "Mme", Profile::Eleve);
    pupil.groups = vec![at("4A"), at("LATIN-4")];
    pupil.mefstat4 = vec![SchoolCode {
        uai: uai.clone(),
        code: "2113".into(),
    }];
    let mut teacher = person(MANAGER, "Durand", "Paul", "M.", Profile::Enseignant);
    teacher.email = Some("paul.durand@ac-demo.test".into());
    // The teacher also assigns the school's licences (a RespAff of the directory).
    teacher.manages = vec![uai.clone()];
    teacher.groups = vec![at("4A"), at("LATIN-4")];
    teacher.mefstat4 = vec![
        SchoolCode {
            uai: uai.clone(),
            code: "2113".into(),
        },
        SchoolCode {
            uai: uai.clone(),
            code: "2112".into(),
        },
    ];
    teacher.subjects = vec![SchoolSubject {
        uai: uai.clone(),
        code: "061300".into(),
        label: "MATHEMATIQUES".into(),
    }];
    let mut librarian = person(
        "doc-demo-1",
        "Bernard",
        "Claire",
        "Mme",
        Profile::Documentaliste,
    );
    librarian.email = Some("claire.bernard@ac-demo.test".into());

    Ok(Directory {
        // The export carries no nature or academy: they come from the BCE, not from the ENT.
        schools: vec![School {
            uai: uai.clone(),
            ent: ent.clone(),
            name: "Collège Démo".into(),
            nature: None,
            academy: None,
            degree: Some(crate::domain::Degree::Secondary),
        }],
        persons: vec![pupil, teacher, librarian],
        groups: vec![
            Group {
                uai: uai.clone(),
                code: "4A".into(),
                label: "4e A".into(),
                kind: GroupKind::Division,
                divisions: vec![],
            },
            Group {
                uai: uai.clone(),
                code: "LATIN-4".into(),
                label: "Latin 4e".into(),
                kind: GroupKind::Groupe,
                divisions: vec!["4A".into()],
            },
        ],
    })
}

/// The demo's subscriptions (valid from a month ago to next 15 August), each with the key of
/// the provider that creates it.
pub fn subscriptions(now: DateTime<Utc>) -> anyhow::Result<Vec<(&'static str, Subscription)>> {
    let uai = uai()?;
    let year_end = {
        let y = now.format("%Y").to_string().parse::<i32>()?;
        let aug15 = |y: i32| format!("{y}-08-15T00:00:00Z").parse::<DateTime<Utc>>();
        let this = aug15(y)?;
        if now < this {
            this
        } else {
            aug15(y + 1)?
        }
    };
    let sub = |id: &str,
               r: usize,
               kind: AssignmentType,
               audiences: Vec<PublicCible>|
     -> anyhow::Result<Subscription> {
        Ok(Subscription {
            id: id.into(),
            distributor_id: DISTRIBUTOR.into(),
            resource_id: RESOURCES[r].ark.parse()?,
            resource_label: RESOURCES[r].title.into(),
            valid_from: now - Duration::days(30),
            valid_until: year_end,
            uais: vec![uai.clone()],
            assignment_type: kind,
            audiences,
            deleted: false,
            details: Default::default(),
        })
    };
    use PublicCible::*;
    // The OIDC and CAS resources: for the whole school.
    let whole_school =
        |id: &str, distributor: &str, r: &DemoResource| -> anyhow::Result<Subscription> {
            Ok(Subscription {
                id: id.into(),
                distributor_id: distributor.into(),
                resource_id: r.ark.parse()?,
                resource_label: r.title.into(),
                valid_from: now - Duration::days(30),
                valid_until: year_end,
                uais: vec![uai.clone()],
                assignment_type: AssignmentType::Etabl,
                audiences: vec![Eleve, Enseignant, Documentaliste],
                deleted: false,
                details: Default::default(),
            })
        };
    Ok(vec![
        (
            "demo-atelier",
            whole_school("demo-abo-atelier", OIDC_DISTRIBUTOR, &OIDC_RESOURCE)?,
        ),
        (
            "demo-cahier",
            whole_school("demo-abo-cahier", CAS_DISTRIBUTOR, &CAS_RESOURCE)?,
        ),
        (
            "demo-editeur",
            sub(
                "demo-abo-manuel",
                0,
                AssignmentType::Etabl,
                vec![Eleve, Enseignant, Documentaliste],
            )?,
        ),
        (
            "demo-editeur",
            sub(
                "demo-abo-dico",
                1,
                AssignmentType::Indiv,
                vec![Eleve, Enseignant, Documentaliste],
            )?,
        ),
        (
            "demo-editeur",
            sub(
                "demo-abo-atlas",
                2,
                AssignmentType::Indiv,
                vec![Eleve, Enseignant],
            )?,
        ),
    ])
}

/// The individual assignments the school's manager makes.
pub fn assignments() -> anyhow::Result<Vec<Assignment>> {
    let ent = ent()?;
    let uai = uai()?;
    Ok(vec![
        Assignment {
            subscription_id: "demo-abo-dico".into(),
            uai: uai.clone(),
            target: AssignmentTarget::Group {
                code: "LATIN-4".into(),
            },
        },
        Assignment {
            subscription_id: "demo-abo-dico".into(),
            uai: uai.clone(),
            target: AssignmentTarget::Person {
                ent: ent.clone(),
                id: "doc-demo-1".into(),
            },
        },
        Assignment {
            subscription_id: "demo-abo-atlas".into(),
            uai: uai.clone(),
            target: AssignmentTarget::Person {
                ent: ent.clone(),
                id: MANAGER.into(),
            },
        },
    ])
}
