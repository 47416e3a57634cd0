//! The store contract: what every `Store` implementation must do. Run by `store_contract`
//! (memory, single Redis) and `store_cluster` (Redis Cluster).

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use passerelle::domain::directory::{GroupRef, SchoolProfile};
use passerelle::domain::*;
use passerelle::session::{PendingLogin, Session};
use passerelle::store::Store;

fn uai(n: u32) -> Uai {
    Uai::from_number(n).unwrap()
}

fn ent() -> IdEnt {
    "B0".parse().unwrap()
}

fn session(id: &str) -> Session {
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap();
    Session::opened(
        id.into(),
        ent(),
        "p1".into(),
        now,
        chrono::Duration::hours(6),
    )
}

fn person(id: &str, school: u32) -> Person {
    Person {
        ent: ent(),
        id: id.into(),
        last_name: format!("Nom {id}"),
        first_name: "Prénom".into(),
        civility: None,
        email: None,
        profiles: vec![SchoolProfile {
            uai: uai(school),
            profile: Profile::Eleve,
        }],
        groups: vec![GroupRef {
            uai: uai(school),
            code: "4A".into(),
        }],
        mefstat4: vec![],
        subjects: vec![],
        manages: vec![],
    }
}

fn directory(persons: usize, schools: &[u32], tag: &str) -> Directory {
    Directory {
        schools: schools
            .iter()
            .map(|&n| School {
                uai: uai(n),
                ent: ent(),
                name: format!("École {n} {tag}"),
                nature: Some("340".into()),
                academy: None,
                degree: None,
            })
            .collect(),
        persons: (0..persons)
            .map(|i| {
                let mut p = person(&format!("p{i}"), schools[0]);
                p.last_name = format!("{tag}-{i}");
                p
            })
            .collect(),
        groups: schools
            .iter()
            .map(|&n| Group {
                uai: uai(n),
                code: "4A".into(),
                label: format!("4e A {tag}"),
                kind: GroupKind::Division,
                divisions: vec![],
            })
            .collect(),
    }
}

fn subscription(id: &str, resource: &str, uais: &[u32]) -> Subscription {
    Subscription {
        id: id.into(),
        distributor_id: "123456789_0000000000000000".into(),
        resource_id: resource.parse().unwrap(),
        resource_label: "R".into(),
        valid_from: Utc.with_ymd_and_hms(2026, 8, 15, 0, 0, 0).unwrap(),
        valid_until: Utc.with_ymd_and_hms(2027, 8, 15, 0, 0, 0).unwrap(),
        uais: uais.iter().map(|&n| uai(n)).collect(),
        assignment_type: AssignmentType::Indiv,
        audiences: vec![PublicCible::Eleve],
        deleted: false,
        details: Default::default(),
    }
}

pub async fn sessions(store: Arc<dyn Store>) {
    assert_eq!(store.get_session("s1").await.unwrap(), None);
    store
        .put_session(&session("s1"), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(store.get_session("s1").await.unwrap(), Some(session("s1")));
    let mut changed = session("s1");
    changed.person_id = "p2".into();
    store
        .put_session(&changed, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        store.get_session("s1").await.unwrap().unwrap().person_id,
        "p2"
    );
    store.delete_session("s1").await.unwrap();
    assert_eq!(store.get_session("s1").await.unwrap(), None);
    // Expiry.
    store
        .put_session(&session("s2"), Duration::from_millis(300))
        .await
        .unwrap();
    assert!(store.get_session("s2").await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(store.get_session("s2").await.unwrap(), None);
}

fn pending(id: &str) -> PendingLogin {
    PendingLogin {
        id: id.into(),
        ent: ent(),
        target: None,
        resume: None,
        created_at: Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap(),
        extra: None,
        forced: false,
        passive: false,
    }
}

pub async fn pending_logins(store: Arc<dyn Store>) {
    store
        .put_pending_login(&pending("_r1"), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        store.get_pending_login("_r1").await.unwrap(),
        Some(pending("_r1"))
    );
    assert_eq!(
        store.get_pending_login("_r1").await.unwrap(),
        Some(pending("_r1")),
        "get does not consume"
    );
    assert_eq!(
        store.take_pending_login("_r1").await.unwrap(),
        Some(pending("_r1"))
    );
    assert_eq!(
        store.take_pending_login("_r1").await.unwrap(),
        None,
        "take consumes"
    );
    assert_eq!(store.get_pending_login("_r1").await.unwrap(), None);
    // Concurrent takes: exactly one wins.
    store
        .put_pending_login(&pending("_r2"), Duration::from_secs(60))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let s = store.clone();
            tokio::spawn(async move { s.take_pending_login("_r2").await.unwrap().is_some() })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap());
    }
    assert_eq!(winners, 1);
    // Expiry.
    store
        .put_pending_login(&pending("_r3"), Duration::from_millis(300))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(store.take_pending_login("_r3").await.unwrap(), None);
}

pub async fn remember_once(store: Arc<dyn Store>) {
    assert!(store
        .remember_once("saml-assertion:B0", "_a1", Duration::from_secs(60))
        .await
        .unwrap());
    assert!(!store
        .remember_once("saml-assertion:B0", "_a1", Duration::from_secs(60))
        .await
        .unwrap());
    assert!(
        store
            .remember_once("saml-assertion:Z0", "_a1", Duration::from_secs(60))
            .await
            .unwrap(),
        "namespaces are separate"
    );
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let s = store.clone();
            tokio::spawn(async move {
                s.remember_once("race", "_a2", Duration::from_secs(60))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut firsts = 0;
    for t in tasks {
        firsts += usize::from(t.await.unwrap());
    }
    assert_eq!(firsts, 1);
    assert!(store
        .remember_once("short", "_a3", Duration::from_millis(300))
        .await
        .unwrap());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        store
            .remember_once("short", "_a3", Duration::from_millis(300))
            .await
            .unwrap(),
        "forgotten after its TTL"
    );
}

pub async fn tokens(store: Arc<dyn Store>) {
    let v = serde_json::json!({"client_id": "c1", "n": 1});
    assert_eq!(store.get_token("code", "h1").await.unwrap(), None);
    store
        .put_token("code", "h1", &v, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        store.get_token("code", "h1").await.unwrap(),
        Some(v.clone())
    );
    assert_eq!(
        store.get_token("refresh", "h1").await.unwrap(),
        None,
        "kinds are separate"
    );
    store.delete_token("code", "h1").await.unwrap();
    assert_eq!(store.get_token("code", "h1").await.unwrap(), None);
    store
        .put_token("code", "h2", &v, Duration::from_millis(300))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        store.get_token("code", "h2").await.unwrap(),
        None,
        "gone after its TTL"
    );
    taken_once(store).await;
}

/// `take_token`: of many concurrent takers exactly one gets the record, and nothing is left;
/// an expired record is taken by nobody.
async fn taken_once(store: Arc<dyn Store>) {
    let v = serde_json::json!({"service": "https://app.example/"});
    store
        .put_token("cas-st", "t1", &v, Duration::from_secs(60))
        .await
        .unwrap();
    let takers: Vec<_> = (0..16)
        .map(|_| {
            let s = store.clone();
            tokio::spawn(async move { s.take_token("cas-st", "t1").await.unwrap() })
        })
        .collect();
    let mut got = Vec::new();
    for t in takers {
        got.extend(t.await.unwrap());
    }
    assert_eq!(got, vec![v.clone()], "exactly one taker gets the record");
    assert_eq!(store.get_token("cas-st", "t1").await.unwrap(), None);
    assert_eq!(store.take_token("cas-st", "t1").await.unwrap(), None);
    store
        .put_token("cas-st", "t2", &v, Duration::from_millis(300))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        store.take_token("cas-st", "t2").await.unwrap(),
        None,
        "an expired record is taken by nobody"
    );
}

/// A school belongs to one ENT: an import binds it, an operator's move rebinds it, and the
/// former ENT's next import does not take it back nor unbind it.
pub async fn school_bindings(store: Arc<dyn Store>) {
    let other: IdEnt = "Z0".parse().unwrap();
    store
        .replace_directory(&ent(), &directory(1, &[1, 2], "v1"))
        .await
        .unwrap();
    assert_eq!(
        store.school_bindings().await.unwrap(),
        vec![(uai(1), ent()), (uai(2), ent())]
    );
    assert_eq!(
        store.bind_school(&uai(2), &other).await.unwrap(),
        Some(ent()),
        "the ENT it was bound to"
    );
    assert_eq!(
        store.school(&uai(2)).await.unwrap(),
        None,
        "served again once its new ENT imports it"
    );
    store
        .replace_directory(&ent(), &directory(1, &[1], "v2"))
        .await
        .unwrap();
    assert_eq!(
        store.school_bindings().await.unwrap(),
        vec![(uai(1), ent()), (uai(2), other.clone())],
        "the former ENT's import without the school keeps the move"
    );
    assert_eq!(store.bind_school(&uai(3), &other).await.unwrap(), None);
    store
        .replace_directory(&other, &directory(0, &[2, 3], "z"))
        .await
        .unwrap();
    assert_eq!(
        store.school(&uai(2)).await.unwrap().unwrap().name,
        "École 2 z"
    );
    assert_eq!(
        store.school_bindings().await.unwrap(),
        vec![
            (uai(1), ent()),
            (uai(2), other.clone()),
            (uai(3), other.clone())
        ]
    );
    // The store itself refuses a directory naming a school bound to another ENT, whole: the
    // check and the binding are one step, whatever an import checked before.
    assert_eq!(
        store
            .replace_directory(&ent(), &directory(5, &[1, 3], "v3"))
            .await
            .unwrap(),
        passerelle::store::Replaced::SchoolTaken {
            uai: uai(3),
            ent: other.clone()
        }
    );
    assert_eq!(
        store.person(&ent(), "p4").await.unwrap(),
        None,
        "nothing replaced"
    );
    assert_eq!(
        store.school(&uai(1)).await.unwrap().unwrap().name,
        "École 1 v2"
    );
    assert_eq!(
        store.school_bindings().await.unwrap(),
        vec![(uai(1), ent()), (uai(2), other.clone()), (uai(3), other)]
    );
}

pub async fn directories(store: Arc<dyn Store>) {
    assert_eq!(store.person(&ent(), "p0").await.unwrap(), None);
    assert_eq!(store.school(&uai(1)).await.unwrap(), None);
    store
        .replace_directory(&ent(), &directory(3, &[1, 2], "v1"))
        .await
        .unwrap();
    assert_eq!(
        store.person(&ent(), "p2").await.unwrap().unwrap().last_name,
        "v1-2"
    );
    assert_eq!(
        store.school(&uai(2)).await.unwrap().unwrap().name,
        "École 2 v1"
    );
    assert_eq!(
        store.school_groups(&uai(1)).await.unwrap()[0].label,
        "4e A v1"
    );
    assert_eq!(
        store.person(&"Z0".parse().unwrap(), "p2").await.unwrap(),
        None,
        "another ENT's directory"
    );
    let mut members: Vec<String> = store
        .school_persons(&uai(1))
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.last_name)
        .collect();
    members.sort();
    assert_eq!(members, ["v1-0", "v1-1", "v1-2"]);
    assert_eq!(
        store.school_persons(&uai(2)).await.unwrap(),
        vec![],
        "a school where nobody has a profile"
    );
    // A new export without p2 and without school 2 replaces the whole directory.
    store
        .replace_directory(&ent(), &directory(2, &[1], "v2"))
        .await
        .unwrap();
    assert_eq!(
        store.person(&ent(), "p1").await.unwrap().unwrap().last_name,
        "v2-1"
    );
    assert_eq!(store.person(&ent(), "p2").await.unwrap(), None);
    assert_eq!(store.school(&uai(2)).await.unwrap(), None);
    assert_eq!(store.school_groups(&uai(2)).await.unwrap(), vec![]);
    assert_eq!(
        store.school(&uai(1)).await.unwrap().unwrap().name,
        "École 1 v2"
    );
    let mut members: Vec<String> = store
        .school_persons(&uai(1))
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.last_name)
        .collect();
    members.sort();
    assert_eq!(members, ["v2-0", "v2-1"], "the new export's members only");
    assert_eq!(store.school_persons(&uai(3)).await.unwrap(), vec![]);
}

pub async fn readers_never_see_a_mix(store: Arc<dyn Store>) {
    store
        .replace_directory(&ent(), &directory(20_000, &[1], "A"))
        .await
        .unwrap();
    let writer = {
        let s = store.clone();
        tokio::spawn(async move {
            for round in 0..4 {
                let tag = if round % 2 == 0 { "B" } else { "A" };
                s.replace_directory(&ent(), &directory(20_000, &[1], tag))
                    .await
                    .unwrap();
            }
        })
    };
    let mut reads = 0;
    while !writer.is_finished() {
        let p = store
            .person(&ent(), "p19999")
            .await
            .unwrap()
            .expect("a person present in every version");
        let school = store
            .school(&uai(1))
            .await
            .unwrap()
            .expect("a school present in every version");
        assert!(
            p.last_name == "A-19999" || p.last_name == "B-19999",
            "{}",
            p.last_name
        );
        assert!(school.name.ends_with(" A") || school.name.ends_with(" B"));
        reads += 1;
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();
    assert!(reads > 0);
    assert_eq!(
        store.person(&ent(), "p5").await.unwrap().unwrap().last_name,
        "A-5"
    );
}

fn resource(id: &str) -> Resource {
    Resource {
        id: id.parse().unwrap(),
        name: format!("Ressource {id}"),
        provider: "p".into(),
        editor_id: "e".into(),
        editor_name: "E".into(),
        technical_distributor: "123456789_0000000000000000".into(),
        commercial_distributors: Vec::new(),
        access_url: "https://r.test/".into(),
        protocol: Protocol::Saml,
        category: None,
        release: ReleasePolicy::default(),
        sites: Vec::new(),
        display: Display::default(),
    }
}

pub async fn catalogue(store: Arc<dyn Store>) {
    store.put_resource(&resource("ark:/1/b")).await.unwrap();
    store.put_resource(&resource("ark:/1/a")).await.unwrap();
    assert_eq!(
        store.resource(&"ark:/1/a".parse().unwrap()).await.unwrap(),
        Some(resource("ark:/1/a"))
    );
    assert_eq!(
        store.resource(&"ark:/1/z".parse().unwrap()).await.unwrap(),
        None
    );
    let ids: Vec<String> = store
        .resources()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(ids, ["ark:/1/a", "ark:/1/b"]);
}

pub async fn subscriptions(store: Arc<dyn Store>) {
    let res: ResourceId = "ark:/1/r".parse().unwrap();
    let other: ResourceId = "ark:/1/other".parse().unwrap();
    store
        .put_subscription(&subscription("s2", "ark:/1/r", &[1, 2]))
        .await
        .unwrap();
    store
        .put_subscription(&subscription("s1", "ark:/1/r", &[1]))
        .await
        .unwrap();
    let ids = |v: Vec<Subscription>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.subscriptions_for(&res, &uai(1)).await.unwrap()),
        ["s1", "s2"]
    );
    assert_eq!(
        ids(store.subscriptions_for(&res, &uai(2)).await.unwrap()),
        ["s2"]
    );
    assert_eq!(
        store.subscription("s1").await.unwrap(),
        Some(subscription("s1", "ark:/1/r", &[1]))
    );
    // An update moving s2 to another resource and school leaves no stale index entry.
    store
        .put_subscription(&subscription("s2", "ark:/1/other", &[3]))
        .await
        .unwrap();
    assert_eq!(
        ids(store.subscriptions_for(&res, &uai(1)).await.unwrap()),
        ["s1"]
    );
    assert!(store
        .subscriptions_for(&res, &uai(2))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ids(store.subscriptions_for(&other, &uai(3)).await.unwrap()),
        ["s2"]
    );
    // Per school, whatever the resource, with the same care for updates.
    assert_eq!(ids(store.subscriptions_at(&uai(1)).await.unwrap()), ["s1"]);
    assert!(store.subscriptions_at(&uai(2)).await.unwrap().is_empty());
    assert_eq!(ids(store.subscriptions_at(&uai(3)).await.unwrap()), ["s2"]);
    // Re-indexing existing data is idempotent and leaves the same answers.
    let distributor = subscription("s1", "ark:/1/r", &[1]).distributor_id;
    store
        .reindex_subscriptions(std::slice::from_ref(&distributor))
        .await
        .unwrap();
    assert_eq!(
        store.reindex_subscriptions(&[distributor]).await.unwrap(),
        0
    );
    assert_eq!(ids(store.subscriptions_at(&uai(3)).await.unwrap()), ["s2"]);
    // Creation only when absent, even racing.
    assert!(!store
        .create_subscription(&subscription("s1", "ark:/1/r", &[9]))
        .await
        .unwrap());
    assert_eq!(
        store.subscription("s1").await.unwrap().unwrap().uais,
        vec![uai(1)],
        "not overwritten"
    );
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let s = store.clone();
            tokio::spawn(async move {
                s.create_subscription(&subscription("s-race", "ark:/1/r", &[i + 1]))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        created += usize::from(t.await.unwrap());
    }
    assert_eq!(created, 1);
    // Listed by commercial distributor; moving to another distributor moves it.
    let by = |d: &'static str| {
        let store = store.clone();
        async move {
            store
                .subscriptions_of(d)
                .await
                .unwrap()
                .into_iter()
                .map(|s| s.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        by("123456789_0000000000000000").await,
        ["s-race", "s1", "s2"]
    );
    let mut moved = subscription("s2", "ark:/1/other", &[3]);
    moved.distributor_id = "987654321_0000000000000000".into();
    store.put_subscription(&moved).await.unwrap();
    assert_eq!(by("123456789_0000000000000000").await, ["s-race", "s1"]);
    assert_eq!(by("987654321_0000000000000000").await, ["s2"]);
    // Deleted subscriptions stay listed, flagged.
    let mut deleted = subscription("s1", "ark:/1/r", &[1]);
    deleted.deleted = true;
    store.put_subscription(&deleted).await.unwrap();
    assert!(store
        .subscriptions_for(&res, &uai(1))
        .await
        .unwrap()
        .iter()
        .any(|s| s.id == "s1" && s.deleted));
}

pub async fn assignments(store: Arc<dyn Store>) {
    let a = Assignment {
        subscription_id: "s1".into(),
        uai: uai(1),
        target: AssignmentTarget::Group { code: "4A".into() },
    };
    let b = Assignment {
        subscription_id: "s1".into(),
        uai: uai(1),
        target: AssignmentTarget::Person {
            ent: ent(),
            id: "p1".into(),
        },
    };
    assert!(store.add_assignment(&a).await.unwrap());
    assert!(!store.add_assignment(&a).await.unwrap());
    assert!(store.add_assignment(&b).await.unwrap());
    let mut listed = store.assignments("s1", &uai(1)).await.unwrap();
    listed.sort_by_key(|x| format!("{:?}", x.target));
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&a) && listed.contains(&b));
    assert!(store.assignments("s1", &uai(2)).await.unwrap().is_empty());
    assert!(store.remove_assignment(&a).await.unwrap());
    assert!(!store.remove_assignment(&a).await.unwrap());
    assert_eq!(
        store.assignments("s1", &uai(1)).await.unwrap(),
        vec![b.clone()]
    );

    // Versioned additions: a write based on a stale read is refused; removals move it on.
    use passerelle::store::Conditional;
    let v = store.assignments_version("s1").await.unwrap();
    assert_eq!(
        store.add_assignment_if(&a, v + 1).await.unwrap(),
        Conditional::Conflict
    );
    assert_eq!(
        store.add_assignment_if(&a, v).await.unwrap(),
        Conditional::Done
    );
    assert_eq!(store.assignments_version("s1").await.unwrap(), v + 1);
    assert_eq!(
        store.add_assignment_if(&a, v).await.unwrap(),
        Conditional::Conflict
    );
    assert_eq!(
        store.add_assignment_if(&a, v + 1).await.unwrap(),
        Conditional::Unchanged
    );
    assert!(store.remove_assignment(&b).await.unwrap());
    assert_eq!(store.assignments_version("s1").await.unwrap(), v + 2);
    assert_eq!(store.assignments_version("s2").await.unwrap(), 0);
    assert_eq!(store.assignments("s1", &uai(1)).await.unwrap(), vec![a]);
}

/// The listing probe reads the live directory, and every write a school's listing depends on
/// moves that school's stamp (and only the schools it touches).
pub async fn listing_stamps(store: Arc<dyn Store>) {
    let stamp = |n: u32| {
        let store = store.clone();
        async move {
            store
                .listing_probe(&ent(), &uai(n), "p0")
                .await
                .unwrap()
                .stamp
        }
    };
    let none = store.listing_probe(&ent(), &uai(1), "p0").await.unwrap();
    assert!(!none.school_known && none.person.is_none());
    assert_eq!(
        (none.stamp.school, none.stamp.catalogue),
        (0, 0),
        "never written"
    );

    store
        .replace_directory(&ent(), &directory(2, &[1, 2], "v1"))
        .await
        .unwrap();
    let probe = store.listing_probe(&ent(), &uai(2), "p1").await.unwrap();
    assert!(probe.school_known);
    assert_eq!(probe.person.unwrap().last_name, "v1-1");
    assert!(store
        .listing_probe(&ent(), &uai(3), "p1")
        .await
        .unwrap()
        .person
        .is_some());
    assert!(
        !store
            .listing_probe(&ent(), &uai(3), "p1")
            .await
            .unwrap()
            .school_known
    );
    assert!(store
        .listing_probe(&ent(), &uai(1), "p9")
        .await
        .unwrap()
        .person
        .is_none());
    assert!(
        !store
            .listing_probe(&"Z0".parse().unwrap(), &uai(1), "p1")
            .await
            .unwrap()
            .school_known,
        "another ENT's school"
    );

    let (s1, s2, s3) = (stamp(1).await, stamp(2).await, stamp(3).await);
    let mut sub = subscription("st1", "ark:/1/a", &[1, 2]);
    assert!(store.create_subscription(&sub).await.unwrap());
    let (a1, a2) = (stamp(1).await, stamp(2).await);
    assert!(a1.school != s1.school && a1.school != 0 && a2.school != s2.school);
    assert_eq!(
        stamp(3).await,
        s3,
        "a school the subscription does not cover"
    );
    assert!(!store.create_subscription(&sub).await.unwrap());
    assert_eq!(stamp(1).await, a1, "a refused creation writes nothing");

    // Moving a subscription from school 1 to school 3 moves both.
    sub.uais = vec![uai(2), uai(3)];
    store.put_subscription(&sub).await.unwrap();
    let (b1, b3) = (stamp(1).await, stamp(3).await);
    assert!(b1.school != a1.school && b3.school != s3.school);
    sub.deleted = true;
    store.put_subscription(&sub).await.unwrap();
    let c3 = stamp(3).await;
    assert_ne!(c3.school, b3.school, "a deletion");
    assert_eq!(stamp(1).await, b1);

    let a = Assignment {
        subscription_id: "st1".into(),
        uai: uai(3),
        target: AssignmentTarget::Group { code: "4A".into() },
    };
    assert!(store.add_assignment(&a).await.unwrap());
    let d3 = stamp(3).await;
    assert_ne!(d3.school, c3.school, "an assignment added");
    assert!(!store.add_assignment(&a).await.unwrap());
    assert_eq!(stamp(3).await, d3, "nothing added");
    assert!(store.remove_assignment(&a).await.unwrap());
    let e3 = stamp(3).await;
    assert_ne!(e3.school, d3.school, "an assignment removed");
    let v = store.assignments_version("st1").await.unwrap();
    use passerelle::store::Conditional;
    assert_eq!(
        store.add_assignment_if(&a, v).await.unwrap(),
        Conditional::Done
    );
    assert_ne!(
        stamp(3).await.school,
        e3.school,
        "a checked assignment added"
    );
    assert_eq!(stamp(1).await, b1);

    let before = stamp(1).await.catalogue;
    store.put_resource(&resource("ark:/1/a")).await.unwrap();
    let after = stamp(2).await.catalogue;
    assert!(after != before && after != 0, "a catalogue write");
}

pub async fn health(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
    assert!(["memory", "redis"].contains(&store.kind()));
}

/// The outbox (from empty): deliveries are claimed once their holder's time is up, the longest
/// free first, each by one claimer; a lease that ends gives the delivery to the next claimer
/// and takes it from the former holder; a delivery is gone after its TTL.
pub async fn outbox(store: Arc<dyn Store>) {
    use chrono::Duration as D;
    let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap();
    let lease = Duration::from_secs(30);
    let hour = Duration::from_secs(3600);
    let ids = |c: &[passerelle::store::Claimed]| c.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    store
        .outbox_put("a", "va", t0 + D::seconds(10), t0, hour)
        .await
        .unwrap();
    store.outbox_put("b", "vb", t0, t0, hour).await.unwrap();
    store
        .outbox_put("c", "vc", t0 - D::seconds(1), t0, hour)
        .await
        .unwrap();
    let claimed = store.outbox_claim_due(t0, lease, 10).await.unwrap();
    assert_eq!(
        ids(&claimed),
        ["c", "b"],
        "the free ones, longest free first"
    );
    assert_eq!(claimed[1].value, "vb");
    assert_eq!(claimed[1].held, t0 + D::seconds(30));
    assert!(
        store
            .outbox_claim_due(t0, lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "held"
    );
    let later = store
        .outbox_claim_due(t0 + D::seconds(10), lease, 10)
        .await
        .unwrap();
    assert_eq!(ids(&later), ["a"]);

    // The holder moves its delivery to a retry's time; a wrong lease moves nothing.
    let held_b = claimed[1].held;
    assert!(!store
        .outbox_retry("b", t0, "vb2", t0 + D::seconds(5))
        .await
        .unwrap());
    assert!(store
        .outbox_retry("b", held_b, "vb2", t0 + D::seconds(5))
        .await
        .unwrap());
    let retried = store
        .outbox_claim_due(t0 + D::seconds(5), lease, 10)
        .await
        .unwrap();
    assert_eq!(ids(&retried), ["b"]);
    assert_eq!(retried[0].value, "vb2", "the value the holder wrote");
    assert!(
        !store.outbox_done("b", held_b).await.unwrap(),
        "an old lease"
    );
    assert!(store.outbox_done("b", retried[0].held).await.unwrap());
    assert!(
        !store.outbox_done("b", retried[0].held).await.unwrap(),
        "gone"
    );

    // c's holder dies: at the end of its lease the next claimer takes c, and the former holder
    // can neither move nor remove it.
    let t30 = t0 + D::seconds(30);
    let taken = store.outbox_claim_due(t30, lease, 10).await.unwrap();
    assert_eq!(ids(&taken), ["c"]);
    assert_eq!(taken[0].value, "vc");
    assert!(!store
        .outbox_retry("c", claimed[0].held, "x", t30)
        .await
        .unwrap());
    assert!(!store.outbox_done("c", claimed[0].held).await.unwrap());
    assert!(store.outbox_done("c", taken[0].held).await.unwrap());
    assert!(store.outbox_done("a", later[0].held).await.unwrap());

    // A bounded batch; of claimers at once each delivery goes to one.
    for i in 0..8 {
        store
            .outbox_put(&format!("n{i}"), "v", t0, t0, hour)
            .await
            .unwrap();
    }
    assert_eq!(store.outbox_claim_due(t0, lease, 2).await.unwrap().len(), 2);
    let claimers: Vec<_> = (0..16)
        .map(|_| {
            let s = store.clone();
            tokio::spawn(async move { s.outbox_claim_due(t0, lease, 3).await.unwrap() })
        })
        .collect();
    let mut got = Vec::new();
    for c in claimers {
        got.extend(ids(&c.await.unwrap()));
    }
    got.sort();
    assert_eq!(
        got,
        ["n2", "n3", "n4", "n5", "n6", "n7"],
        "every free delivery claimed, each once"
    );

    // Nothing outlives its TTL, held or not.
    store
        .outbox_put("short", "v", t0, t0, Duration::from_secs(60))
        .await
        .unwrap();
    let t2h = t0 + D::hours(2);
    let left = store.outbox_claim_due(t2h, lease, 100).await.unwrap();
    assert!(left.is_empty(), "expired: {:?}", ids(&left));
}
