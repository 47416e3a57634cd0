//! Audience over HTTP: accesses handed over SAML and OIDC counted with their channel and
//! device; reports, SUSHI and the dashboard each scoped to their reader, with small cells
//! withheld below the ministry.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use passerelle::audience::{Access, DeviceClass};
use passerelle::trace::Channel;
use serde_json::Value;

use crate::support::gateway::*;
use crate::support::oidc;

const MINISTRY_TOKEN: &str = "ministry-reader-token-0123456789abcdef0123";
const SCHOOL_TOKEN: &str = "school-reader-token-0123456789abcdef012345";
const IPHONE: &str =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148";
const IPAD: &str =
    "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148";

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

async fn get_json(gw: &TestGateway, uri: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut b = Request::get(uri);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let resp = gw.call(b.body(Body::empty()).unwrap()).await;
    let status = resp.status();
    let text = body_string(resp).await;
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// `value → accesses_raw` of a report's rows.
fn raw_by_value(report: &Value) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["value"].as_str().unwrap().to_string(),
                r["accesses_raw"].as_i64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

async fn drain(gw: &TestGateway) {
    gw.state
        .audience
        .drain(gw.state.store.as_ref(), gw.state.clock.now())
        .await
        .unwrap();
}

#[tokio::test]
async fn accesses_handed_over_saml_and_oidc_are_counted_with_channel_and_device() {
    let gw = gateway().await;
    // SAML: a teacher opens the establishment resource on a phone.
    let cookie = gw.session("ens-0001").await;
    assert_eq!(
        gw.get(&domaine_gar(RES_ETABL), Some(&cookie))
            .await
            .status(),
        StatusCode::FOUND
    );
    let q = authn_request_query(
        &private_key(&gw.sp),
        "_a1",
        Some(SP_ACS),
        None,
        "2026-11-24T08:00:00Z",
    );
    let resp = gw
        .call(
            Request::get(format!("/idp/profile/SAML2/Redirect/SSO?{q}"))
                .header("cookie", &cookie)
                .header("user-agent", IPHONE)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    // OIDC: a pupil authorizes the native application on a tablet.
    oidc::subscribe(&gw).await;
    let pupil = gw.session("eleve-0001").await;
    let (verifier, challenge) = oidc::pkce();
    let resp = gw
        .call(
            Request::get(format!(
                "/oidc/authorize?{}",
                oidc::query(&oidc::app_params(&challenge))
            ))
            .header("cookie", &pupil)
            .header("user-agent", IPAD)
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    let code = oidc::code_of(&resp);
    // Nothing is counted before the tokens are issued.
    drain(&gw).await;
    let (_, r) = get_json(
        &gw,
        "/audience/report?by=total&period=total",
        Some(MINISTRY_TOKEN),
    )
    .await;
    assert_eq!(raw_by_value(&r), vec![("*".to_string(), 1)]);
    let (status, _) = oidc::redeem_app(&gw, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK);
    drain(&gw).await;

    let report = |by: &'static str| {
        let gw = &gw;
        async move {
            let (s, r) = get_json(
                gw,
                &format!("/audience/report?by={by}&period=total"),
                Some(MINISTRY_TOKEN),
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{r}");
            raw_by_value(&r)
        }
    };
    assert_eq!(
        report("channel").await,
        vec![("app".into(), 1), ("web".into(), 1)]
    );
    assert_eq!(
        report("device").await,
        vec![("smartphone".into(), 1), ("tablet".into(), 1)]
    );
    assert_eq!(
        report("provider").await,
        vec![("other-editeur".into(), 1), ("test-editeur".into(), 1)]
    );
    assert_eq!(
        report("profile").await,
        vec![("National_elv".into(), 1), ("National_ens".into(), 1)]
    );
    assert_eq!(report("uai").await, vec![(UAI.into(), 2)]);
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

const OTHER_UAI: &str = "0561642F";

/// 5 visitors of RES_ETABL at UAI (ENT B0), 4 of RES_OIDC at OTHER_UAI (ENT Z1), and one
/// visitor (a small cell) of RES_INDIV at UAI.
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
    drain(&gw).await;
    gw
}

#[tokio::test]
async fn each_reader_sees_only_its_own_figures_and_small_cells_are_withheld_below_the_ministry() {
    let gw = seeded().await;
    let uri = "/audience/report?by=resource&period=total&from=2026-11-01&to=2026-11-30";
    // The ministry: everything, small cells included.
    let (_, r) = get_json(&gw, uri, Some(MINISTRY_TOKEN)).await;
    assert_eq!(
        raw_by_value(&r),
        vec![
            (RES_OIDC.into(), 4),
            (RES_ETABL.into(), 5),
            (RES_INDIV.into(), 1)
        ]
    );
    assert_eq!(r["suppressed"], 0);
    assert_eq!(r["scope"], "all");
    // A provider (its own API token): its resources only, the one-visitor cell withheld.
    let (_, r) = get_json(&gw, uri, Some(PROVIDER_TOKEN)).await;
    assert_eq!(raw_by_value(&r), vec![(RES_ETABL.into(), 5)]);
    assert_eq!(r["suppressed"], 1);
    assert_eq!(r["scope"], "provider:test-editeur");
    let (_, r) = get_json(&gw, uri, Some(OTHER_PROVIDER_TOKEN)).await;
    assert_eq!(raw_by_value(&r), vec![(RES_OIDC.into(), 4)]);
    // An ENT project: its schools only.
    let (_, r) = get_json(&gw, uri, Some(ENT_TOKEN)).await;
    assert_eq!(raw_by_value(&r), vec![(RES_ETABL.into(), 5)]);
    assert_eq!(r["scope"], "ent:B0");
    // A school: its own figures.
    let (_, r) = get_json(
        &gw,
        &format!("{uri}&scope=school:{UAI}"),
        Some(SCHOOL_TOKEN),
    )
    .await;
    assert_eq!(raw_by_value(&r), vec![(RES_ETABL.into(), 5)]);
    // Nobody below the ministry may widen or move their scope.
    for (token, scope) in [
        (PROVIDER_TOKEN, "all"),
        (PROVIDER_TOKEN, "provider:other-editeur"),
        (ENT_TOKEN, &format!("school:{OTHER_UAI}") as &str),
        (SCHOOL_TOKEN, &format!("school:{OTHER_UAI}")),
    ] {
        let (s, _) = get_json(&gw, &format!("{uri}&scope={scope}"), Some(token)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{scope}");
    }
    // The ministry may look through any scope, small cells included.
    let (_, r) = get_json(
        &gw,
        &format!("{uri}&scope=provider:test-editeur"),
        Some(MINISTRY_TOKEN),
    )
    .await;
    assert_eq!(
        raw_by_value(&r),
        vec![(RES_ETABL.into(), 5), (RES_INDIV.into(), 1)]
    );
    // A provider cannot break down by provider or ENT project.
    let (s, _) = get_json(&gw, "/audience/report?by=ent", Some(PROVIDER_TOKEN)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // No or an unknown token.
    assert_eq!(get_json(&gw, uri, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get_json(&gw, uri, Some("nope")).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Bad ranges are refused with the reason.
    let (s, body) = get_json(
        &gw,
        "/audience/report?from=2026-11-30&to=2026-11-01",
        Some(MINISTRY_TOKEN),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body.as_str().unwrap().contains("fin"), "{body}");
    let (s, _) = get_json(
        &gw,
        "/audience/report?from=2024-01-01&to=2026-11-01",
        Some(MINISTRY_TOKEN),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn reports_come_as_csv_per_day() {
    let gw = seeded().await;
    let resp = gw
        .call(
            Request::get(
                "/audience/report?by=uai&period=day&from=2026-11-23&to=2026-11-24&format=csv",
            )
            .header("authorization", format!("Bearer {MINISTRY_TOKEN}"))
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = body_string(resp).await;
    assert_eq!(
        csv,
        format!("period;uai;accesses;accesses_raw;visitors\n2026-11-24;{UAI};6;6;6\n2026-11-24;{OTHER_UAI};4;4;4\n")
    );
}

#[tokio::test]
async fn the_sushi_report_is_per_provider_and_month_with_namespaced_metrics() {
    let gw = seeded().await;
    let uri = "/sushi/reports/gw_tr?begin_date=2026-11&end_date=2026-12";
    let (s, r) = get_json(&gw, uri, Some(PROVIDER_TOKEN)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let h = &r["Report_Header"];
    assert_eq!(h["Report_ID"], "passerelle:GW_TR");
    assert_eq!(h["Release"], "5");
    assert_eq!(h["Customer_ID"], "test-editeur");
    assert_eq!(
        h["Exceptions"][0]["Code"], 3040,
        "the withheld small cell is announced"
    );
    let items = r["Report_Items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["Title"], "Ressource établissement");
    assert_eq!(
        items[0]["Item_ID"][0]["Value"],
        format!("passerelle:{RES_ETABL}")
    );
    let perf = &items[0]["Performance"][0];
    assert_eq!(perf["Period"]["Begin_Date"], "2026-11-01");
    assert_eq!(perf["Period"]["End_Date"], "2026-11-30");
    let metrics: Vec<(String, u64)> = perf["Instance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["Metric_Type"].as_str().unwrap().into(),
                i["Count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        metrics,
        vec![
            ("passerelle:Total_Launches".into(), 5),
            ("passerelle:Filtered_Launches".into(), 5),
            ("passerelle:Visitor_Days".into(), 5)
        ]
    );
    // metric_type narrows; api_key authenticates like a bearer token.
    let (_, r) = get_json(
        &gw,
        &format!("{uri}&metric_type=passerelle:Total_Launches&api_key={PROVIDER_TOKEN}"),
        None,
    )
    .await;
    assert_eq!(
        r["Report_Items"][0]["Performance"][0]["Instance"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The report list.
    let (s, list) = get_json(&gw, "/sushi/reports", Some(PROVIDER_TOKEN)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list[0]["Report_ID"], "passerelle:GW_TR");
    // Refusals in the SUSHI exception shape.
    let (s, e) = get_json(&gw, uri, None).await;
    assert_eq!(
        (s, e["Code"].as_u64()),
        (StatusCode::UNAUTHORIZED, Some(2000))
    );
    let (s, e) = get_json(
        &gw,
        &format!("{uri}&customer_id=other-editeur"),
        Some(PROVIDER_TOKEN),
    )
    .await;
    assert_eq!((s, e["Code"].as_u64()), (StatusCode::FORBIDDEN, Some(2010)));
    let (s, e) = get_json(
        &gw,
        "/sushi/reports/gw_tr?begin_date=novembre&end_date=2026-12",
        Some(PROVIDER_TOKEN),
    )
    .await;
    assert_eq!(
        (s, e["Code"].as_u64()),
        (StatusCode::BAD_REQUEST, Some(3020))
    );
    let (s, e) = get_json(
        &gw,
        "/sushi/reports/pr?begin_date=2026-11&end_date=2026-11",
        Some(PROVIDER_TOKEN),
    )
    .await;
    assert_eq!((s, e["Code"].as_u64()), (StatusCode::NOT_FOUND, Some(3000)));
    // The ministry names the provider; it sees the small cell too.
    let (s, e) = get_json(&gw, uri, Some(MINISTRY_TOKEN)).await;
    assert_eq!(
        (s, e["Code"].as_u64()),
        (StatusCode::BAD_REQUEST, Some(1030))
    );
    let (_, r) = get_json(
        &gw,
        &format!("{uri}&customer_id=test-editeur"),
        Some(MINISTRY_TOKEN),
    )
    .await;
    assert_eq!(r["Report_Items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_dashboard_shows_charts_for_the_readers_scope_and_offers_the_csv() {
    let gw = seeded().await;
    let page = gw
        .post_form("/audience", &[("jeton", MINISTRY_TOKEN)], None)
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = body_string(page).await;
    for want in [
        "<svg",
        "Accès par jour",
        "Web et application native",
        "Ressources les plus consultées",
        "Par profil",
        "Élèves",
        "Ressource établissement",
        "<strong>10</strong> accès",
        "Télécharger en CSV",
        "périmètre : toutes les ressources, tous les établissements",
        // Days in French, every day of the last 30 shown, those without accesses as zero.
        "<tr><td>24/11/2026</td><td>10</td>",
        "<tr><td>26/10/2026</td><td>0</td>",
    ] {
        assert!(html.contains(want), "{want} missing in {html}");
    }
    assert!(!html.contains("<script"));
    assert!(!html.contains("<code>all</code>"), "{html}");
    assert_eq!(
        html.matches("/2026</td>").count(),
        30,
        "30 days from 26/10 to 24/11, one row each: {html}"
    );
    // A school's reader sees its own school only (its day total counts six visitors; the
    // one-visitor resource is withheld from the breakdown).
    let html = body_string(
        gw.post_form("/audience", &[("jeton", SCHOOL_TOKEN)], None)
            .await,
    )
    .await;
    assert!(html.contains("<strong>6</strong> accès"), "{html}");
    assert!(
        html.contains("périmètre : l'établissement <strong>"),
        "{html}"
    );
    assert!(
        html.contains("1 cellule(s) de moins de 3 visiteurs"),
        "{html}"
    );
    assert!(!html.contains("Ressource individuelle"));
    assert!(!html.contains("Autre ressource"));
    // The CSV download.
    let resp = gw
        .post_form("/audience/export", &[("jeton", SCHOOL_TOKEN)], None)
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("audience.csv"));
    let csv = body_string(resp).await;
    // For people and spreadsheets: French headers and days, the resource's name beside its id.
    assert!(
        csv.starts_with("jour;ressource;nom de la ressource;accès;accès bruts;visiteurs\n24/11/2026;ark:/99999/test.etabl;Ressource établissement;5;5;5"),
        "{csv}"
    );
    // An unknown token: a French page, 401.
    let resp = gw.post_form("/audience", &[("jeton", "faux")], None).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(body_string(resp).await.contains("Jeton de lecture inconnu"));
    assert_eq!(gw.get("/audience", None).await.status(), StatusCode::OK);
}
