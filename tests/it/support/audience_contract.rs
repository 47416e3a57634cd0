//! The audience part of the store contract: the counting rules (idempotent, COUNTER's
//! 30-second double-click filter, days, distinct visitors), the stream with its consumer
//! groups, and the day salts. Run against the memory store, a Redis and a Redis Cluster, with
//! the same fixed event times, so that both implementations give the same figures.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use passerelle::audience::report::{build, Period, ReportRequest};
use passerelle::audience::{AudienceEvent, DeviceClass};
use passerelle::domain::Jurisdiction;
use passerelle::store::Store;
use passerelle::trace::Channel;

pub const DEDUP: Duration = Duration::from_secs(3600);
pub const RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Builds events; `at` is UTC, `day` given as the audience day.
pub struct Ev {
    n: u32,
}

impl Ev {
    pub fn new() -> Self {
        Self { n: 0 }
    }

    pub fn at(
        &mut self,
        at: DateTime<Utc>,
        day: &str,
        visitor: &str,
        resource: &str,
        uai: &str,
    ) -> AudienceEvent {
        self.n += 1;
        AudienceEvent {
            id: format!("ev-{}-{}", self.n, uuid::Uuid::new_v4().simple()),
            at,
            t: at.timestamp_millis(),
            day: day.parse().unwrap(),
            resource: resource.into(),
            provider: if resource.contains("99999") {
                "editeur".into()
            } else {
                "autre".into()
            },
            uai: uai.into(),
            ent: "B0".into(),
            profile: "National_elv".into(),
            channel: Channel::Web,
            device: DeviceClass::Computer,
            service: "MANUEL_NUMERIQUE".into(),
            outil: "Manuel".into(),
            visitor: visitor.into(),
            visitor_prev: None,
            part: passerelle::domain::counting::part_of(uai),
        }
    }
}

pub fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, h, m, s).unwrap()
}

pub const R1: &str = "ark:/99999/r1";
pub const R2: &str = "ark:/99999/r2";
pub const U1: &str = "0561641E";
pub const U2: &str = "0561642F";
pub const DAY: &str = "2026-11-24";

pub fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// (filtered, raw, visitors) of one cell.
pub async fn cell(
    store: &dyn Store,
    scope: Jurisdiction,
    by: &str,
    value: &str,
    from: &str,
    to: &str,
) -> (i64, i64, u64) {
    let r = build(
        store,
        &ReportRequest {
            scope,
            from: d(from),
            to: d(to),
            by: by.into(),
            period: Period::Total,
            min_visitors: None,
        },
    )
    .await
    .unwrap();
    r.rows
        .iter()
        .find(|row| row.value == value)
        .map_or((0, 0, 0), |row| {
            (row.accesses, row.accesses_raw, row.visitors)
        })
}

pub async fn double_clicks_and_redelivery(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let mut ev = Ev::new();
    let batch = vec![
        // v1: 20 s apart (one filtered access), then 35 s later (a second one).
        ev.at(t(8, 0, 0), DAY, "v1", R1, U1),
        ev.at(t(8, 0, 20), DAY, "v1", R1, U1),
        ev.at(t(8, 0, 55), DAY, "v1", R1, U1),
        // v2: exactly 30 s apart: not under 30 s, both count.
        ev.at(t(8, 0, 0), DAY, "v2", R1, U1),
        ev.at(t(8, 0, 30), DAY, "v2", R1, U1),
        // v3: two resources within seconds: both count.
        ev.at(t(8, 0, 0), DAY, "v3", R2, U2),
        ev.at(t(8, 0, 10), DAY, "v3", R1, U2),
    ];
    let c = s.count_events(&batch, DEDUP, RETENTION).await.unwrap();
    assert_eq!((c.new, c.duplicates), (7, 0));
    assert_eq!(
        cell(s, Jurisdiction::All, "total", "*", DAY, DAY).await,
        (6, 7, 3)
    );
    assert_eq!(
        cell(s, Jurisdiction::All, "resource", R1, DAY, DAY).await,
        (5, 6, 3)
    );
    assert_eq!(
        cell(
            s,
            Jurisdiction::School(U2.parse().unwrap()),
            "resource",
            R2,
            DAY,
            DAY
        )
        .await,
        (1, 1, 1)
    );
    assert_eq!(
        cell(
            s,
            Jurisdiction::School(U1.parse().unwrap()),
            "total",
            "*",
            DAY,
            DAY
        )
        .await,
        (4, 5, 2)
    );
    assert_eq!(
        cell(
            s,
            Jurisdiction::Provider("editeur".into()),
            "uai",
            U2,
            DAY,
            DAY
        )
        .await,
        (2, 2, 1)
    );
    assert_eq!(
        cell(
            s,
            Jurisdiction::Ent("B0".parse().unwrap()),
            "channel",
            "web",
            DAY,
            DAY
        )
        .await,
        (6, 7, 3)
    );
    assert_eq!(
        cell(s, Jurisdiction::All, "device", "computer", DAY, DAY).await,
        (6, 7, 3)
    );
    // The same batch delivered again (a consumer that crashed before acknowledging): nothing
    // counts twice, in whole or in part.
    let again = s.count_events(&batch, DEDUP, RETENTION).await.unwrap();
    assert_eq!((again.new, again.duplicates), (0, 7));
    let mixed = vec![batch[0].clone(), ev.at(t(9, 0, 0), DAY, "v9", R2, U1)];
    let c = s.count_events(&mixed, DEDUP, RETENTION).await.unwrap();
    assert_eq!((c.new, c.duplicates), (1, 1));
    assert_eq!(
        cell(s, Jurisdiction::All, "total", "*", DAY, DAY).await,
        (7, 8, 4)
    );
}

pub async fn late_and_cross_midnight_clicks(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let mut ev = Ev::new();
    // Delivered out of order: the later click first. The pair still counts once.
    let late = vec![
        ev.at(t(10, 0, 20), DAY, "w1", R1, U1),
        ev.at(t(10, 0, 5), DAY, "w1", R1, U1),
    ];
    s.count_events(&late, DEDUP, RETENTION).await.unwrap();
    assert_eq!(
        cell(s, Jurisdiction::All, "total", "*", DAY, DAY).await,
        (1, 2, 1)
    );
    // Across midnight (Paris, UTC+1): 23:59:50 and 00:00:10 local. The visitor id changes with
    // the day's salt; the second event carries the previous day's too, and COUNTER keeps the
    // second click: the filtered access moves to the new day.
    let before = Utc.with_ymd_and_hms(2026, 11, 24, 22, 59, 50).unwrap();
    let after = Utc.with_ymd_and_hms(2026, 11, 24, 23, 0, 10).unwrap();
    let first = ev.at(before, "2026-11-24", "x-day1", R2, U2);
    let mut second = ev.at(after, "2026-11-25", "x-day2", R2, U2);
    second.visitor_prev = Some("x-day1".into());
    s.count_events(&[first], DEDUP, RETENTION).await.unwrap();
    assert_eq!(
        cell(
            s,
            Jurisdiction::School(U2.parse().unwrap()),
            "total",
            "*",
            DAY,
            DAY
        )
        .await,
        (1, 1, 1)
    );
    s.count_events(&[second], DEDUP, RETENTION).await.unwrap();
    assert_eq!(
        cell(
            s,
            Jurisdiction::School(U2.parse().unwrap()),
            "total",
            "*",
            DAY,
            DAY
        )
        .await,
        (0, 1, 1)
    );
    assert_eq!(
        cell(
            s,
            Jurisdiction::School(U2.parse().unwrap()),
            "total",
            "*",
            "2026-11-25",
            "2026-11-25"
        )
        .await,
        (1, 1, 1)
    );
    // Over both days: one filtered access, two raw, two visitor-days (ids differ by day).
    assert_eq!(
        cell(
            s,
            Jurisdiction::School(U2.parse().unwrap()),
            "total",
            "*",
            DAY,
            "2026-11-25"
        )
        .await,
        (1, 2, 2)
    );
}

pub async fn stream_groups_and_claims(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let group = "test-group";
    s.create_group(group).await.unwrap();
    let events: Vec<String> = (0..10).map(|i| format!("{{\"n\":{i}}}")).collect();
    s.append_events(&events).await.unwrap();
    let idle = Duration::from_secs(60);
    let a = s.read_events(group, "node-a", 4, idle).await.unwrap();
    assert_eq!(a.len(), 4);
    assert_eq!(a[0].event, "{\"n\":0}");
    // node-a "crashes": its four events stay pending. node-b reads the next ones.
    let b = s.read_events(group, "node-b", 100, idle).await.unwrap();
    assert_eq!(b.len(), 6);
    assert_eq!(b[0].event, "{\"n\":4}");
    assert_eq!(s.pending_events(group).await.unwrap(), 10);
    let ids: Vec<String> = b.iter().map(|d| d.id.clone()).collect();
    s.ack_events(group, &ids).await.unwrap();
    assert_eq!(s.pending_events(group).await.unwrap(), 4);
    // Nothing idle long enough yet: nothing is claimed and nothing new arrives.
    assert!(s
        .read_events(group, "node-b", 100, idle)
        .await
        .unwrap()
        .is_empty());
    // After the idle time, node-b takes over node-a's events.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let claimed = s
        .read_events(group, "node-b", 100, Duration::from_millis(100))
        .await
        .unwrap();
    let mut got: Vec<String> = claimed.iter().map(|d| d.event.clone()).collect();
    got.sort();
    assert_eq!(
        got,
        (0..4).map(|i| format!("{{\"n\":{i}}}")).collect::<Vec<_>>()
    );
    let ids: Vec<String> = claimed.iter().map(|d| d.id.clone()).collect();
    s.ack_events(group, &ids).await.unwrap();
    assert_eq!(s.pending_events(group).await.unwrap(), 0);
    // Everything acknowledged by the one group: trimming drops all ten.
    assert_eq!(s.trim_events().await.unwrap(), 10);
    s.append_events(&["{\"n\":10}".to_string()]).await.unwrap();
    let next = s.read_events(group, "node-b", 100, idle).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].event, "{\"n\":10}");
}

pub async fn day_salts(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap();
    let until = Utc.with_ymd_and_hms(2026, 11, 26, 23, 0, 0).unwrap();
    let a = s.day_salt(d(DAY), until, now).await.unwrap();
    assert_eq!(a.len(), 32);
    assert_eq!(
        s.day_salt(d(DAY), until, now).await.unwrap(),
        a,
        "one salt per day, shared"
    );
    let other = s.day_salt(d("2026-11-25"), until, now).await.unwrap();
    assert_ne!(other, a);
    // A day whose salt is past its life never gets one back: each call is a fresh random one.
    let past = Utc.with_ymd_and_hms(2026, 11, 20, 23, 0, 0).unwrap();
    let x = s.day_salt(d("2026-11-18"), past, now).await.unwrap();
    let y = s.day_salt(d("2026-11-18"), past, now).await.unwrap();
    assert_ne!(x, y);
}

/// One case of COUNTER's double-click rule: clicks on one item, and the (day, filtered, raw)
/// counts of that item expected afterwards, day by day.
struct Case {
    name: &'static str,
    /// (UTC time, audience day, visitor, the previous day's visitor id, item suffix).
    clicks: &'static [(
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
        &'static str,
    )],
    /// (day, filtered, raw) for every item suffix that has counts, in (item, day) order.
    expected: &'static [(&'static str, &'static str, i64, i64)],
}

/// The cases, in the words of the Code of Practice 5.1 (§7.2): two clicks on the same item by
/// the same user within 30 seconds are one action, the first removed and the second kept; a
/// third within 30 seconds of the second again removes the one before. The gateway's window is
/// "under 30 seconds" (a pair exactly 30 s apart counts twice); the audience day is Paris's
/// (UTC+1 in November and December).
const CASES: &[Case] = &[
    Case {
        name: "29 s apart: one action",
        clicks: &[
            ("2026-11-24T08:00:00Z", "2026-11-24", "v", None, "a"),
            ("2026-11-24T08:00:29Z", "2026-11-24", "v", None, "a"),
        ],
        expected: &[("a", "2026-11-24", 1, 2)],
    },
    Case {
        name: "29.999 s apart: one action",
        clicks: &[
            ("2026-11-24T08:00:00.000Z", "2026-11-24", "v", None, "a"),
            ("2026-11-24T08:00:29.999Z", "2026-11-24", "v", None, "a"),
        ],
        expected: &[("a", "2026-11-24", 1, 2)],
    },
    Case {
        name: "exactly 30 s apart: two actions",
        clicks: &[
            ("2026-11-24T08:00:00Z", "2026-11-24", "v", None, "a"),
            ("2026-11-24T08:00:30Z", "2026-11-24", "v", None, "a"),
        ],
        expected: &[("a", "2026-11-24", 2, 2)],
    },
    Case {
        name: "35 s apart (the Code's example): two actions",
        clicks: &[
            ("2026-11-24T10:01:00Z", "2026-11-24", "v", None, "a"),
            ("2026-11-24T10:01:35Z", "2026-11-24", "v", None, "a"),
        ],
        expected: &[("a", "2026-11-24", 2, 2)],
    },
    Case {
        name: "a chain 0 s, 20 s, 40 s, each within 30 s of the one before: one action",
        clicks: &[
            ("2026-11-24T08:00:00Z", "2026-11-24", "v", None, "a"),
            ("2026-11-24T08:00:20Z", "2026-11-24", "v", None, "a"),
            ("2026-11-24T08:00:40Z", "2026-11-24", "v", None, "a"),
        ],
        expected: &[("a", "2026-11-24", 1, 3)],
    },
    Case {
        name: "0 s, 20 s, 55 s: the third is 35 s after the second: two actions",
        clicks: &[
            ("2026-11-24T08:00:00Z", "2026-11-24", "v", None, "a"),
            ("2026-11-24T08:00:20Z", "2026-11-24", "v", None, "a"),
            ("2026-11-24T08:00:55Z", "2026-11-24", "v", None, "a"),
        ],
        expected: &[("a", "2026-11-24", 2, 3)],
    },
    Case {
        name: "delivered out of order, 10 s apart: one action",
        clicks: &[
            ("2026-11-24T08:00:10Z", "2026-11-24", "v", None, "a"),
            ("2026-11-24T08:00:00Z", "2026-11-24", "v", None, "a"),
        ],
        expected: &[("a", "2026-11-24", 1, 2)],
    },
    Case {
        name: "different items 5 s apart: one action each",
        clicks: &[
            ("2026-11-24T08:00:00Z", "2026-11-24", "v", None, "a"),
            ("2026-11-24T08:00:05Z", "2026-11-24", "v", None, "b"),
        ],
        expected: &[("a", "2026-11-24", 1, 1), ("b", "2026-11-24", 1, 1)],
    },
    Case {
        name: "different visitors 5 s apart: two actions",
        clicks: &[
            ("2026-11-24T08:00:00Z", "2026-11-24", "v", None, "a"),
            ("2026-11-24T08:00:05Z", "2026-11-24", "w", None, "a"),
        ],
        expected: &[("a", "2026-11-24", 2, 2)],
    },
    Case {
        name: "across midnight, 20 s apart: one action, on the later click's day",
        clicks: &[
            ("2026-11-24T22:59:50Z", "2026-11-24", "v-d1", None, "a"),
            (
                "2026-11-24T23:00:10Z",
                "2026-11-25",
                "v-d2",
                Some("v-d1"),
                "a",
            ),
        ],
        expected: &[("a", "2026-11-24", 0, 1), ("a", "2026-11-25", 1, 1)],
    },
    Case {
        name: "across midnight, 40 s apart: one action each day",
        clicks: &[
            ("2026-11-24T22:59:40Z", "2026-11-24", "v-d1", None, "a"),
            (
                "2026-11-24T23:00:20Z",
                "2026-11-25",
                "v-d2",
                Some("v-d1"),
                "a",
            ),
        ],
        expected: &[("a", "2026-11-24", 1, 1), ("a", "2026-11-25", 1, 1)],
    },
    Case {
        name: "across midnight, 20 s apart, another visitor: two actions",
        clicks: &[
            ("2026-11-24T22:59:50Z", "2026-11-24", "v-d1", None, "a"),
            (
                "2026-11-24T23:00:10Z",
                "2026-11-25",
                "w-d2",
                Some("w-d1"),
                "a",
            ),
        ],
        expected: &[("a", "2026-11-24", 1, 1), ("a", "2026-11-25", 1, 1)],
    },
    Case {
        name: "across a month boundary, 20 s apart: one action, in the later month",
        clicks: &[
            ("2026-11-30T22:59:50Z", "2026-11-30", "v-d1", None, "a"),
            (
                "2026-11-30T23:00:10Z",
                "2026-12-01",
                "v-d2",
                Some("v-d1"),
                "a",
            ),
        ],
        expected: &[("a", "2026-11-30", 0, 1), ("a", "2026-12-01", 1, 1)],
    },
    Case {
        name: "across a month boundary, 31 s apart: one action each month",
        clicks: &[
            ("2026-11-30T22:59:45Z", "2026-11-30", "v-d1", None, "a"),
            (
                "2026-11-30T23:00:16Z",
                "2026-12-01",
                "v-d2",
                Some("v-d1"),
                "a",
            ),
        ],
        expected: &[("a", "2026-11-30", 1, 1), ("a", "2026-12-01", 1, 1)],
    },
];

async fn rows_of(store: &dyn Store, period: Period) -> Vec<passerelle::audience::report::Row> {
    build(
        store,
        &ReportRequest {
            scope: Jurisdiction::All,
            from: d("2026-11-20"),
            to: d("2026-12-05"),
            by: "resource".into(),
            period,
            min_visitors: None,
        },
    )
    .await
    .unwrap()
    .rows
}

/// COUNTER's double-click rule, case by case (each case on items of its own, counted as one
/// batch), by day and by month.
pub async fn double_click_conformance(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let mut ev = Ev::new();
    for (i, case) in CASES.iter().enumerate() {
        let item = |suffix: &str| format!("ark:/99999/dc{i}-{suffix}");
        let prefix = format!("ark:/99999/dc{i}-");
        let mine = |v: &str| v.strip_prefix(&prefix).is_some_and(|s| s.len() == 1);
        let batch: Vec<AudienceEvent> = case
            .clicks
            .iter()
            .map(|(at, day, visitor, prev, suffix)| {
                let at: DateTime<Utc> = at.parse().unwrap();
                let mut e = ev.at(at, day, &format!("{i}-{visitor}"), &item(suffix), U1);
                e.visitor_prev = prev.map(|p| format!("{i}-{p}"));
                e
            })
            .collect();
        s.count_events(&batch, DEDUP, RETENTION).await.unwrap();
        let wanted: Vec<(String, String, i64, i64)> = case
            .expected
            .iter()
            .map(|(suffix, day, f, r)| (item(suffix), day.to_string(), *f, *r))
            .collect();
        let mut got: Vec<(String, String, i64, i64)> = rows_of(s, Period::Day)
            .await
            .into_iter()
            .filter(|r| mine(&r.value))
            .map(|r| (r.value, r.period, r.accesses, r.accesses_raw))
            .collect();
        got.sort();
        assert_eq!(got, wanted, "case {i}: {} (by day)", case.name);
        // By month: the days' figures summed into their months.
        let mut months: Vec<(String, String, i64, i64)> = Vec::new();
        for (v, day, f, r) in &wanted {
            let m = day[..7].to_string();
            match months.iter_mut().find(|x| &x.0 == v && x.1 == m) {
                Some(x) => {
                    x.2 += f;
                    x.3 += r;
                }
                None => months.push((v.clone(), m, *f, *r)),
            }
        }
        let mut got: Vec<(String, String, i64, i64)> = rows_of(s, Period::Month)
            .await
            .into_iter()
            .filter(|r| mine(&r.value))
            .map(|r| (r.value, r.period, r.accesses, r.accesses_raw))
            .collect();
        got.sort();
        assert_eq!(got, months, "case {i}: {} (by month)", case.name);
    }
}

/// Many events of many visitors over four days across a month boundary, double clicks,
/// redeliveries, counted in batches: the store's figures for whole months (read from the
/// month hashes) are its days' figures summed, and every figure (days, months, visitors) is
/// the memory store's for the same batches (the in-process rules; on the shared store the
/// events spread over the partitions and reports sum them).
pub async fn months_and_partitions_agree(store: Arc<dyn Store>) {
    let reference = passerelle::store::MemoryStore::new();
    let mut ev = Ev::new();
    let mut seed: u64 = 42;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let days = ["2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02"];
    let mut all = Vec::new();
    for (k, day) in days.iter().enumerate() {
        for _ in 0..150 {
            let at = Utc.with_ymd_and_hms(2026, 11, 29, 8, 0, 0).unwrap()
                + chrono::Duration::days(k as i64)
                + chrono::Duration::seconds(next(600) as i64);
            let visitor = format!("p{}-d{k}", next(24));
            let resource = ["ark:/99999/r1", "ark:/99999/r2", "ark:/1/r3"][next(3) as usize];
            let uai = [U1, U2][next(2) as usize];
            all.push(ev.at(at, day, &visitor, resource, uai));
        }
    }
    all.sort_by_key(|e| e.t);
    for (n, batch) in all.chunks(70).enumerate() {
        for s in [store.as_ref(), &reference as &dyn Store] {
            s.count_events(batch, DEDUP, RETENTION).await.unwrap();
            if n % 3 == 0 {
                // A redelivery changes nothing.
                let c = s.count_events(batch, DEDUP, RETENTION).await.unwrap();
                assert_eq!(c.new, 0);
            }
        }
    }
    let parts: std::collections::BTreeSet<u8> = all.iter().map(|e| e.part).collect();
    assert_eq!(
        parts.len(),
        2,
        "the two schools' events are in two partitions"
    );
    let views = [
        (Jurisdiction::All, "total"),
        (Jurisdiction::All, "resource"),
        (Jurisdiction::All, "uai"),
        (Jurisdiction::Provider("editeur".into()), "uai"),
        (Jurisdiction::School(U1.parse().unwrap()), "resource"),
    ];
    for (scope, by) in views {
        let (days_rows, reference_days) =
            both_reports(store.as_ref(), &reference, scope.clone(), by, Period::Day).await;
        assert_eq!(days_rows, reference_days, "{scope:?} by {by}, per day");
        assert!(!days_rows.is_empty());
        let (months, reference_months) =
            both_reports(store.as_ref(), &reference, scope.clone(), by, Period::Month).await;
        assert_eq!(months, reference_months, "{scope:?} by {by}, per month");
        // Whole months from their month hashes = their days summed.
        let mut summed: std::collections::BTreeMap<(String, String), (i64, i64, u64)> =
            Default::default();
        for r in &days_rows {
            let e = summed
                .entry((r.period[..7].to_string(), r.value.clone()))
                .or_default();
            *e = (e.0 + r.accesses, e.1 + r.accesses_raw, e.2 + r.visitors);
        }
        let months: std::collections::BTreeMap<(String, String), (i64, i64, u64)> = months
            .into_iter()
            .map(|r| {
                (
                    (r.period, r.value),
                    (r.accesses, r.accesses_raw, r.visitors),
                )
            })
            .collect();
        assert_eq!(months, summed, "{scope:?} by {by}: months are their days");
    }
    // Visitor-days are exact: the distinct (day, visitor, school) of the events (a visitor is
    // a person in a school).
    let distinct: std::collections::BTreeSet<(String, String, String)> = all
        .iter()
        .map(|e| (e.day.to_string(), e.visitor.clone(), e.uai.clone()))
        .collect();
    let (total, _) = both_reports(
        store.as_ref(),
        &reference,
        Jurisdiction::All,
        "total",
        Period::Total,
    )
    .await;
    assert_eq!(total[0].visitors, distinct.len() as u64);
    assert_eq!(total[0].accesses_raw, all.len() as i64);
}

/// The rows of one report, November and December 2026, from a store and from the reference.
async fn both_reports(
    store: &dyn Store,
    reference: &dyn Store,
    scope: Jurisdiction,
    by: &str,
    period: Period,
) -> (
    Vec<passerelle::audience::report::Row>,
    Vec<passerelle::audience::report::Row>,
) {
    let req = ReportRequest {
        scope,
        from: d("2026-11-01"),
        to: d("2026-12-31"),
        by: by.into(),
        period,
        min_visitors: None,
    };
    (
        build(store, &req).await.unwrap().rows,
        build(reference, &req).await.unwrap().rows,
    )
}
