//! The ENT directory feed: an export in the GAR-ENT shape imported into the store, every
//! projection used by attribute release checked; malformed files refused with file and line;
//! a failed import leaves the previous directory served.

use std::path::{Path, PathBuf};

use passerelle::domain::directory::{GroupRef, SchoolCode, SchoolSubject};
use passerelle::domain::{GroupKind, IdEnt, Profile, Uai};
use passerelle::feed::{import_files, ImportError};
use passerelle::store::{DirectoryStore, MemoryStore};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/feed");
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

fn uai() -> Uai {
    "0561641E".parse().unwrap()
}

async fn import(
    store: &MemoryStore,
    paths: &[PathBuf],
) -> Result<passerelle::feed::ImportSummary, ImportError> {
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    import_files(store, &ent(), &refs, &Default::default()).await
}

#[tokio::test]
async fn an_export_becomes_the_ents_directory() {
    let store = MemoryStore::new();
    let summary = import(&store, &fixtures()).await.unwrap();
    assert_eq!(
        (summary.schools, summary.persons, summary.groups),
        (1, 2, 2)
    );

    let school = store.school(&uai()).await.unwrap().unwrap();
    assert_eq!(school.name, "COLLEGE JULES FERRY");
    assert_eq!(school.ent, ent());

    // The RespAff file makes the teacher an assignment manager of the school.
    let manager = store.person(&ent(), "ens-feed-1").await.unwrap().unwrap();
    assert_eq!(manager.manages, vec![uai()]);

    let pupil = store.person(&ent(), "eleve-feed-1").await.unwrap().unwrap();
    assert!(pupil.manages.is_empty());
    assert_eq!(
        pupil.profile_in(&uai()),
        Some(Profile::Eleve),
        "National_ELV is read case-insensitively"
    );
    assert_eq!(
        (
            pupil.last_name.as_str(),
            pupil.first_name.as_str(),
            pupil.civility.as_deref()
        ),
        ("MARTIN", "Léa", Some("Mme"))
    );
    assert_eq!(
        pupil.groups,
        vec![
            GroupRef {
                uai: uai(),
                code: "4A".into()
            },
            GroupRef {
                uai: uai(),
                code: "4LAT".into()
            }
        ]
    );
    assert_eq!(
        pupil.mefstat4,
        vec![SchoolCode {
            uai: uai(),
            code: "1113".into()
        }],
        "MEFSTAT4 = the first 4 digits of the MEF's MEFSTAT11"
    );

    let teacher = store.person(&ent(), "ens-feed-1").await.unwrap().unwrap();
    assert_eq!(teacher.email.as_deref(), Some("paul.durand@ac-rennes.fr"));
    assert_eq!(
        teacher.groups,
        vec![GroupRef {
            uai: uai(),
            code: "4A".into()
        }],
        "the class the teacher teaches"
    );
    assert_eq!(
        teacher.subjects,
        vec![SchoolSubject {
            uai: uai(),
            code: "061300".into(),
            label: "MATHEMATIQUES".into()
        }]
    );

    let groups = store.school_groups(&uai()).await.unwrap();
    let latin = groups.iter().find(|g| g.code == "4LAT").unwrap();
    assert_eq!(
        (latin.kind, latin.divisions.clone()),
        (GroupKind::Groupe, vec!["4A".to_string()])
    );
}

fn with_broken(name: &str, content: &str) -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = fixtures();
    let broken = dir.path().join(name);
    std::fs::write(&broken, content).unwrap();
    paths.push(broken);
    (dir, paths)
}

#[tokio::test]
async fn malformed_files_are_refused_with_file_and_line_and_the_previous_directory_stays() {
    let store = MemoryStore::new();
    import(&store, &fixtures()).await.unwrap();

    let cases = [
        ("truncated.xml", "<?xml version=\"1.0\"?>\n<men:GAR-ENT-Eleve xmlns:men=\"http://data.education.fr/ns/gar\" Version=\"1.7\">\n  <men:GAREleve>\n", "truncated.xml, line"),
        ("wrong-ns.xml", "<GAR-ENT-Eleve xmlns=\"http://example.test/\" Version=\"1.7\"/>", "espace de noms"),
        ("dtd.xml", "<!DOCTYPE x [<!ENTITY a \"b\">]>\n<men:GAR-ENT-Eleve xmlns:men=\"http://data.education.fr/ns/gar\"/>", "DTD"),
        (
            "no-name.xml",
            "<men:GAR-ENT-Eleve xmlns:men=\"http://data.education.fr/ns/gar\" Version=\"1.7\">\n<men:GAREleve>\n<men:GARPersonIdentifiant>x</men:GARPersonIdentifiant>\n<men:GARPersonProfils><men:GARStructureUAI>0561641E</men:GARStructureUAI><men:GARPersonProfil>National_elv</men:GARPersonProfil></men:GARPersonProfils>\n<men:GARPersonPrenom>A</men:GARPersonPrenom>\n</men:GAREleve>\n</men:GAR-ENT-Eleve>",
            "no-name.xml, line 2: <GAREleve> : GARPersonNom est obligatoire",
        ),
        (
            "bad-uai.xml",
            "<men:GAR-ENT-Groupe xmlns:men=\"http://data.education.fr/ns/gar\" Version=\"1.7\">\n\n<men:GARGroupe><men:GARGroupeCode>X</men:GARGroupeCode><men:GARStructureUAI>0561641F</men:GARStructureUAI><men:GARGroupeLibelle>X</men:GARGroupeLibelle><men:GARGroupeStatut>DIVISION</men:GARGroupeStatut></men:GARGroupe>\n</men:GAR-ENT-Groupe>",
            "bad-uai.xml, line 3: <GARGroupe> : UAI « 0561641F » invalide",
        ),
    ];
    for (name, content, expected) in cases {
        let (_dir, paths) = with_broken(name, content);
        let err = import(&store, &paths).await.unwrap_err().to_string();
        assert!(err.contains(expected), "{name}: {err}");
        // The previous directory is still served, whole.
        assert_eq!(
            store
                .person(&ent(), "eleve-feed-1")
                .await
                .unwrap()
                .unwrap()
                .last_name,
            "MARTIN",
            "{name}"
        );
        assert!(store.school(&uai()).await.unwrap().is_some());
    }
}

#[test]
fn the_command_line_refuses_an_invalid_export_and_says_why() {
    let exe = env!("CARGO_BIN_EXE_passerelle");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/passerelle.toml");
    let (_dir, paths) = with_broken(
        "broken.xml",
        "<men:GAR-ENT-Etab xmlns:men=\"http://data.education.fr/ns/gar\">\n<men:GAREtab>",
    );
    let out = std::process::Command::new(exe)
        .args(["directory", "import", "--ent", "B0", "--config"])
        .arg(&config)
        .args(&paths)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("import refused, the previous directory is kept")
            && stderr.contains("broken.xml, line"),
        "{stderr}"
    );
    let ok = std::process::Command::new(exe)
        .args(["directory", "import", "--ent", "B0", "--config"])
        .arg(&config)
        .args(fixtures())
        .output()
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout)
        .contains("1 school(s), 2 person(s), 2 class(es) and group(s)"));
}

/// Packs the fixtures as ENTs ship them: one `.tar.gz` and its `.md5`.
fn archive(dir: &Path) -> PathBuf {
    let path = dir.join("B0_GAR-ENT_Complet_20261124.tar.gz");
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::default(),
    );
    let mut tar = tar::Builder::new(gz);
    for f in fixtures() {
        tar.append_path_with_name(&f, f.file_name().unwrap())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    let digest = hex::encode(<md5::Md5 as md5::Digest>::digest(
        std::fs::read(&path).unwrap(),
    ));
    std::fs::write(
        dir.join("B0_GAR-ENT_Complet_20261124.tar.gz.md5"),
        format!("{digest}  B0_GAR-ENT_Complet_20261124.tar.gz\n"),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn archives_are_checked_against_their_md5_then_unpacked() {
    let dir = tempfile::tempdir().unwrap();
    let path = archive(dir.path());
    let store = MemoryStore::new();
    let summary = import(&store, std::slice::from_ref(&path)).await.unwrap();
    assert_eq!(
        (summary.schools, summary.persons, summary.groups),
        (1, 2, 2)
    );

    // A wrong checksum: refused before anything is read.
    let md5 = dir.path().join("B0_GAR-ENT_Complet_20261124.tar.gz.md5");
    std::fs::write(
        &md5,
        "00000000000000000000000000000000  B0_GAR-ENT_Complet_20261124.tar.gz\n",
    )
    .unwrap();
    let err = import(&store, std::slice::from_ref(&path))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("MD5"), "{err}");

    // A corrupted archive whose checksum was recomputed: refused as unreadable.
    let mut bytes = std::fs::read(&path).unwrap();
    let len = bytes.len();
    bytes.truncate(len / 2);
    std::fs::write(&path, &bytes).unwrap();
    std::fs::write(&md5, hex::encode(<md5::Md5 as md5::Digest>::digest(&bytes))).unwrap();
    let err = import(&store, std::slice::from_ref(&path))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("illisible") || err.contains("XML"), "{err}");
    // The directory imported first is still served.
    assert!(store
        .person(&ent(), "eleve-feed-1")
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn generated_exports_import_whole() {
    let dir = tempfile::tempdir().unwrap();
    let files = passerelle::feed::generate::write_export(
        dir.path(),
        "B0",
        passerelle::feed::generate::Shape {
            schools: 2,
            pupils_per_school: 60,
            degree: passerelle::domain::Degree::Secondary,
        },
    )
    .unwrap();
    let store = MemoryStore::new();
    let summary = import(&store, &files).await.unwrap();
    // 60 pupils make 3 classes of 25, each with a teacher; 4 Latin groups per school.
    assert_eq!(
        (summary.schools, summary.persons, summary.groups),
        (2, 2 * (60 + 3), 2 * (3 + 4))
    );
    let uai = passerelle::feed::generate::school_uai(1);
    let pupil = store.person(&ent(), "B0-e-1-0").await.unwrap().unwrap();
    assert_eq!(pupil.profile_in(&uai), Some(Profile::Eleve));
    assert_eq!(
        pupil.mefstat4,
        vec![SchoolCode {
            uai: uai.clone(),
            code: "1111".into()
        }]
    );
    assert!(pupil.groups.contains(&GroupRef {
        uai: uai.clone(),
        code: "6LAT".into()
    }));
    let teacher = store.person(&ent(), "B0-t-1-0").await.unwrap().unwrap();
    assert_eq!(teacher.subjects[0].label, "MATHEMATIQUES");
}

/// The demo's directory, exported as an ENT sends it and read back, is the same directory
/// (the unit tests of `feed::export` cover tricky text and every field; this one the demo).
#[test]
fn the_demo_directory_round_trips() {
    let d = passerelle::demo::data::directory().unwrap();
    let out = tempfile::tempdir().unwrap();
    let files = passerelle::feed::export::write_directory(out.path(), &ent(), &d).unwrap();
    let docs: Vec<(String, String)> = files
        .iter()
        .map(|f| {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(f).unwrap())
        })
        .collect();
    let names: Vec<String> = docs.iter().map(|(n, _)| n.clone()).collect();
    for kind in ["Etab", "Eleve", "Enseignant", "Groupe", "RespAff"] {
        assert!(
            names.contains(&format!("B0_GAR-ENT_Complet_{kind}_0000.xml")),
            "{names:?}"
        );
    }
    assert!(docs[0]
        .1
        .contains("xmlns:men=\"http://data.education.fr/ns/gar\" Version=\"1.7\""));
    let back = passerelle::feed::read_documents(&ent(), docs, &Default::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, d);
}
