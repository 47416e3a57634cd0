//! The append-only audit log of one gateway node: a [`TraceSink`] that chains every event into
//! segments `DIR/<node>/seg-<first seq>-<YYYYMMDD>.jsonl`, rotated by size and by day, with
//! signed checkpoints in `DIR/<node>/checkpoints.jsonl` (at an interval and at shutdown) and a
//! retention that purges old segments behind a signed anchor, so that what is kept still
//! verifies. A restarted node continues its chain from the last record on disk.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use openssl::pkey::{PKey, Private};

use super::chain::{genesis, parse_line, Body, Checkpoint};
use crate::trace::{TraceEvent, TraceSink};

/// How the log is kept.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    pub dir: PathBuf,
    pub max_segment_bytes: u64,
    /// Segments whose every record is older than this are purged.
    pub retention: Duration,
    pub checkpoint_interval: std::time::Duration,
}

struct Head {
    next_seq: u64,
    prev: String,
    file: Option<(File, PathBuf, NaiveDate, u64)>,
    checkpointed: Option<u64>,
}

pub struct AuditLog {
    node: String,
    dir: PathBuf,
    key: PKey<Private>,
    settings: AuditSettings,
    head: Mutex<Head>,
}

/// The segments of a node's directory, oldest first.
pub fn segments(node_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(node_dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seg-") && n.ends_with(".jsonl"))
        })
        .collect();
    v.sort();
    Ok(v)
}

fn last_record(path: &Path) -> std::io::Result<Option<(Body, String)>> {
    let mut last = None;
    for line in BufReader::new(File::open(path)?).lines() {
        if let Ok(r) = parse_line(&line?) {
            last = Some(r);
        }
    }
    Ok(last)
}

impl AuditLog {
    /// Opens (or creates) the log of `node` under `settings.dir`, continuing its chain.
    pub fn open(settings: AuditSettings, node: &str, key: PKey<Private>) -> std::io::Result<Self> {
        let dir = settings.dir.join(node);
        std::fs::create_dir_all(&dir)?;
        let mut head = Head {
            next_seq: 0,
            prev: genesis(node),
            file: None,
            checkpointed: None,
        };
        if let Some(last) = segments(&dir)?.last() {
            if let Some((body, hash)) = last_record(last)? {
                head.next_seq = body.seq + 1;
                head.prev = hash;
            }
        }
        Ok(Self {
            node: node.into(),
            dir,
            key,
            settings,
            head: Mutex::new(head),
        })
    }

    pub fn node_dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one event at time `at`.
    pub fn append(&self, at: DateTime<Utc>, event: serde_json::Value) -> std::io::Result<()> {
        let mut h = self.head.lock().unwrap_or_else(|e| e.into_inner());
        let day = at.date_naive();
        let rotate = match &h.file {
            None => true,
            Some((_, _, d, size)) => *d != day || *size >= self.settings.max_segment_bytes,
        };
        if rotate {
            let path = self.dir.join(format!(
                "seg-{:012}-{}.jsonl",
                h.next_seq,
                day.format("%Y%m%d")
            ));
            let file = OpenOptions::new().create(true).append(true).open(&path)?;
            if let Some((old, _, _, _)) = h.file.take() {
                old.sync_data()?;
            }
            h.file = Some((file, path, day, 0));
            self.purge(at)?;
        }
        let body = Body {
            seq: h.next_seq,
            at,
            node: self.node.clone(),
            prev: h.prev.clone(),
            event,
        };
        let line = format!("{}\n", body.line());
        if let Some((file, _, _, size)) = h.file.as_mut() {
            file.write_all(line.as_bytes())?;
            file.flush()?;
            *size += line.len() as u64;
        }
        h.prev = body.hash();
        h.next_seq += 1;
        Ok(())
    }

    fn write_checkpoint(&self, c: &Checkpoint) -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("checkpoints.jsonl"))?;
        writeln!(f, "{}", serde_json::to_string(c).unwrap_or_default())?;
        f.sync_data()
    }

    /// Signs the current head (when records were added since the last checkpoint).
    pub fn checkpoint(&self, now: DateTime<Utc>) -> std::io::Result<()> {
        let mut h = self.head.lock().unwrap_or_else(|e| e.into_inner());
        if h.next_seq == 0 || h.checkpointed == Some(h.next_seq - 1) {
            return Ok(());
        }
        if let Some((f, _, _, _)) = &h.file {
            f.sync_data()?;
        }
        let c = Checkpoint::sign(&self.key, &self.node, h.next_seq - 1, &h.prev, now, "head")
            .map_err(std::io::Error::other)?;
        self.write_checkpoint(&c)?;
        h.checkpointed = Some(h.next_seq - 1);
        Ok(())
    }

    /// Removes the segments entirely older than the retention, oldest first, after signing an
    /// anchor for the last record removed. The current segment is never removed.
    fn purge(&self, now: DateTime<Utc>) -> std::io::Result<()> {
        let limit = (now - self.settings.retention).date_naive();
        let all = segments(&self.dir)?;
        for (i, seg) in all.iter().enumerate() {
            let Some(next) = all.get(i + 1) else { break };
            // A segment ends where the next one starts: its records are older than the next's day.
            let next_day = next
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.rsplit('-').next())
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y%m%d").ok());
            if next_day.is_none_or(|d| d > limit) {
                break;
            }
            if let Some((body, hash)) = last_record(seg)? {
                let c = Checkpoint::sign(&self.key, &self.node, body.seq, &hash, now, "anchor")
                    .map_err(std::io::Error::other)?;
                self.write_checkpoint(&c)?;
            }
            std::fs::remove_file(seg)?;
        }
        Ok(())
    }
}

impl TraceSink for AuditLog {
    fn record(&self, at: DateTime<Utc>, event: TraceEvent) {
        let kind = event.kind();
        let value = match serde_json::to_value(&event) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, kind, "audit record could not be serialised");
                return;
            }
        };
        if let Err(e) = self.append(at, value) {
            tracing::error!(error = %e, kind, dir = %self.dir.display(), "audit record could not be written: check the audit directory's disk and permissions");
        }
    }
}
