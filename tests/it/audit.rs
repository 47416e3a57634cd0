//! The audit chain: written by the gateway's audit sink with a fixed clock, then verified
//! intact, and after each kind of tampering (an edited, a removed and a reordered record, a
//! rewritten chain, a cut tail, a forged checkpoint, a purged segment without its anchor)
//! refused at the right place, by the library and by `passerelle audit verify`.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, TimeZone, Utc};
use openssl::pkey::{PKey, Public};
use passerelle::audit::chain::parse_line;
use passerelle::audit::verify::verify_dir;
use passerelle::audit::writer::segments;
use passerelle::audit::{AuditLog, AuditSettings};
use passerelle::saml::keys::SigningKey;
use serde_json::json;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap()
}

struct Fixture {
    dir: tempfile::TempDir,
    key: SigningKey,
}

impl Fixture {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            key: SigningKey::generate_self_signed("audit test", 2).unwrap(),
        }
    }

    fn settings(&self, max_segment_bytes: u64, retention_days: i64) -> AuditSettings {
        AuditSettings {
            dir: self.dir.path().to_path_buf(),
            max_segment_bytes,
            retention: Duration::days(retention_days),
            checkpoint_interval: std::time::Duration::from_secs(60),
        }
    }

    fn open(&self, max: u64) -> AuditLog {
        AuditLog::open(self.settings(max, 400), "node-a", self.key.key.clone()).unwrap()
    }

    fn public(&self) -> PKey<Public> {
        openssl::x509::X509::from_der(self.key.certificate.der_data())
            .unwrap()
            .public_key()
            .unwrap()
    }

    fn node(&self) -> PathBuf {
        self.dir.path().join("node-a")
    }

    /// The only problem of the only chain, or `None` when intact.
    fn problem(&self) -> Option<(String, usize, String)> {
        let r = verify_dir(self.dir.path(), &self.public()).unwrap();
        assert_eq!(r.len(), 1);
        r[0].problem.clone().map(|p| {
            (
                p.file.file_name().unwrap().to_string_lossy().into_owned(),
                p.line,
                p.what,
            )
        })
    }
}

fn event(i: u32) -> serde_json::Value {
    json!({"event": "access_granted", "resource": format!("ark:/99999/r{i}"), "uai": "0561641E"})
}

/// 10 records, a checkpoint, on one segment.
fn written() -> Fixture {
    let f = Fixture::new();
    let log = f.open(1 << 20);
    for i in 0..10 {
        log.append(t0() + Duration::seconds(i64::from(i)), event(i))
            .unwrap();
    }
    log.checkpoint(t0() + Duration::seconds(30)).unwrap();
    f
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn rewrite(p: &Path, lines: &[String]) {
    std::fs::write(
        p,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
}

fn only_segment(f: &Fixture) -> PathBuf {
    let s = segments(&f.node()).unwrap();
    assert_eq!(s.len(), 1);
    s[0].clone()
}

#[test]
fn an_untouched_chain_verifies_across_rotations_and_restarts() {
    let f = Fixture::new();
    let log = f.open(600);
    for i in 0..12 {
        log.append(t0() + Duration::hours(i64::from(i) * 5), event(i))
            .unwrap();
    }
    log.checkpoint(t0() + Duration::days(3)).unwrap();
    drop(log);
    let again = f.open(600);
    again.append(t0() + Duration::days(3), event(99)).unwrap();
    again.checkpoint(t0() + Duration::days(3)).unwrap();
    let r = verify_dir(f.dir.path(), &f.public()).unwrap();
    assert!(r[0].problem.is_none(), "{:?}", r[0].problem);
    assert_eq!(r[0].records, 13);
    assert!(
        r[0].segments >= 4,
        "rotated by size and by day: {}",
        r[0].segments
    );
    assert_eq!(r[0].checkpoints, 2);
}

#[test]
fn an_edited_record_is_found_at_its_line() {
    let f = written();
    let seg = only_segment(&f);
    let mut l = lines(&seg);
    l[4] = l[4].replace("ark:/99999/r4", "ark:/99999/autre");
    rewrite(&seg, &l);
    let (_, line, what) = f.problem().unwrap();
    assert_eq!(line, 5);
    assert!(what.contains("record 4 was altered"), "{what}");
}

#[test]
fn a_removed_record_is_found_where_it_is_missing() {
    let f = written();
    let seg = only_segment(&f);
    let mut l = lines(&seg);
    l.remove(6);
    rewrite(&seg, &l);
    let (_, line, what) = f.problem().unwrap();
    assert_eq!(line, 7);
    assert!(what.contains("record 6 is missing"), "{what}");
}

#[test]
fn reordered_records_are_found() {
    let f = written();
    let seg = only_segment(&f);
    let mut l = lines(&seg);
    l.swap(2, 3);
    rewrite(&seg, &l);
    let (_, line, what) = f.problem().unwrap();
    assert_eq!(line, 3);
    assert!(what.contains("reordered"), "{what}");
}

#[test]
fn a_chain_rewritten_with_fresh_hashes_contradicts_the_signed_checkpoint() {
    let f = written();
    let seg = only_segment(&f);
    // Rebuild records 5.. with an edit and recomputed hashes, as someone without the key could.
    let mut l = lines(&seg);
    let (mut prev, _) = parse_line(&l[4]).map(|(b, h)| (h, b)).unwrap();
    for line in l.iter_mut().skip(5) {
        let (mut body, _) = parse_line(line).unwrap();
        body.prev = prev.clone();
        if body.seq == 5 {
            body.event["resource"] = json!("ark:/99999/falsifie");
        }
        prev = body.hash();
        *line = body.line();
    }
    rewrite(&seg, &l);
    let (_, line, what) = f.problem().unwrap();
    assert_eq!(line, 10, "found at the checkpointed record");
    assert!(
        what.contains("differs from the signed checkpoint"),
        "{what}"
    );
}

#[test]
fn a_cut_tail_is_found_by_the_checkpoint() {
    let f = written();
    let seg = only_segment(&f);
    let mut l = lines(&seg);
    l.truncate(7);
    rewrite(&seg, &l);
    let (_, _, what) = f.problem().unwrap();
    assert!(
        what.contains("records after 6 are missing") && what.contains("names record 9"),
        "{what}"
    );
}

#[test]
fn a_forged_checkpoint_is_refused() {
    let f = written();
    let cps = f.node().join("checkpoints.jsonl");
    let original = lines(&cps);
    let mut c: serde_json::Value = serde_json::from_str(&original[0]).unwrap();
    c["seq"] = json!(5);
    rewrite(&cps, &[c.to_string()]);
    let (file, line, what) = f.problem().unwrap();
    assert_eq!((file.as_str(), line), ("checkpoints.jsonl", 1));
    assert!(what.contains("signature does not verify"), "{what}");

    // Signed, but by another key.
    let other = SigningKey::generate_self_signed("attacker", 2).unwrap();
    let forged = passerelle::audit::chain::Checkpoint::sign(
        &other.key,
        "node-a",
        9,
        c["hash"].as_str().unwrap(),
        t0(),
        "head",
    )
    .unwrap();
    rewrite(&cps, &[serde_json::to_string(&forged).unwrap()]);
    assert!(f.problem().unwrap().2.contains("signature does not verify"));
}

#[test]
fn purged_segments_leave_a_verifiable_chain_and_an_unvouched_cut_is_found() {
    let f = Fixture::new();
    let log = AuditLog::open(f.settings(1 << 20, 2), "node-a", f.key.key.clone()).unwrap();
    for day in 0..6 {
        for i in 0..3 {
            log.append(
                t0() + Duration::days(day) + Duration::minutes(i),
                event(u32::try_from(day * 10 + i).unwrap()),
            )
            .unwrap();
        }
    }
    log.checkpoint(t0() + Duration::days(6)).unwrap();
    let kept = segments(&f.node()).unwrap();
    assert!(kept.len() < 6, "old segments were purged: {kept:?}");
    assert!(f.problem().is_none(), "{:?}", f.problem());
    std::fs::remove_file(&kept[0]).unwrap();
    let (_, line, what) = f.problem().unwrap();
    assert_eq!(line, 1);
    assert!(what.contains("no signed anchor"), "{what}");
}

#[test]
fn the_command_reports_intact_and_altered_chains_with_its_exit_status() {
    let f = written();
    let cert = f.dir.path().join("gateway.crt");
    std::fs::write(&cert, f.key.certificate_pem().unwrap()).unwrap();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
            .args(["audit", "verify"])
            .arg(f.dir.path())
            .arg("--certificate")
            .arg(&cert)
            .output()
            .unwrap()
    };
    let ok = run();
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("node-a: intact — 10 record(s)"));
    let seg = only_segment(&f);
    let mut l = lines(&seg);
    l[1] = l[1].replace("r1", "r7");
    rewrite(&seg, &l);
    let bad = run();
    assert_eq!(bad.status.code(), Some(1));
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(
        out.contains("NOT INTACT after 1 verified record(s)")
            && out.contains("line 2: record 1 was altered"),
        "{out}"
    );
}
