//! Primary-school exports (GAR-ENT-1D v1.4, namespace `http://data.education.fr/ns/gar/1d`):
//! they import beside secondary ones, each school keeping its degree; a file mixing the two
//! namespaces, or using an element of the other schema, is refused with its line; and a
//! subscription may not target librarians (`DOCUMENTALISTE`) in a primary school.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use passerelle::domain::directory::{GroupRef, SchoolCode};
use passerelle::domain::{Degree, IdEnt, Profile, Uai};
use passerelle::feed::{import_files, ImportError, ImportSummary};
use passerelle::store::{DirectoryStore, MemoryStore};

use crate::support::gateway::*;

const PRIMARY_UAI: &str = "0561234M";

fn xml_files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    files.sort();
    files
}

fn ent() -> IdEnt {
    "B0".parse().unwrap()
}

async fn import(store: &MemoryStore, paths: &[PathBuf]) -> Result<ImportSummary, ImportError> {
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    import_files(store, &ent(), &refs, &Default::default()).await
}

#[tokio::test]
async fn a_primary_export_imports_and_its_users_appear_in_the_directory() {
    let store = MemoryStore::new();
    let summary = import(&store, &xml_files("feed-1d")).await.unwrap();
    assert_eq!(
        (summary.schools, summary.persons, summary.groups),
        (1, 2, 1)
    );
    let uai: Uai = PRIMARY_UAI.parse().unwrap();
    let school = store.school(&uai).await.unwrap().unwrap();
    assert_eq!(school.name, "ECOLE ELEMENTAIRE PAUL BERT");
    assert_eq!(school.degree, Some(Degree::Primary));
    assert!(school.is_primary());

    let pupil = store.person(&ent(), "eleve-1d-1").await.unwrap().unwrap();
    assert_eq!(pupil.profile_in(&uai), Some(Profile::Eleve));
    assert_eq!(
        pupil.mefstat4,
        vec![SchoolCode {
            uai: uai.clone(),
            code: "0012".into()
        }],
        "GARPersonMEFSTAT4 gives the level directly"
    );
    assert_eq!(
        pupil.groups,
        vec![GroupRef {
            uai: uai.clone(),
            code: "CE1-A".into()
        }]
    );
    let teacher = store.person(&ent(), "ens-1d-1").await.unwrap().unwrap();
    assert_eq!(teacher.profile_in(&uai), Some(Profile::Enseignant));
    assert_eq!(teacher.email.as_deref(), Some("marc.fournier@ac-rennes.fr"));
    assert_eq!(teacher.mefstat4[0].code, "0012");
}

#[tokio::test]
async fn primary_and_secondary_files_make_one_export_each_school_keeping_its_degree() {
    let store = MemoryStore::new();
    let mut files = xml_files("feed");
    files.extend(xml_files("feed-1d"));
    let summary = import(&store, &files).await.unwrap();
    assert_eq!((summary.schools, summary.persons), (2, 4));
    let college = store.school(&UAI.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(college.degree, Some(Degree::Secondary));
    assert!(!college.is_primary());
    let ecole = store
        .school(&PRIMARY_UAI.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ecole.degree, Some(Degree::Primary));
}

#[tokio::test]
async fn generated_primary_exports_import_whole() {
    let dir = tempfile::tempdir().unwrap();
    let files = passerelle::feed::generate::write_export(
        dir.path(),
        "B0",
        passerelle::feed::generate::Shape {
            schools: 2,
            pupils_per_school: 60,
            degree: Degree::Primary,
        },
    )
    .unwrap();
    let first = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        first.contains("xmlns:men=\"http://data.education.fr/ns/gar/1d\" Version=\"1.4\""),
        "{first}"
    );
    let store = MemoryStore::new();
    let summary = import(&store, &files).await.unwrap();
    // 60 pupils make 3 classes of 25 (CP, CE1, CE2), each with a teacher; no teaching groups.
    assert_eq!(
        (summary.schools, summary.persons, summary.groups),
        (2, 2 * (60 + 3), 2 * 3)
    );
    let uai = passerelle::feed::generate::school_uai(1);
    assert!(store.school(&uai).await.unwrap().unwrap().is_primary());
    let pupil = store.person(&ent(), "B0-e-1-30").await.unwrap().unwrap();
    assert_eq!(pupil.mefstat4[0].code, "0012", "the second class is a CE1");
    assert!(pupil.groups.contains(&GroupRef {
        uai: uai.clone(),
        code: "CE1-A".into()
    }));
    let teacher = store.person(&ent(), "B0-t-1-0").await.unwrap().unwrap();
    assert_eq!(
        teacher.groups[0].code, "CP-A",
        "the teacher belongs to the class"
    );
}

#[test]
fn the_command_line_generates_a_primary_export() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args([
            "directory",
            "generate",
            "--ent",
            "B0",
            "--schools",
            "1",
            "--pupils-per-school",
            "10",
            "--primary",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n == "B0_GAR-ENT-1D_Complet_Eleve_0000.xml"),
        "{names:?}"
    );
}

const ROOT_1D: &str =
    "<men:GAR-ENT-Eleve xmlns:men=\"http://data.education.fr/ns/gar/1d\" Version=\"1.4\">";

#[tokio::test]
async fn files_mixing_schemas_are_refused_with_the_line_and_the_previous_directory_stays() {
    let store = MemoryStore::new();
    import(&store, &xml_files("feed-1d")).await.unwrap();
    let cases = [
        (
            "mixed.xml",
            format!("<?xml version=\"1.0\"?>\n{ROOT_1D}\n  <gar:GAREleve xmlns:gar=\"http://data.education.fr/ns/gar\">\n  </gar:GAREleve>\n</men:GAR-ENT-Eleve>"),
            "mixed.xml, line 3: élément <GAREleve> dans l'espace de noms « http://data.education.fr/ns/gar » : le fichier déclare http://data.education.fr/ns/gar/1d",
        ),
        (
            "mixed-field.xml",
            format!("{ROOT_1D}\n<men:GAREleve>\n<men:GARPersonIdentifiant>x</men:GARPersonIdentifiant>\n\n<GARPersonNom>X</GARPersonNom>\n</men:GAREleve>\n</men:GAR-ENT-Eleve>"),
            "mixed-field.xml, line 5: élément <GARPersonNom> dans l'espace de noms aucun",
        ),
        (
            "secondary-element.xml",
            format!("{ROOT_1D}\n\n<men:GARPersonMEF><men:GARStructureUAI>{PRIMARY_UAI}</men:GARStructureUAI><men:GARPersonIdentifiant>eleve-1d-1</men:GARPersonIdentifiant><men:GARMEFCode>1</men:GARMEFCode></men:GARPersonMEF>\n</men:GAR-ENT-Eleve>"),
            "secondary-element.xml, line 3: élément <GARPersonMEF> absent du schéma du premier degré",
        ),
        (
            "primary-element.xml",
            format!("<men:GAR-ENT-Eleve xmlns:men=\"http://data.education.fr/ns/gar\" Version=\"1.7\">\n<men:GARPersonMEFSTAT4><men:GARStructureUAI>{PRIMARY_UAI}</men:GARStructureUAI><men:GARPersonIdentifiant>eleve-1d-1</men:GARPersonIdentifiant><men:GARMEFSTAT4Code>0012</men:GARMEFSTAT4Code></men:GARPersonMEFSTAT4>\n</men:GAR-ENT-Eleve>"),
            "primary-element.xml, line 2: élément <GARPersonMEFSTAT4> absent du schéma du second degré",
        ),
        (
            "other-ns.xml",
            "\n<GAR-ENT-Eleve xmlns=\"http://data.education.fr/ns/gar/2d\" Version=\"1.4\"/>".to_string(),
            "other-ns.xml, line 2: l'espace de noms doit être http://data.education.fr/ns/gar (second degré) ou http://data.education.fr/ns/gar/1d (premier degré)",
        ),
    ];
    for (name, content, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = xml_files("feed-1d");
        let broken = dir.path().join(name);
        std::fs::write(&broken, content).unwrap();
        paths.push(broken);
        let err = import(&store, &paths).await.unwrap_err().to_string();
        assert!(err.contains(expected), "{name}: {err}");
        assert!(
            store.person(&ent(), "eleve-1d-1").await.unwrap().is_some(),
            "{name}: the previous directory is still served"
        );
    }
}

fn librarian_subscription(id: &str, scope: &str) -> String {
    format!(
        r#"<abonnement xmlns="http://www.atosworldline.com/wsabonnement/v1.0/"><idAbonnement>{id}</idAbonnement><idDistributeurCom>123456789_0000000000000000</idDistributeurCom><idRessource>{RES_INDIV}</idRessource><typeIdRessource>ark</typeIdRessource><libelleRessource>R</libelleRessource><debutValidite>2026-08-15T00:00:00</debutValidite><anneeFinValidite>2026-2027</anneeFinValidite>{scope}<categorieAffectation>transferable</categorieAffectation><typeAffectation>INDIV</typeAffectation><nbLicenceGlobale>10</nbLicenceGlobale><publicCible>ELEVE</publicCible><publicCible>DOCUMENTALISTE</publicCible></abonnement>"#
    )
}

async fn put(gw: &TestGateway, id: &str, body: String) -> (StatusCode, String) {
    let resp = gw
        .call(
            Request::put(format!("/abonnement/{id}"))
                .header("content-type", "application/xml")
                .header("authorization", format!("Bearer {PROVIDER_TOKEN}"))
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    let status = resp.status();
    (status, body_string(resp).await)
}

#[tokio::test]
async fn no_librarian_audience_in_primary_schools() {
    let gw = TestGateway::new().await;
    let mut files = xml_files("feed");
    files.extend(xml_files("feed-1d"));
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    import_files(gw.store.as_ref(), &ent(), &refs, &Default::default())
        .await
        .unwrap();

    // A primary school named in uaiEtab: refused, naming the rule, the field and the school.
    let (s, body) = put(
        &gw,
        "abo-doc-1d",
        librarian_subscription(
            "abo-doc-1d",
            &format!("<uaiEtab>{UAI}</uaiEtab><uaiEtab>{PRIMARY_UAI}</uaiEtab>"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.contains("<regle>RG-PRIMARY-DOCUMENTALISTE</regle><champ>publicCible</champ>")
            && body.contains(&format!("uaiEtab {PRIMARY_UAI}"))
            && !body.contains(&format!("uaiEtab {UAI}")),
        "{body}"
    );
    // A primary kind of school (codeNatureUAI 151, école élémentaire): refused too.
    let (s, body) = put(
        &gw,
        "abo-doc-nature",
        librarian_subscription("abo-doc-nature", "<codeNatureUAI>151</codeNatureUAI>"),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("RG-PRIMARY-DOCUMENTALISTE"), "{body}");
    // The secondary school alone: librarians are an audience there.
    let (s, body) = put(
        &gw,
        "abo-doc-2d",
        librarian_subscription("abo-doc-2d", &format!("<uaiEtab>{UAI}</uaiEtab>")),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    // An update cannot add librarians to a subscription of a primary school either.
    let (s, body) = put(
        &gw,
        "abo-ecole",
        librarian_subscription("abo-ecole", &format!("<uaiEtab>{PRIMARY_UAI}</uaiEtab>"))
            .replace("<publicCible>DOCUMENTALISTE</publicCible>", ""),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let resp = gw
        .call(
            Request::post("/abonnement/abo-ecole")
                .header("content-type", "application/xml")
                .header("authorization", format!("Bearer {PROVIDER_TOKEN}"))
                .body(Body::from(librarian_subscription("abo-ecole", "")))
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(body_string(resp)
        .await
        .contains("RG-PRIMARY-DOCUMENTALISTE"));
}
