//! COUNTER Release 5.1 over COUNTER_SUSHI 5.1 (`/r51/...`): the figures of IR, IR_M1 and PR
//! for each reader's scope, authentication by `customer_id` / `requestor_id` / `api_key`, the
//! standard exceptions with their HTTP statuses, and every answer validated against the
//! published COUNTER_SUSHI 5.1 OpenAPI specification (`tests/fixtures/counter51/`) by
//! python-jsonschema (`tests/peers/counter51/validate.py`), not by our code.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{Duration, TimeZone, Utc};
use passerelle::audience::{Access, DeviceClass};
use passerelle::trace::Channel;
use serde_json::{json, Value};

use crate::support::gateway::*;

const MINISTRY_TOKEN: &str = "ministry-reader-token-0123456789abcdef0123";
const SCHOOL_TOKEN: &str = "school-reader-token-0123456789abcdef012345";
const OTHER_UAI: &str = "0561642F";
const SPEC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/counter51/COUNTER_SUSHI_API.json"
);
const VALIDATOR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/peers/counter51/validate.py"
);

fn response(name: &str) -> String {
    format!("#/components/responses/{name}/content/application~1json/schema")
}

/// Runs the validator over `(name, schema pointer, instance)` cases; returns each case's errors.
fn validate(cases: &[(String, String, Value)]) -> Vec<(String, Vec<String>)> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cases.json");
    let list: Vec<Value> = cases
        .iter()
        .map(|(n, s, i)| json!({"name": n, "schema": s, "instance": i}))
        .collect();
    std::fs::write(&file, serde_json::to_vec(&list).unwrap()).unwrap();
    let out = std::process::Command::new("python3")
        .arg(VALIDATOR)
        .arg(SPEC)
        .arg(&file)
        .output()
        .expect("python3 (scripts/setup.sh installs python-jsonschema)");
    assert!(
        out.status.success(),
        "the validator failed (python-jsonschema missing? scripts/setup.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["name"].as_str().unwrap().to_string(),
                v["errors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

async fn gateway() -> TestGateway {
    let var = |k: &str, v: &str| (format!("PASSERELLE__AUDIENCE_READERS__{k}"), v.to_string());
    TestGateway::with(Options {
        vars: vec![
            var("MINISTERE__NAME", "Ministère"),
            var("MINISTERE__API_TOKEN_FILE", "ministry.token"),
            var("MINISTERE__SCOPE", "ministry"),
            var("COLLEGE__NAME", "Collège Jean Moulin"),
            var("COLLEGE__API_TOKEN_FILE", "school.token"),
            var("COLLEGE__SCOPE", &format!("school:{UAI}")),
            ("PASSERELLE__AUDIENCE__MIN_VISITORS".into(), "3".into()),
        ],
        files: vec![
            ("ministry.token".into(), MINISTRY_TOKEN.into()),
            ("school.token".into(), SCHOOL_TOKEN.into()),
        ],
        ..Options::default()
    })
    .await
}

fn access(subject: &str, resource: &str, provider: &str, uai: &str, ent: &str) -> Access {
    Access {
        at: now(),
        subject: subject.into(),
        resource: resource.into(),
        provider: provider.into(),
        uai: uai.into(),
        ent: ent.into(),
        profile: "National_elv".into(),
        channel: Channel::Web,
        device: DeviceClass::Computer,
        service: "MANUEL_NUMERIQUE".into(),
        outil: "Ressource".into(),
    }
}

/// In November 2026: 5 visitors of RES_ETABL (a multimedia resource of test-editeur), one of
/// them clicking again 10 s later (a double click) and once more the next day; 4 visitors of
/// RES_OIDC (other-editeur); one visitor of RES_INDIV (a small cell). Then the clock moves to
/// 10 December, so that November is a finished month.
async fn seeded() -> TestGateway {
    let gw = gateway().await;
    let a = &gw.state.audience;
    for i in 0..5 {
        a.record(access(
            &format!("s{i}"),
            RES_ETABL,
            "test-editeur",
            UAI,
            "B0",
        ));
    }
    let mut again = access("s0", RES_ETABL, "test-editeur", UAI, "B0");
    again.at = now() + Duration::seconds(10);
    a.record(again);
    let mut next_day = access("s0", RES_ETABL, "test-editeur", UAI, "B0");
    next_day.at = now() + Duration::days(1);
    a.record(next_day);
    for i in 0..4 {
        a.record(access(
            &format!("t{i}"),
            RES_OIDC,
            "other-editeur",
            OTHER_UAI,
            "Z1",
        ));
    }
    a.record(access("lonely", RES_INDIV, "test-editeur", UAI, "B0"));
    gw.state
        .audience
        .drain(gw.state.store.as_ref(), gw.state.clock.now())
        .await
        .unwrap();
    gw.clock
        .set(Utc.with_ymd_and_hms(2026, 12, 10, 9, 0, 0).unwrap());
    gw
}

async fn get(gw: &TestGateway, uri: &str) -> (StatusCode, Value) {
    let resp = gw
        .call(Request::get(uri).body(Body::empty()).unwrap())
        .await;
    let status = resp.status();
    let text = body_string(resp).await;
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn exception_codes(report: &Value) -> Vec<u64> {
    report["Report_Header"]["Exceptions"]
        .as_array()
        .map(|a| a.iter().map(|e| e["Code"].as_u64().unwrap()).collect())
        .unwrap_or_default()
}

/// (Item_ID, Data_Type, Total_Item_Requests, Unique_Item_Requests) in November.
fn items(report: &Value) -> Vec<(String, String, u64, u64)> {
    let mut out: Vec<_> = report["Report_Items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|parent| parent["Items"].as_array().unwrap().iter())
        .map(|i| {
            let ap = &i["Attribute_Performance"][0];
            (
                i["Item_ID"]["Proprietary"].as_str().unwrap().to_string(),
                ap["Data_Type"].as_str().unwrap().to_string(),
                ap["Performance"]["Total_Item_Requests"]["2026-11"]
                    .as_u64()
                    .unwrap(),
                ap["Performance"]["Unique_Item_Requests"]["2026-11"]
                    .as_u64()
                    .unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn counter_51_reports_count_requests_per_item_and_validate_against_the_published_schema() {
    let gw = seeded().await;
    let mut cases: Vec<(String, String, Value)> = Vec::new();
    let key = format!("api_key={PROVIDER_TOKEN}");
    let dates = "begin_date=2026-11&end_date=2026-11";

    // Status: public.
    let (s, status) = get(&gw, "/r51/status").await;
    assert_eq!(s, StatusCode::OK, "{status}");
    assert_eq!(status[0]["Service_Active"], true);
    cases.push(("status".into(), response("200_Status"), status));

    // Members: a provider sees itself; the ministry every scope.
    let (s, members) = get(&gw, &format!("/r51/members?{key}")).await;
    assert_eq!(s, StatusCode::OK, "{members}");
    assert_eq!(
        members,
        json!([{"Customer_ID": "provider:test-editeur", "Institution_Name": "Éditeur de test"}])
    );
    cases.push(("members".into(), response("200_Members"), members));
    let (_, all) = get(&gw, &format!("/r51/members?api_key={MINISTRY_TOKEN}")).await;
    let ids: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Customer_ID"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"all") && ids.contains(&"provider:other-editeur") && ids.contains(&"ent:B0"),
        "{ids:?}"
    );
    cases.push(("members ministry".into(), response("200_Members"), all));

    // The report list, with the months available: November is the last finished month.
    let (s, list) = get(&gw, &format!("/r51/reports?customer_id=test-editeur&{key}")).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Report_ID"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["IR", "IR_M1", "PR"]);
    assert_eq!(list[0]["Last_Month_Available"], "2026-11");
    assert_eq!(list[0]["First_Month_Available"], "2024-11");
    cases.push(("reports".into(), response("200_Reports"), list));

    // IR: one item per resource, the filtered count and visitor-days; the small cell withheld.
    let (s, ir) = get(
        &gw,
        &format!(
            "/r51/reports/ir?customer_id=test-editeur&requestor_id=test-editeur&{key}&{dates}"
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{ir}");
    let h = &ir["Report_Header"];
    assert_eq!(
        (h["Release"].as_str(), h["Report_ID"].as_str()),
        (Some("5.1"), Some("IR"))
    );
    assert_eq!(
        h["Institution_ID"]["Proprietary"][0],
        "passerelle:provider:test-editeur"
    );
    assert_eq!(h["Report_Filters"]["Begin_Date"], "2026-11-01");
    assert_eq!(h["Report_Filters"]["End_Date"], "2026-11-30");
    assert_eq!(exception_codes(&ir), vec![0, 3040]);
    assert_eq!(
        items(&ir),
        vec![(format!("passerelle:{RES_ETABL}"), "Multimedia".into(), 6, 6)],
        "the double click counts once (7 accesses, 6 requests); s0 on two days is two visitor-days"
    );
    let ap = &ir["Report_Items"][0]["Items"][0]["Attribute_Performance"][0];
    assert_eq!(
        (ap["Access_Type"].as_str(), ap["Access_Method"].as_str()),
        (Some("Controlled"), Some("Regular"))
    );
    cases.push(("ir".into(), response("200_IR"), ir.clone()));

    // IR_M1: the multimedia items only.
    let (s, m1) = get(
        &gw,
        &format!("/r51/reports/ir_m1?customer_id=provider:test-editeur&{key}&{dates}"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{m1}");
    assert_eq!(items(&m1).len(), 1);
    cases.push(("ir_m1".into(), response("200_IR_M1"), m1));

    // PR: the platform by data type.
    let (s, pr) = get(
        &gw,
        &format!("/r51/reports/pr?customer_id=test-editeur&{key}&{dates}"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{pr}");
    let ap = &pr["Report_Items"][0]["Attribute_Performance"];
    assert_eq!(ap.as_array().unwrap().len(), 1);
    assert_eq!(ap[0]["Data_Type"], "Multimedia");
    assert_eq!(ap[0]["Performance"]["Total_Item_Requests"]["2026-11"], 6);
    cases.push(("pr".into(), response("200_PR"), pr));

    // The ministry: every resource, the small cell too; other data types.
    let (_, ir_all) = get(
        &gw,
        &format!("/r51/reports/ir?customer_id=all&api_key={MINISTRY_TOKEN}&{dates}"),
    )
    .await;
    assert_eq!(
        items(&ir_all),
        vec![
            (format!("passerelle:{RES_OIDC}"), "Other".into(), 4, 4),
            (format!("passerelle:{RES_ETABL}"), "Multimedia".into(), 6, 6),
            (format!("passerelle:{RES_INDIV}"), "Other".into(), 1, 1),
        ]
    );
    assert_eq!(exception_codes(&ir_all), vec![0]);
    cases.push(("ir ministry".into(), response("200_IR"), ir_all));
    let (_, pr_all) = get(
        &gw,
        &format!("/r51/reports/pr?customer_id=all&api_key={MINISTRY_TOKEN}&{dates}"),
    )
    .await;
    assert_eq!(
        pr_all["Report_Items"][0]["Attribute_Performance"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    cases.push(("pr ministry".into(), response("200_PR"), pr_all));

    // A school's reader: its own school (named as a scope or by its bare UAI), small cells
    // withheld; not another school.
    for customer in [format!("school:{UAI}"), UAI.to_string()] {
        let (s, school) = get(
            &gw,
            &format!("/r51/reports/ir?customer_id={customer}&requestor_id=college&api_key={SCHOOL_TOKEN}&{dates}"),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{school}");
        assert_eq!(
            school["Report_Header"]["Institution_ID"]["Proprietary"][0],
            format!("passerelle:school:{UAI}")
        );
        assert_eq!(
            items(&school),
            vec![(format!("passerelle:{RES_ETABL}"), "Multimedia".into(), 6, 6)]
        );
        assert_eq!(exception_codes(&school), vec![0, 3040]);
        cases.push((format!("ir school {customer}"), response("200_IR"), school));
    }
    let (s, e) = get(
        &gw,
        &format!("/r51/reports/ir?customer_id=school:{OTHER_UAI}&api_key={SCHOOL_TOKEN}&{dates}"),
    )
    .await;
    assert_eq!((s, e["Code"].as_u64()), (StatusCode::FORBIDDEN, Some(2010)));
    let (_, members) = get(&gw, &format!("/r51/members?api_key={SCHOOL_TOKEN}")).await;
    assert_eq!(members[0]["Customer_ID"], format!("school:{UAI}"));

    // Filters: a data type narrows; what is not supported is said and ignored.
    let (_, narrowed) = get(
        &gw,
        &format!(
            "/r51/reports/ir?customer_id=all&api_key={MINISTRY_TOKEN}&{dates}&data_type=Other&metric_type=Total_Item_Requests|Total_Item_Investigations&attributes_to_show=YOP&include_component_details=True&colour=blue"
        ),
    )
    .await;
    assert_eq!(exception_codes(&narrowed), vec![3060, 3063, 3062, 3050, 0]);
    let names: Vec<&str> = narrowed["Report_Items"][0]["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["Item"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(
        narrowed["Report_Items"][0]["Items"][0]["Attribute_Performance"][0]["Performance"]
            .get("Unique_Item_Requests")
            .is_none()
    );
    cases.push(("ir filtered".into(), response("200_IR"), narrowed));

    // Months not processed yet (December): 3031, and the report ends with November.
    let (s, later) = get(
        &gw,
        &format!("/r51/reports/ir?customer_id=test-editeur&{key}&begin_date=2026-11-01&end_date=2027-01-31"),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(exception_codes(&later), vec![3031, 0, 3040]);
    assert_eq!(
        later["Report_Header"]["Report_Filters"]["End_Date"],
        "2026-11-30"
    );
    cases.push(("ir 3031".into(), response("200_IR"), later));
    // No usage: 3030, and an empty list of items.
    let (_, empty) = get(
        &gw,
        &format!(
            "/r51/reports/pr?customer_id=test-editeur&{key}&begin_date=2026-09&end_date=2026-10"
        ),
    )
    .await;
    assert_eq!(exception_codes(&empty), vec![0, 3030]);
    assert_eq!(empty["Report_Items"], json!([]));
    cases.push(("pr 3030".into(), response("200_PR"), empty));

    // Refusals: one Exception, the Code of Practice's status.
    let refusals: [(&str, StatusCode, u64, &str); 9] = [
        ("/r51/reports/ir?customer_id=test-editeur&begin_date=2026-11&end_date=2026-11", StatusCode::BAD_REQUEST, 1030, "400_Exception"),
        ("/r51/reports/ir?customer_id=test-editeur&api_key=wrong&begin_date=2026-11&end_date=2026-11", StatusCode::UNAUTHORIZED, 2020, "401_Exception"),
        ("/r51/reports/ir?customer_id=test-editeur&requestor_id=other-editeur&API&begin_date=2026-11&end_date=2026-11", StatusCode::UNAUTHORIZED, 2000, "401_Exception"),
        ("/r51/reports/ir?customer_id=other-editeur&API&begin_date=2026-11&end_date=2026-11", StatusCode::FORBIDDEN, 2010, "403_Exception"),
        ("/r51/reports/ir?customer_id=all&API&begin_date=2026-11&end_date=2026-11", StatusCode::FORBIDDEN, 2010, "403_Exception"),
        ("/r51/reports/ir?API&begin_date=2026-11&end_date=2026-11", StatusCode::BAD_REQUEST, 1030, "400_Exception"),
        ("/r51/reports/pr?customer_id=test-editeur&API&begin_date=novembre&end_date=2026-11", StatusCode::BAD_REQUEST, 3020, "400_Exception"),
        ("/r51/reports/pr?customer_id=test-editeur&API&begin_date=2026-12&end_date=2026-12", StatusCode::BAD_REQUEST, 3020, "400_Exception"),
        ("/r51/members?customer_id=other-editeur&API", StatusCode::FORBIDDEN, 2010, "403_Exception"),
    ];
    for (uri, status, code, shape) in refusals {
        let uri = uri.replace("API", &key);
        let (s, e) = get(&gw, &uri).await;
        assert_eq!((s, e["Code"].as_u64()), (status, Some(code)), "{uri}: {e}");
        assert!(e.get("Severity").is_none());
        cases.push((format!("refusal {uri}"), response(shape), e));
    }
    let (s, _) = get(
        &gw,
        &format!("/r51/reports/tr?customer_id=test-editeur&{key}&{dates}"),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "a report not served is a path that does not exist"
    );

    // Every answer valid; and the validator does refuse what is not (a 5 exception with its
    // Severity, a report with the R5 Release).
    let mut bad_exception =
        json!({"Code": 3020, "Severity": "Error", "Message": "Invalid Date Arguments"});
    let mut r5 = cases.iter().find(|c| c.0 == "ir").unwrap().2.clone();
    r5["Report_Header"]["Release"] = json!("5");
    cases.push((
        "control: R5 exception".into(),
        response("400_Exception"),
        bad_exception.take(),
    ));
    cases.push(("control: release 5".into(), response("200_IR"), r5));
    let verdicts = validate(&cases);
    assert_eq!(verdicts.len(), cases.len());
    for (name, errors) in verdicts {
        if name.starts_with("control:") {
            assert!(!errors.is_empty(), "{name} should not validate");
        } else {
            assert!(errors.is_empty(), "{name} does not validate: {errors:#?}");
        }
    }
}

const HARVESTER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/peers/counter51/harvest.py"
);

/// (item or `*`, metric, month, value) of what the harvester read.
fn harvested(report: &Value) -> Vec<(String, String, String, u64)> {
    let mut out: Vec<_> = report["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["item"].as_str().unwrap_or("*").to_string(),
                r["metric"].as_str().unwrap().to_string(),
                r["month"].as_str().unwrap().to_string(),
                r["value"].as_u64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sushi_51_harvester_that_is_not_ours_reads_the_reports() {
    let gw = seeded().await;
    let base = gw.listen().await;
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(HARVESTER)
            .args([&base, "test-editeur", "test-editeur", PROVIDER_TOKEN])
            .args(["2026-11", "2026-11", "ir", "ir_m1", "pr"])
            .env("NO_PROXY", "127.0.0.1")
            .env("no_proxy", "127.0.0.1")
            .output()
            .expect("python3 (scripts/setup.sh installs celus-nigiri)")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "the harvester failed (celus-nigiri missing? scripts/setup.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reports.len(), 3);
    let item_rows = vec![
        (
            "Ressource établissement".to_string(),
            "Total_Item_Requests".to_string(),
            "2026-11".to_string(),
            6,
        ),
        (
            "Ressource établissement".into(),
            "Unique_Item_Requests".into(),
            "2026-11".into(),
            6,
        ),
    ];
    for r in &reports {
        assert_eq!(r["http_status"], 200, "{r}");
        assert_eq!(r["errors"], json!([]), "{r}");
        // The withheld small cell, a warning.
        assert_eq!(r["warnings"], json!([3040]), "{r}");
    }
    // IR: nigiri asks for attributes the gateway does not have (Authors, YOP...): said (3062, an
    // information for nigiri) and ignored.
    assert_eq!(reports[0]["infos"], json!([0, 3062]));
    assert_eq!(harvested(&reports[0]), item_rows);
    let dims = &reports[0]["records"][0]["dimensions"];
    assert_eq!(dims["Data_Type"], "Multimedia");
    assert_eq!(dims["Access_Type"], "Controlled");
    assert_eq!(dims["Access_Method"], "Regular");
    assert_eq!(harvested(&reports[1]), item_rows);
    assert_eq!(
        harvested(&reports[2]),
        vec![
            (
                "*".to_string(),
                "Total_Item_Requests".to_string(),
                "2026-11".to_string(),
                6
            ),
            (
                "*".into(),
                "Unique_Item_Requests".into(),
                "2026-11".into(),
                6
            ),
        ]
    );
}
