//! A COUNTER_SUSHI-style report of one provider's resources, month by month. The gateway sees
//! launches, not what happens inside a resource, so its metrics are its own, under the
//! `passerelle:` namespace, rather than COUNTER's item metrics:
//! - `passerelle:Total_Launches`: every access handed to the resource;
//! - `passerelle:Filtered_Launches`: after COUNTER's 30-second double-click filter;
//! - `passerelle:Visitor_Days`: distinct visitors per day, summed over the month.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde_json::{json, Value};

use super::report::Report;

/// The one report this endpoint serves.
pub const REPORT_ID: &str = "passerelle:GW_TR";

pub const METRICS: [&str; 3] = [
    "passerelle:Total_Launches",
    "passerelle:Filtered_Launches",
    "passerelle:Visitor_Days",
];

/// The report list of `GET /sushi/reports`.
pub fn report_list(base_url: &str) -> Value {
    json!([{
        "Report_Name": "Gateway Title Report (launches through passerelle)",
        "Report_ID": REPORT_ID,
        "Release": "5",
        "Report_Description": "Launches of each resource through the gateway, by month; metrics in the passerelle: namespace",
        "Path": format!("{base_url}/sushi/reports/gw_tr"),
    }])
}

/// Parses `YYYY-MM` or `YYYY-MM-DD`; a month given as an end date means its last day.
pub fn parse_month_date(s: &str, end: bool) -> Option<NaiveDate> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d);
    }
    let first = NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").ok()?;
    if !end {
        return Some(first);
    }
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    }?;
    next.pred_opt()
}

/// What the SUSHI report says about each resource, beside its counts.
pub struct Item {
    pub id: String,
    pub name: String,
    pub publisher: String,
}

/// Builds the report from a provider-scope, by-resource, by-month [`Report`].
pub fn build(
    report: &Report,
    customer_id: &str,
    institution: &str,
    items: &[Item],
    metric_filter: &[String],
    created: DateTime<Utc>,
) -> Value {
    let wanted = |m: &str| metric_filter.is_empty() || metric_filter.iter().any(|f| f == m);
    let mut exceptions = Vec::new();
    if report.suppressed > 0 {
        exceptions.push(json!({
            "Code": 3040,
            "Severity": "Warning",
            "Message": "Partial Data Returned",
            "Data": format!("passerelle: {} cell(s) withheld (fewer than {} distinct visitors)", report.suppressed, report.min_visitors.unwrap_or(0)),
        }));
    }
    let mut out_items = Vec::new();
    for item in items {
        let mut performance = Vec::new();
        for row in report.rows.iter().filter(|r| r.value == item.id) {
            let begin = parse_month_date(&row.period, false)
                .unwrap_or(report.from)
                .max(report.from);
            let end = parse_month_date(&row.period, true)
                .unwrap_or(report.to)
                .min(report.to);
            let instance: Vec<Value> = [
                (METRICS[0], row.accesses_raw.max(0) as u64),
                (METRICS[1], row.accesses.max(0) as u64),
                (METRICS[2], row.visitors),
            ]
            .into_iter()
            .filter(|(m, _)| wanted(m))
            .map(|(m, c)| json!({"Metric_Type": m, "Count": c}))
            .collect();
            performance.push(json!({
                "Period": {"Begin_Date": begin.to_string(), "End_Date": end.to_string()},
                "Instance": instance,
            }));
        }
        if performance.is_empty() {
            continue;
        }
        out_items.push(json!({
            "Title": item.name,
            "Item_ID": [{"Type": "Proprietary", "Value": format!("passerelle:{}", item.id)}],
            "Platform": "passerelle",
            "Publisher": item.publisher,
            "Data_Type": "Other",
            "Access_Method": "Regular",
            "Performance": performance,
        }));
    }
    json!({
        "Report_Header": {
            "Created": created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "Created_By": "passerelle",
            "Customer_ID": customer_id,
            "Report_ID": REPORT_ID,
            "Release": "5",
            "Report_Name": "Gateway Title Report (launches through passerelle)",
            "Institution_Name": institution,
            "Report_Filters": [
                {"Name": "Begin_Date", "Value": report.from.to_string()},
                {"Name": "End_Date", "Value": report.to.to_string()},
            ],
            "Report_Attributes": [],
            "Exceptions": exceptions,
        },
        "Report_Items": out_items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_read_as_their_first_or_last_day() {
        assert_eq!(
            parse_month_date("2026-11", false).unwrap().to_string(),
            "2026-11-01"
        );
        assert_eq!(
            parse_month_date("2026-11", true).unwrap().to_string(),
            "2026-11-30"
        );
        assert_eq!(
            parse_month_date("2026-12", true).unwrap().to_string(),
            "2026-12-31"
        );
        assert_eq!(
            parse_month_date("2028-02", true).unwrap().to_string(),
            "2028-02-29"
        );
        assert_eq!(
            parse_month_date("2026-11-15", true).unwrap().to_string(),
            "2026-11-15"
        );
        assert!(parse_month_date("novembre", false).is_none());
    }
}
