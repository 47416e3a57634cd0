//! Searching the audit log for auditors: records of every node under the audit directory,
//! filtered by time range, school, resource, provider, event type and pseudonymous subject,
//! within the auditor's scope, and exported as JSON lines or CSV.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::chain::{parse_line, Body};
use super::writer::segments;
use crate::domain::Jurisdiction;

/// What an auditor may read: its jurisdiction, with what it covers resolved (a provider's
/// resources, an ENT's schools).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub of: Jurisdiction,
    /// The provider's resources (for `Jurisdiction::Provider`).
    pub resources: Vec<String>,
    /// The ENT's schools (for `Jurisdiction::Ent`).
    pub uais: Vec<String>,
}

fn field<'a>(e: &'a Value, name: &str) -> Option<&'a str> {
    e.get(name).and_then(Value::as_str)
}

impl Scope {
    /// A scope with nothing to resolve (`All`, `School`), or resolved by the caller.
    pub fn of(of: Jurisdiction) -> Self {
        Self {
            of,
            resources: Vec::new(),
            uais: Vec::new(),
        }
    }

    pub fn admits(&self, e: &Value) -> bool {
        match &self.of {
            Jurisdiction::All => true,
            Jurisdiction::Provider(key) => {
                field(e, "provider") == Some(key)
                    || field(e, "resource").is_some_and(|r| self.resources.iter().any(|x| x == r))
            }
            Jurisdiction::Ent(id) => {
                field(e, "ent") == Some(id.as_str())
                    || field(e, "uai").is_some_and(|u| self.uais.iter().any(|x| x == u))
            }
            Jurisdiction::School(uai) => field(e, "uai") == Some(uai.as_str()),
        }
    }
}

/// The search criteria; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub uai: Option<String>,
    pub resource: Option<String>,
    pub provider: Option<String>,
    /// The event type, e.g. `access_granted`.
    pub event: Option<String>,
    /// A pseudonymous subject: a trace subject or an IDO.
    pub subject: Option<String>,
}

impl Filter {
    pub fn matches(&self, r: &Body) -> bool {
        let e = &r.event;
        let eq = |want: &Option<String>, names: &[&str]| {
            want.as_ref()
                .is_none_or(|w| names.iter().any(|n| field(e, n) == Some(w)))
        };
        self.from.is_none_or(|f| r.at >= f)
            && self.to.is_none_or(|t| r.at < t)
            && eq(&self.uai, &["uai"])
            && eq(&self.resource, &["resource"])
            && eq(&self.provider, &["provider"])
            && eq(&self.event, &["event"])
            && eq(&self.subject, &["subject", "ido"])
    }
}

/// Matching records of every node, in each node's order, at most `limit`; and whether more
/// matched.
pub fn search(
    dir: &Path,
    filter: &Filter,
    scope: &Scope,
    limit: usize,
) -> std::io::Result<(Vec<Body>, bool)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok((out, false));
    };
    let mut nodes: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    nodes.sort();
    for node in nodes {
        for seg in segments(&node)? {
            for line in BufReader::new(File::open(&seg)?).lines() {
                let Ok((body, _)) = parse_line(&line?) else {
                    continue;
                };
                if filter.matches(&body) && scope.admits(&body.event) {
                    if out.len() == limit {
                        return Ok((out, true));
                    }
                    out.push(body);
                }
            }
        }
    }
    Ok((out, false))
}

/// One JSON object per line: the record's time, node, sequence number and event.
pub fn to_json_lines(records: &[Body]) -> String {
    records
        .iter()
        .map(|r| {
            format!(
                "{}\n",
                serde_json::json!({"at": r.at, "node": r.node, "seq": r.seq, "event": r.event})
            )
        })
        .collect()
}

fn csv_cell(v: &str) -> String {
    // Cells that a spreadsheet would run as formulas are quoted and prefixed (CSV injection).
    let v = if v.starts_with(['=', '+', '-', '@']) {
        format!("'{v}")
    } else {
        v.to_string()
    };
    if v.contains([';', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// CSV separated by `;`: the common columns, then the rest of the event as JSON.
pub fn to_csv(records: &[Body]) -> String {
    let cols = [
        "event", "ent", "uai", "provider", "resource", "profile", "subject", "ido", "reason",
        "check",
    ];
    let mut out = format!("at;node;seq;{};details\n", cols.join(";"));
    for r in records {
        let mut rest = r.event.clone();
        let mut row = vec![r.at.to_rfc3339(), r.node.clone(), r.seq.to_string()];
        for c in cols {
            let v = rest.as_object_mut().and_then(|o| o.remove(c));
            row.push(match v {
                Some(Value::String(s)) => s,
                Some(other) => other.to_string(),
                None => String::new(),
            });
        }
        row.push(rest.to_string());
        out.push_str(
            &row.iter()
                .map(|c| csv_cell(c))
                .collect::<Vec<_>>()
                .join(";"),
        );
        out.push('\n');
    }
    out
}
