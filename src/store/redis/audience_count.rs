//! The Redis store's counting, in two steps per partition (each partition one slot, so that a
//! cluster's nodes count theirs): `decide_events.lua` decides a batch and keeps the decisions
//! under the batch's token; this module turns them into increments of the counts hashes
//! ([`PartWindow`]), which a counter sums over a window of batches; `apply_counts.lua` applies a
//! window's increments at once, unless a batch of it was taken over (its counter took longer
//! than `claim_idle` and another claimed its events).

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use chrono::NaiveDate;
use rand::RngCore;
use redis::{Cmd, ErrorKind, FromRedisValue, Script};
use rustc_hash::FxHashMap;

use super::{unavailable, RedisStore};
use crate::domain::count_window::Deltas;
use crate::domain::counting::{
    cell_of, cells_of_dims, click_record, dims_of, fnv, has_months, month_of, parse_click_record,
    view_places, ViewPlace, DOUBLE_CLICK_MS, PARTS, VISITOR_DAY_SECONDS,
};
use crate::domain::{AudienceEvent, Counted, Decided, PartWindow};
use crate::store::StoreResult;

static DECIDE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("decide_events.lua")));
static APPLY: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("apply_counts.lua")));

/// The cells of an event, in order: (scope dimension, its place in an event's dimensions, by,
/// its place).
static VIEWS: LazyLock<Vec<ViewPlace>> = LazyLock::new(view_places);

/// A cell of a batch (a view's value on a day), its hashes and field made once however many
/// events fall in it, and what the batch adds to it.
struct Cell {
    day: String,
    month: Option<String>,
    field: String,
    deltas: Deltas,
}

/// The batch's cells, found by borrowed parts: (day, view, scope value, value).
#[derive(Default)]
struct Cells<'a> {
    index: FxHashMap<(NaiveDate, usize, &'a str, &'a str), usize>,
    all: Vec<Cell>,
}

impl<'a> Cells<'a> {
    fn of(&mut self, day: NaiveDate, view: usize, scope: &'a str, value: &'a str) -> usize {
        if let Some(n) = self.index.get(&(day, view, scope, value)) {
            return *n;
        }
        let (scope_dim, sp, by, _) = VIEWS[view];
        let scope_part = match sp {
            Some(_) => format!("{scope_dim}={scope}"),
            None => "all".to_string(),
        };
        let view_name = format!("{scope_part}:{by}");
        let (key, field) = cell_of(&day.to_string(), &view_name, value);
        let month = has_months(&scope_part).then(|| cell_of(&month_of(day), &view_name, value).0);
        self.all.push(Cell {
            day: key,
            month,
            field,
            deltas: [0; 3],
        });
        self.index
            .insert((day, view, scope, value), self.all.len() - 1);
        self.all.len() - 1
    }

    fn into_window(self, token: Option<String>) -> PartWindow {
        let mut w = PartWindow::default();
        w.tokens.extend(token);
        for c in self.all {
            w.add(&c.day, &c.field, c.deltas);
            if let Some(m) = &c.month {
                w.add(m, &c.field, c.deltas);
            }
        }
        w
    }
}

/// An event's cells, as (view, scope value, value), and their tokens (8 bytes each, FNV-1a of
/// `<scope>:<by>=<value>`, as [`crate::domain::counting::cell_token`]).
fn cells_and_tokens<'a>(
    dims: &[&'a str; 7],
    tokens: &mut Vec<u8>,
) -> Vec<(usize, &'a str, &'a str)> {
    VIEWS
        .iter()
        .enumerate()
        .map(|(n, (scope_dim, sp, by, bp))| {
            let scope = sp.map_or("", |i| dims[i]);
            let value = bp.map_or("*", |i| dims[i]);
            let t = match sp {
                Some(_) => fnv(&[
                    scope_dim.as_bytes(),
                    b"=",
                    scope.as_bytes(),
                    b":",
                    by.as_bytes(),
                    b"=",
                    value.as_bytes(),
                ]),
                None => fnv(&[b"all:", by.as_bytes(), b"=", value.as_bytes()]),
            };
            tokens.extend_from_slice(&t);
            (n, scope, value)
        })
        .collect()
}

/// `EVALSHA` of a script with one key (its partition's, for routing), arguments to follow.
fn evalsha(script: &Script, key: &str) -> Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(script.get_hash()).arg(1).arg(key);
    cmd
}

fn token() -> String {
    let mut b = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

impl RedisStore {
    /// Runs a script's command, loading the script first if Redis does not know it.
    async fn run<T: FromRedisValue>(&self, script: &Script, cmd: &Cmd) -> redis::RedisResult<T> {
        let mut conn = self.conn.clone();
        match cmd.query_async(&mut conn).await {
            Err(e) if e.kind() == ErrorKind::NoScriptError => {
                script.prepare_invoke().load_async(&mut conn).await?;
                cmd.query_async(&mut conn).await
            }
            other => other,
        }
    }

    /// Decides one partition's share of a batch in one run of `decide_events.lua`.
    async fn decide_part(
        &self,
        part: u8,
        events: &[(&str, &AudienceEvent)],
        dedup: Duration,
    ) -> StoreResult<(Counted, PartWindow)> {
        let at = |rest: &str| self.keys.audience_part(part, rest);
        let token = token();
        let mut cells = Cells::default();
        let mut of_event: Vec<Vec<usize>> = Vec::with_capacity(events.len());
        let mut cmd = evalsha(&DECIDE, &at("counts"));
        cmd.arg(at(""))
            .arg(&token)
            .arg(dedup.as_secs().max(1))
            .arg(DOUBLE_CLICK_MS)
            .arg(VISITOR_DAY_SECONDS)
            .arg(events.len())
            .arg(VIEWS.len());
        let mut tokens = Vec::with_capacity(8 * VIEWS.len());
        for (sid, e) in events {
            let prev = match (&e.visitor_prev, e.day.pred_opt()) {
                (Some(v), Some(d)) => at(&format!("vd:{d}|{v}|{}", e.uai)),
                _ => String::new(),
            };
            tokens.clear();
            let mine = cells_and_tokens(&dims_of(e), &mut tokens);
            cmd.arg(&e.id)
                .arg(*sid)
                .arg(e.t)
                .arg(at(&format!("vd:{}|{}|{}", e.day, e.visitor, e.uai)))
                .arg(prev)
                .arg(format!("d:{}", e.resource))
                .arg(click_record(e))
                .arg(&tokens[..]);
            of_event.push(
                mine.into_iter()
                    .map(|(view, scope, value)| cells.of(e.day, view, scope, value))
                    .collect(),
            );
        }
        let decisions: Vec<String> = self
            .run(&DECIDE, &cmd)
            .await
            .map_err(unavailable("decide audience events"))?;
        let mut counted = Counted::default();
        let mut backs = Vec::new();
        for (mine, d) in of_event.iter().zip(&decisions) {
            let (bits, back) = d.split_once('|').unwrap_or((d, ""));
            let bits = bits.as_bytes();
            if bits.len() != VIEWS.len() + 1 {
                counted.duplicates += 1;
                continue;
            }
            counted.new += 1;
            let kept = i64::from(bits[0] == b'1');
            for (n, new) in mine.iter().zip(&bits[1..]) {
                let c = &mut cells.all[*n].deltas;
                c[0] += 1;
                c[1] += kept;
                c[2] += i64::from(*new == b'1');
            }
            // The earlier click the double-click rule replaced: its filtered count back.
            if let Some(earlier) = parse_click_record(back) {
                backs.push(earlier);
            }
        }
        let mut window = cells.into_window((counted.new > 0).then_some(token));
        for (day, dims) in backs {
            for (view, value) in cells_of_dims(&dims) {
                let period = day.to_string();
                let (key, field) = cell_of(&period, &view, &value);
                window.add(&key, &field, [0, -1, 0]);
                let scope = view.rsplit_once(':').map_or(view.as_str(), |(s, _)| s);
                if has_months(scope) {
                    window.add(
                        &cell_of(&month_of(day), &view, &value).0,
                        &field,
                        [0, -1, 0],
                    );
                }
            }
        }
        Ok((counted, window))
    }

    /// Applies one partition's share of a window in one run of `apply_counts.lua`.
    async fn apply_part(&self, part: u8, w: &PartWindow, retention: Duration) -> StoreResult<bool> {
        if w.tokens.is_empty() {
            return Ok(true);
        }
        let at = |rest: &str| self.keys.audience_part(part, rest);
        let writes: Vec<(&str, Vec<(&str, Deltas)>)> = w.writes().collect();
        let mut cmd = evalsha(&APPLY, &at("counts"));
        cmd.arg(at(""))
            .arg(retention.as_secs().max(1))
            .arg(w.tokens.len())
            .arg(writes.len());
        for t in &w.tokens {
            cmd.arg(t);
        }
        for (key, fields) in &writes {
            cmd.arg(*key).arg(fields.len());
            for (f, [r, fl, u]) in fields {
                cmd.arg(*f).arg(*r).arg(*fl).arg(*u);
            }
        }
        let applied: i64 = self
            .run(&APPLY, &cmd)
            .await
            .map_err(unavailable("apply audience counts"))?;
        Ok(applied == 1)
    }

    /// Decides a batch, its partitions at once (on a cluster, by their own nodes).
    pub(super) async fn decide(
        &self,
        events: &[AudienceEvent],
        stream_ids: &[String],
        dedup: Duration,
    ) -> StoreResult<Decided> {
        let mut parts: Vec<Vec<(&str, &AudienceEvent)>> = vec![Vec::new(); usize::from(PARTS)];
        for (i, e) in events.iter().enumerate() {
            let sid = stream_ids.get(i).map_or("", String::as_str);
            parts[usize::from(e.part % PARTS)].push((sid, e));
        }
        let runs = parts
            .iter()
            .enumerate()
            .filter(|(_, batch)| !batch.is_empty())
            .map(|(part, batch)| async move {
                let (counted, w) = self.decide_part(part as u8, batch, dedup).await?;
                StoreResult::Ok((part as u8, counted, w))
            });
        let mut out = Decided {
            counted: Counted::default(),
            parts: BTreeMap::new(),
        };
        for (part, counted, w) in futures_util::future::try_join_all(runs).await? {
            out.counted += counted;
            if !w.tokens.is_empty() {
                out.parts.insert(part, w);
            }
        }
        Ok(out)
    }

    /// Applies a window, its partitions at once.
    pub(super) async fn apply(&self, window: &Decided, retention: Duration) -> StoreResult<bool> {
        let runs = window
            .parts
            .iter()
            .map(|(part, w)| self.apply_part(*part, w, retention));
        Ok(futures_util::future::try_join_all(runs)
            .await?
            .into_iter()
            .all(|applied| applied))
    }
}
