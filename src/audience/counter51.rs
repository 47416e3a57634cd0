//! COUNTER Release 5.1 reports, as the COUNTER_SUSHI 5.1 API serves them (`/r51/...`): the
//! Item Report (`IR`), its Standard View of multimedia (`IR_M1`) and the Platform Report (`PR`),
//! built from a by-resource, by-month [`Report`].
//!
//! What the gateway counts, in COUNTER's words: each access handed to a resource is an item
//! request; `Total_Item_Requests` is the count after the 30-second double-click filter, and
//! `Unique_Item_Requests` counts one per visitor per item per day (visitors are distinct within
//! a day only, the salt changing daily), which the report says in an informational exception
//! (code 0). Every access is `Controlled` (a subscription opens it) and `Regular`. The gateway's
//! own breakdowns (ENT, profile, channel, device) are not in these reports: they stay in
//! `/audience/report` and in the `/sushi` dialect.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde_json::{json, Map, Value};

use super::report::Report;
use crate::domain::catalogue::Display;

/// The platform named in the reports.
pub const PLATFORM: &str = "passerelle";

/// The namespace of the gateway's proprietary identifiers.
pub const NAMESPACE: &str = "passerelle";

/// The reports served: (path id, Report_ID, Report_Name, description).
pub const REPORTS: [(&str, &str, &str, &str); 3] = [
    (
        "ir",
        "IR",
        "Item Report",
        "Requests of each resource opened through the gateway, by month",
    ),
    (
        "ir_m1",
        "IR_M1",
        "Multimedia Item Requests",
        "Requests of the multimedia resources (audiovisual, image, interactive, multimedia, sound), by month",
    ),
    (
        "pr",
        "PR",
        "Platform Report",
        "Requests through the gateway by data type, by month",
    ),
];

/// The two metrics the gateway counts.
pub const METRICS: [&str; 2] = ["Total_Item_Requests", "Unique_Item_Requests"];

/// The data types of `IR_M1`.
pub const MULTIMEDIA: [&str; 5] = [
    "Audiovisual",
    "Image",
    "Interactive_Resource",
    "Multimedia",
    "Sound",
];

/// The data types an item may have here (a subset of 5.1's item data types).
pub const DATA_TYPES: [&str; 7] = [
    "Audiovisual",
    "Image",
    "Interactive_Resource",
    "Multimedia",
    "Other",
    "Software",
    "Sound",
];

/// What the unique metric means here, said in every report.
pub const UNIQUE_NOTE: &str = "Unique_Item_Requests counts one request per visitor per item per day (visitors are told apart within a day only); over a month it is a sum of visitor-days. Total_Item_Requests is after the 30-second double-click filter.";

/// The COUNTER 5.1 data type of a resource, from its catalogue entry: the first
/// `typologieDocument` term that names a kind of medium, else `typePresentation` `MUL`
/// (multimedia teaching resources), else `Other`.
pub fn data_type(display: &Display) -> &'static str {
    for term in &display.typologie_document {
        let nom = term.nom.to_lowercase();
        // A word of the term starting with one of `prefixes` ("son" in "document sonore",
        // not in "raisonnement").
        let has = |prefixes: &[&str]| {
            nom.split(|c: char| !c.is_alphanumeric())
                .any(|w| prefixes.iter().any(|p| w.starts_with(p)))
        };
        if has(&["vidéo", "video", "audiovisuel", "film"]) {
            return "Audiovisual";
        }
        if has(&["son", "audio", "podcast", "musique"]) {
            return "Sound";
        }
        if has(&["image", "photo", "carte", "illustration", "schéma"]) {
            return "Image";
        }
        if has(&["logiciel", "application"]) {
            return "Software";
        }
        if has(&[
            "interactif",
            "interactive",
            "exerciseur",
            "jeu",
            "simulation",
            "animation",
        ]) {
            return "Interactive_Resource";
        }
    }
    if display.type_presentation.code.eq_ignore_ascii_case("MUL") {
        return "Multimedia";
    }
    "Other"
}

/// `YYYY-MM` of a day.
pub fn month_of(d: NaiveDate) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

/// The first day of the month of `d`.
pub fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

/// The last day of the month of `d`.
pub fn last_of_month(d: NaiveDate) -> NaiveDate {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|n| n.pred_opt())
        .unwrap_or(d)
}

/// The months a report can cover on `today` with counts kept `retention_days`: from the first
/// whole month still kept to the last finished month (the current month is not yet processed).
pub fn available(today: NaiveDate, retention_days: i64) -> (NaiveDate, NaiveDate) {
    let earliest = today - chrono::Duration::days(retention_days - 1);
    let first = if earliest.day() == 1 {
        earliest
    } else {
        last_of_month(earliest).succ_opt().unwrap_or(earliest)
    };
    let last = first_of_month(today).pred_opt().unwrap_or(today);
    (first, first_of_month(last))
}

/// Reads `begin_date` (`YYYY-MM` or `YYYY-MM-DD`) as the first day of its month, or `end_date`
/// as the last day of its month.
pub fn parse_month(s: &str, end: bool) -> Option<NaiveDate> {
    let s = s.trim();
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d"))
        .ok()?;
    Some(if end {
        last_of_month(d)
    } else {
        first_of_month(d)
    })
}

/// A standard exception of a report header.
pub fn exception(code: u32, message: &str, data: &str) -> Value {
    json!({"Code": code, "Message": message, "Data": data})
}

/// `GET /r51/status`.
pub fn status(active: bool) -> Value {
    let mut s = json!({
        "Description": "COUNTER Release 5.1 usage of the resources opened through the passerelle access gateway",
        "Service_Active": active,
        "Note": UNIQUE_NOTE,
    });
    if !active {
        s["Alerts"] = json!([{"Alert": "The counts' store does not answer; retry later."}]);
    }
    json!([s])
}

/// One entry of `GET /r51/members`.
pub struct Member {
    pub customer_id: String,
    pub name: String,
    pub notes: Option<String>,
}

/// `GET /r51/members`.
pub fn members(list: &[Member]) -> Value {
    Value::Array(
        list.iter()
            .map(|m| {
                let mut v = json!({"Customer_ID": m.customer_id, "Institution_Name": m.name});
                if let Some(n) = &m.notes {
                    v["Notes"] = json!(n);
                }
                v
            })
            .collect(),
    )
}

/// `GET /r51/reports`: the reports with the months they can cover.
pub fn report_list(first: NaiveDate, last: NaiveDate) -> Value {
    Value::Array(
        REPORTS
            .iter()
            .map(|(path, id, name, description)| {
                json!({
                    "Report_Name": name,
                    "Report_ID": id,
                    "Release": "5.1",
                    "Report_Description": description,
                    "Path": format!("/r51/reports/{path}"),
                    "First_Month_Available": month_of(first),
                    "Last_Month_Available": month_of(last),
                })
            })
            .collect(),
    )
}

/// What a report says about each resource, beside its counts.
pub struct Item {
    pub id: String,
    pub name: String,
    pub publisher: String,
    pub data_type: &'static str,
}

/// The request as the report header states it.
pub struct Header {
    /// `IR`, `IR_M1` or `PR`.
    pub report_id: &'static str,
    pub customer_id: String,
    pub institution: String,
    pub created: DateTime<Utc>,
    pub begin: NaiveDate,
    pub end: NaiveDate,
    /// `metric_type` and `data_type` filters applied (empty: none).
    pub metric_filter: Vec<String>,
    pub data_type_filter: Vec<String>,
    /// Exceptions found while reading the request (3031, 3032, 3050, 3060, 3062...).
    pub exceptions: Vec<Value>,
}

/// Builds `IR`, `IR_M1` or `PR` from a by-resource, by-month report over `h.begin..=h.end`.
/// `items` describes every resource the report may name; rows of other resources are kept
/// under their id.
pub fn build(h: Header, report: &Report, items: &[Item]) -> Value {
    let name = REPORTS
        .iter()
        .find(|r| r.1 == h.report_id)
        .map_or("", |r| r.2);
    let metrics: Vec<&str> = if h.report_id == "IR_M1" || h.metric_filter.is_empty() {
        METRICS.to_vec()
    } else {
        METRICS
            .iter()
            .copied()
            .filter(|m| h.metric_filter.iter().any(|f| f == m))
            .collect()
    };
    let type_wanted = |t: &str| match h.report_id {
        "IR_M1" => MULTIMEDIA.contains(&t),
        _ => h.data_type_filter.is_empty() || h.data_type_filter.iter().any(|f| f == t),
    };
    let describe = |id: &str| -> Item {
        items
            .iter()
            .find(|i| i.id == id)
            .map(|i| Item {
                id: i.id.clone(),
                name: i.name.clone(),
                publisher: i.publisher.clone(),
                data_type: i.data_type,
            })
            .unwrap_or_else(|| Item {
                id: id.to_string(),
                name: id.to_string(),
                publisher: String::new(),
                data_type: "Other",
            })
    };
    // (resource → month → (filtered, visitor-days)), in the range, of the wanted data types.
    let mut per_item: std::collections::BTreeMap<String, Vec<(String, i64, u64)>> =
        Default::default();
    for row in &report.rows {
        let Some(month) = parse_month(&row.period, false) else {
            continue;
        };
        if month < first_of_month(h.begin) || month > h.end {
            continue;
        }
        per_item.entry(row.value.clone()).or_default().push((
            row.period.clone(),
            row.accesses.max(0),
            row.visitors,
        ));
    }
    let performance = |cells: &[(String, i64, u64)]| -> Value {
        let mut perf = Map::new();
        for m in &metrics {
            let counts: Map<String, Value> = cells
                .iter()
                .map(|(month, f, v)| {
                    let n = if *m == METRICS[0] { *f as u64 } else { *v };
                    (month.clone(), json!(n))
                })
                .collect();
            perf.insert(m.to_string(), Value::Object(counts));
        }
        Value::Object(perf)
    };
    let mut report_items = Vec::new();
    if h.report_id == "PR" {
        // Per data type: the resources' months summed.
        let mut by_type: std::collections::BTreeMap<
            &str,
            std::collections::BTreeMap<String, (i64, u64)>,
        > = Default::default();
        for (id, cells) in &per_item {
            let t = describe(id).data_type;
            if !type_wanted(t) {
                continue;
            }
            for (month, f, v) in cells {
                let c = by_type
                    .entry(t)
                    .or_default()
                    .entry(month.clone())
                    .or_default();
                c.0 += f;
                c.1 += v;
            }
        }
        let attribute_performance: Vec<Value> = by_type
            .into_iter()
            .map(|(t, months)| {
                let cells: Vec<(String, i64, u64)> =
                    months.into_iter().map(|(m, (f, v))| (m, f, v)).collect();
                json!({"Data_Type": t, "Access_Method": "Regular", "Performance": performance(&cells)})
            })
            .collect();
        if !attribute_performance.is_empty() {
            report_items.push(
                json!({"Platform": PLATFORM, "Attribute_Performance": attribute_performance}),
            );
        }
    } else {
        let mut list = Vec::new();
        for (id, cells) in &per_item {
            let item = describe(id);
            if !type_wanted(item.data_type) {
                continue;
            }
            let mut ap = json!({"Data_Type": item.data_type, "Performance": performance(cells)});
            if h.report_id == "IR" {
                ap["Access_Type"] = json!("Controlled");
                ap["Access_Method"] = json!("Regular");
            }
            list.push(json!({
                "Item": item.name,
                "Publisher": item.publisher,
                "Platform": PLATFORM,
                "Item_ID": {"Proprietary": format!("{NAMESPACE}:{}", item.id)},
                "Attribute_Performance": [ap],
            }));
        }
        if !list.is_empty() {
            report_items.push(json!({"Items": list}));
        }
    }
    let mut exceptions = h.exceptions;
    exceptions.push(exception(0, "Counting rules", UNIQUE_NOTE));
    if report.suppressed > 0 {
        exceptions.push(exception(
            3040,
            "Partial Data Returned",
            &format!(
                "{} cell(s) of a resource in a month withheld: fewer than {} visitor-days",
                report.suppressed,
                report.min_visitors.unwrap_or(0)
            ),
        ));
    }
    if report_items.is_empty() && report.suppressed == 0 {
        exceptions.push(exception(
            3030,
            "No Usage Available for Requested Dates",
            &format!("{} to {}", h.begin, h.end),
        ));
    }
    let mut filters = json!({"Begin_Date": h.begin.to_string(), "End_Date": h.end.to_string()});
    match h.report_id {
        "IR_M1" => {
            filters["Access_Method"] = json!(["Regular"]);
            filters["Data_Type"] = json!(MULTIMEDIA);
            filters["Metric_Type"] = json!(METRICS);
        }
        _ => {
            if !h.metric_filter.is_empty() {
                filters["Metric_Type"] = json!(metrics);
            }
            if !h.data_type_filter.is_empty() {
                filters["Data_Type"] = json!(h.data_type_filter);
            }
        }
    }
    let mut header = json!({
        "Report_Name": name,
        "Report_ID": h.report_id,
        "Release": "5.1",
        "Institution_Name": h.institution,
        "Institution_ID": {"Proprietary": [format!("{NAMESPACE}:{}", h.customer_id)]},
        "Report_Filters": filters,
        "Created": h.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "Created_By": PLATFORM,
        "Registry_Record": "",
        "Exceptions": exceptions,
    });
    match h.report_id {
        "IR" => {
            header["Report_Attributes"] =
                json!({"Attributes_To_Show": ["Access_Type", "Access_Method"]});
        }
        "PR" => header["Report_Attributes"] = json!({"Attributes_To_Show": ["Access_Method"]}),
        _ => {}
    }
    json!({"Report_Header": header, "Report_Items": report_items})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalogue::{Presentation, Term};

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn months_available_are_whole_kept_months_up_to_the_last_finished_one() {
        assert_eq!(
            available(d("2026-12-10"), 800),
            (d("2024-11-01"), d("2026-11-01"))
        );
        // A kept range that starts on the first of a month keeps that month.
        assert_eq!(available(d("2026-12-10"), 40).0, d("2026-11-01"));
        assert_eq!(available(d("2026-01-05"), 800).1, d("2025-12-01"));
    }

    #[test]
    fn dates_are_read_as_whole_months() {
        assert_eq!(parse_month("2026-11", false), Some(d("2026-11-01")));
        assert_eq!(parse_month("2026-11-15", false), Some(d("2026-11-01")));
        assert_eq!(parse_month("2026-02", true), Some(d("2026-02-28")));
        assert_eq!(parse_month("2026-12-01", true), Some(d("2026-12-31")));
        assert_eq!(parse_month("novembre", true), None);
    }

    #[test]
    fn data_types_come_from_the_catalogue_entry() {
        let with = |code: &str, terms: &[&str]| Display {
            type_presentation: Presentation {
                code: code.into(),
                nom: String::new(),
            },
            typologie_document: terms
                .iter()
                .map(|t| Term {
                    uri: String::new(),
                    nom: t.to_string(),
                })
                .collect(),
            ..Display::default()
        };
        assert_eq!(data_type(&with("MUL", &[])), "Multimedia");
        assert_eq!(data_type(&with("MAN", &[])), "Other");
        assert_eq!(data_type(&with("MUL", &["vidéo"])), "Audiovisual");
        assert_eq!(data_type(&with("", &["document sonore"])), "Sound");
        assert_eq!(data_type(&with("", &["raisonnement"])), "Other");
        assert_eq!(data_type(&with("", &["carte"])), "Image");
        assert_eq!(data_type(&with("", &["logiciel"])), "Software");
        assert_eq!(
            data_type(&with("", &["exerciseur"])),
            "Interactive_Resource"
        );
        assert_eq!(data_type(&Display::default()), "Other");
        for t in MULTIMEDIA {
            assert!(DATA_TYPES.contains(&t));
        }
    }
}
