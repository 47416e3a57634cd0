//! Audience reports: for one reader's scope and a date range, the accesses (after the COUNTER
//! double-click filter, and raw), and the distinct visitors, broken down by one dimension per
//! day, month or over the whole range. Below the ministry, cells with fewer distinct visitors
//! than the configured minimum are withheld (and counted as withheld).
//!
//! Visitors are distinct within a day only (the salt changes every day): over a month or a
//! range they are summed day by day ("visitor-days"). A month the range covers whole is read
//! from its month hash (counted as the days are), the rest day by day, so a month's report
//! reads one hash per month, whatever the number of days or rows.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use crate::domain::counting::{has_months, hash_of, month_of, scope_part, TOTAL, VIEWS};
use crate::domain::Jurisdiction;
use crate::store::{Store, StoreResult};

/// Longest range of one report.
pub const MAX_DAYS: i64 = 800;

/// What a jurisdiction means for the counts' layout.
trait Layout {
    fn dim(&self) -> &'static str;
    fn key_part(&self) -> String;
}

impl Layout for Jurisdiction {
    fn dim(&self) -> &'static str {
        match self {
            Jurisdiction::All => "all",
            Jurisdiction::Provider(_) => "provider",
            Jurisdiction::Ent(_) => "ent",
            Jurisdiction::School(_) => "uai",
        }
    }

    fn key_part(&self) -> String {
        match self {
            Jurisdiction::All => scope_part("all", None),
            Jurisdiction::Provider(v) => scope_part(self.dim(), Some(v)),
            Jurisdiction::Ent(v) => scope_part(self.dim(), Some(v.as_str())),
            Jurisdiction::School(v) => scope_part(self.dim(), Some(v.as_str())),
        }
    }
}

/// The dimensions a report in `scope` can be broken down by.
pub fn dimensions(scope: &Jurisdiction) -> &'static [&'static str] {
    VIEWS
        .iter()
        .find(|(d, _)| *d == scope.dim())
        .map_or(&[], |(_, bys)| bys)
}

/// How rows are grouped in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Month,
    Total,
}

impl std::str::FromStr for Period {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "day" => Ok(Period::Day),
            "month" => Ok(Period::Month),
            "total" => Ok(Period::Total),
            other => Err(format!("period « {other} » : day, month ou total")),
        }
    }
}

/// A report to build.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    /// Whose figures (the ministry sees `All`).
    pub scope: Jurisdiction,
    pub from: NaiveDate,
    /// Inclusive.
    pub to: NaiveDate,
    pub by: String,
    pub period: Period,
    /// Small-cell threshold; `None` at the ministry level.
    pub min_visitors: Option<u64>,
}

impl ReportRequest {
    /// Checks the range and the dimension against the scope.
    pub fn check(&self) -> Result<(), String> {
        if self.to < self.from {
            return Err("la date de fin précède la date de début".into());
        }
        if (self.to - self.from).num_days() >= MAX_DAYS {
            return Err(format!("période trop longue (au plus {MAX_DAYS} jours)"));
        }
        if !dimensions(&self.scope).contains(&self.by.as_str()) {
            return Err(format!(
                "by « {} » : l'une de {}",
                self.by,
                dimensions(&self.scope).join(", ")
            ));
        }
        Ok(())
    }
}

/// One row of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// `YYYY-MM-DD`, `YYYY-MM`, or `YYYY-MM-DD/YYYY-MM-DD` for the whole range.
    pub period: String,
    /// The value of the `by` dimension (`*` for the total).
    pub value: String,
    /// Accesses after the double-click filter.
    pub accesses: i64,
    /// Every access.
    pub accesses_raw: i64,
    /// Distinct visitors, summed over the days of the period.
    pub visitors: u64,
}

/// A built report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scope: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub by: String,
    pub period: Period,
    pub min_visitors: Option<u64>,
    /// Rows withheld because they had fewer distinct visitors than `min_visitors`.
    pub suppressed: usize,
    pub rows: Vec<Row>,
}

fn period_of(day: NaiveDate, req: &ReportRequest) -> String {
    match req.period {
        Period::Day => day.to_string(),
        Period::Month => month_of(day),
        Period::Total => format!("{}/{}", req.from, req.to),
    }
}

/// What to read for a range: (the row period it adds to, the hash's period), a month's hash
/// for a month the range covers whole (unless rows are per day, or the scope has none), a
/// day's hash for the rest.
fn segments(req: &ReportRequest, months: bool) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut day = req.from;
    while day <= req.to {
        let first = day.with_day(1).unwrap_or(day);
        let next_month = first
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(NaiveDate::MAX);
        let whole = day == first && next_month.pred_opt().is_some_and(|last| last <= req.to);
        if whole && months && req.period != Period::Day {
            out.push((period_of(day, req), month_of(day)));
            day = next_month;
        } else {
            out.push((period_of(day, req), day.to_string()));
            match day.succ_opt() {
                Some(d) => day = d,
                None => break,
            }
        }
    }
    out
}

/// Builds a report from the store's counts.
pub async fn build(store: &dyn Store, req: &ReportRequest) -> StoreResult<Report> {
    let scope = req.scope.key_part();
    let segments = segments(req, has_months(&scope));
    let (keys, prefixes): (Vec<String>, Vec<String>) = segments
        .iter()
        .map(|(_, hash)| hash_of(hash, &scope, &req.by))
        .unzip();
    let hashes = store.audience_cells(&keys).await?;
    let mut rows: BTreeMap<(String, String), Row> = BTreeMap::new();
    for (((period, _), fields), prefix) in segments.into_iter().zip(hashes).zip(prefixes) {
        for (field, n) in fields {
            let Some((kind, value)) = field
                .split_once(':')
                .and_then(|(kind, rest)| Some((kind, rest.strip_prefix(prefix.as_str())?)))
            else {
                continue;
            };
            let row = rows
                .entry((period.clone(), value.to_string()))
                .or_insert_with(|| Row {
                    period: period.clone(),
                    value: value.to_string(),
                    accesses: 0,
                    accesses_raw: 0,
                    visitors: 0,
                });
            match kind {
                "f" => row.accesses += n,
                "r" => row.accesses_raw += n,
                "u" => row.visitors += u64::try_from(n).unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut suppressed = 0;
    let mut out: Vec<Row> = rows
        .into_values()
        .filter(|r| {
            let keep = req.min_visitors.is_none_or(|k| r.visitors >= k);
            if !keep {
                suppressed += 1;
            }
            keep
        })
        .collect();
    out.sort_by(|a, b| {
        a.period
            .cmp(&b.period)
            .then(b.accesses.cmp(&a.accesses))
            .then(a.value.cmp(&b.value))
    });
    Ok(Report {
        scope: req.scope.label(),
        from: req.from,
        to: req.to,
        by: req.by.clone(),
        period: req.period,
        min_visitors: req.min_visitors,
        suppressed,
        rows: out,
    })
}

/// A CSV field, quoted when it holds the separator, a quote or a line break.
pub fn csv_field(s: &str) -> String {
    if s.contains([';', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The report as CSV (`;`-separated, as the GAR's own CSV answers).
pub fn to_csv(r: &Report) -> String {
    let by = if r.by == TOTAL { "total" } else { &r.by };
    let mut out = format!("period;{by};accesses;accesses_raw;visitors\n");
    for row in &r.rows {
        out.push_str(&format!(
            "{};{};{};{};{}\n",
            row.period,
            csv_field(&row.value),
            row.accesses,
            row.accesses_raw,
            row.visitors
        ));
    }
    out
}
