//! `passerelle audit verify`: checks every node's chain and checkpoints and reports, per node,
//! the first place where a record was changed, removed or reordered, or a checkpoint forged.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use openssl::pkey::{PKey, Public};

use super::chain::{genesis, parse_line, Checkpoint};
use super::writer::segments;

/// Where verification stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based line in `file`.
    pub line: usize,
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} line {}: {}",
            self.file.display(),
            self.line,
            self.what
        )
    }
}

/// The verdict on one node's chain.
#[derive(Debug, Clone)]
pub struct ChainReport {
    pub node: String,
    pub records: u64,
    pub segments: usize,
    pub checkpoints: usize,
    pub problem: Option<Problem>,
}

/// Verifies every node under `dir` with the gateway's public key.
pub fn verify_dir(dir: &Path, key: &PKey<Public>) -> std::io::Result<Vec<ChainReport>> {
    let mut nodes: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    nodes.sort();
    nodes.iter().map(|n| verify_node(n, key)).collect()
}

struct Cp {
    seq: u64,
    hash: String,
    kind: String,
    line: usize,
}

fn checkpoints(
    node_dir: &Path,
    node: &str,
    key: &PKey<Public>,
) -> std::io::Result<Result<Vec<Cp>, Problem>> {
    let path = node_dir.join("checkpoints.jsonl");
    let Ok(f) = File::open(&path) else {
        return Ok(Ok(Vec::new()));
    };
    let mut out = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line?;
        let bad = |what: &str| Problem {
            file: path.clone(),
            line: i + 1,
            what: what.into(),
        };
        let Ok(c) = serde_json::from_str::<Checkpoint>(&line) else {
            return Ok(Err(bad("not a checkpoint")));
        };
        if c.node != node || !c.verify(key) {
            return Ok(Err(bad(
                "the checkpoint's signature does not verify: forged or altered",
            )));
        }
        out.push(Cp {
            seq: c.seq,
            hash: c.hash,
            kind: c.kind,
            line: i + 1,
        });
    }
    Ok(Ok(out))
}

pub fn verify_node(node_dir: &Path, key: &PKey<Public>) -> std::io::Result<ChainReport> {
    let node = node_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let segs = segments(node_dir)?;
    let mut report = ChainReport {
        node: node.clone(),
        records: 0,
        segments: segs.len(),
        checkpoints: 0,
        problem: None,
    };
    let cps = match checkpoints(node_dir, &node, key)? {
        Ok(c) => c,
        Err(p) => {
            report.problem = Some(p);
            return Ok(report);
        }
    };
    report.checkpoints = cps.len();
    let mut expected: Option<(u64, String)> = None;
    let mut last: Option<(u64, PathBuf, usize)> = None;
    for seg in &segs {
        for (i, line) in BufReader::new(File::open(seg)?).lines().enumerate() {
            let line = line?;
            let at = |what: String| {
                Some(Problem {
                    file: seg.clone(),
                    line: i + 1,
                    what,
                })
            };
            let (body, claimed) = match parse_line(&line) {
                Ok(r) => r,
                Err(e) => {
                    report.problem = at(format!("unreadable record ({e}): altered"));
                    return Ok(report);
                }
            };
            if body.hash() != claimed {
                report.problem = at(format!(
                    "record {} was altered: its hash does not match its content",
                    body.seq
                ));
                return Ok(report);
            }
            let (want_seq, want_prev) = match &expected {
                Some(e) => e.clone(),
                None if body.seq == 0 => (0, genesis(&node)),
                None => match cps
                    .iter()
                    .find(|c| c.kind == "anchor" && c.seq + 1 == body.seq)
                {
                    Some(a) => (body.seq, a.hash.clone()),
                    None => {
                        report.problem = at(format!("records 0 to {} are missing and no signed anchor vouches for their purge", body.seq - 1));
                        return Ok(report);
                    }
                },
            };
            if body.seq > want_seq {
                let what = if appears_later(&segs, seg, i, want_seq)? {
                    format!("records are out of order: record {} stands before record {want_seq} (reordered)", body.seq)
                } else {
                    format!(
                        "record {want_seq} is missing (removed); found record {}",
                        body.seq
                    )
                };
                report.problem = at(what);
                return Ok(report);
            }
            if body.seq < want_seq {
                report.problem = at(format!("record {} is out of order (reordered or duplicated); expected record {want_seq}", body.seq));
                return Ok(report);
            }
            if body.node != node || body.prev != want_prev {
                report.problem = at(format!("record {} does not follow record {}: the chain was edited, reordered or cut here", body.seq, body.seq.wrapping_sub(1)));
                return Ok(report);
            }
            if let Some(c) = cps.iter().find(|c| c.seq == body.seq && c.hash != claimed) {
                report.problem = at(format!("record {} differs from the signed checkpoint (checkpoints.jsonl line {}): the chain was rewritten", body.seq, c.line));
                return Ok(report);
            }
            report.records += 1;
            expected = Some((body.seq + 1, claimed));
            last = Some((body.seq, seg.clone(), i + 1));
        }
    }
    let last_seq = last.as_ref().map(|(s, _, _)| *s);
    if let Some(c) = cps
        .iter()
        .filter(|c| c.kind == "head")
        .max_by_key(|c| c.seq)
    {
        if last_seq.is_none_or(|s| s < c.seq) {
            let (file, line) = last.map_or_else(
                || (node_dir.join("checkpoints.jsonl"), c.line),
                |(_, f, l)| (f, l),
            );
            report.problem = Some(Problem { file, line, what: format!("records after {} are missing: the signed checkpoint (checkpoints.jsonl line {}) names record {}", last_seq.map_or_else(|| "the start".to_string(), |s| s.to_string()), c.line, c.seq) });
        }
    }
    Ok(report)
}

/// Whether record `seq` stands somewhere after line `line` (0-based) of `from`.
fn appears_later(segs: &[PathBuf], from: &Path, line: usize, seq: u64) -> std::io::Result<bool> {
    let start = segs.iter().position(|s| s == from).unwrap_or(0);
    for (k, seg) in segs.iter().enumerate().skip(start) {
        for (i, l) in BufReader::new(File::open(seg)?).lines().enumerate() {
            if k == start && i <= line {
                continue;
            }
            if parse_line(&l?).is_ok_and(|(b, _)| b.seq == seq) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Verifies `dir` and writes one line per node; `true` when every chain is intact.
pub fn print_report(
    dir: &Path,
    key: &PKey<Public>,
    out: &mut impl std::io::Write,
) -> std::io::Result<bool> {
    let reports = verify_dir(dir, key)?;
    if reports.is_empty() {
        writeln!(
            out,
            "{}: no audit chain found (one directory per gateway node is expected)",
            dir.display()
        )?;
        return Ok(false);
    }
    let mut ok = true;
    for r in &reports {
        match &r.problem {
            None => writeln!(
                out,
                "{}: intact — {} record(s) in {} segment(s), {} signed checkpoint(s)",
                r.node, r.records, r.segments, r.checkpoints
            )?,
            Some(p) => {
                ok = false;
                writeln!(
                    out,
                    "{}: NOT INTACT after {} verified record(s) — {p}",
                    r.node, r.records
                )?;
            }
        }
    }
    Ok(ok)
}
