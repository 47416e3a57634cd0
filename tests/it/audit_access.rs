//! Auditors search the audit log within their scope (ministry, provider, ENT project, school),
//! by time range, school, resource, provider, event type and pseudonymous subject, export JSON
//! lines or CSV, through the API and the page; every query is itself recorded.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Duration;
use passerelle::audit::{AuditLog, AuditSettings};
use passerelle::trace::TraceEvent;
use serde_json::json;

use crate::support::gateway::*;

const TOKENS: [(&str, &str, &str); 4] = [
    (
        "ministere",
        "ministry",
        "auditeur-ministere-0123456789abcdef0123",
    ),
    (
        "editeur",
        "provider:test-editeur",
        "auditeur-editeur-0123456789abcdef012345",
    ),
    (
        "projet",
        "ent:B0",
        "auditeur-projet-ent-0123456789abcdef0123",
    ),
    (
        "college",
        "school:0561641E",
        "auditeur-college-0123456789abcdef012345",
    ),
];

async fn gateway() -> TestGateway {
    let mut opts = Options::default();
    let dir = tempfile::tempdir().unwrap().keep();
    opts.vars.push((
        "PASSERELLE__AUDIT__DIR".into(),
        dir.join("audit").display().to_string(),
    ));
    for (key, scope, token) in TOKENS {
        opts.files
            .push((format!("{key}.token"), token.as_bytes().to_vec()));
        let var = |k: &str| format!("PASSERELLE__AUDITORS__{}__{k}", key.to_uppercase());
        opts.vars.push((var("NAME"), format!("Auditeur {key}")));
        opts.vars
            .push((var("API_TOKEN_FILE"), format!("{key}.token")));
        opts.vars.push((var("SCOPE"), scope.into()));
    }
    let gw = TestGateway::with(opts).await;
    let settings: AuditSettings = gw.state.config.audit.clone().unwrap();
    let log = AuditLog::open(settings, "node-1", private_key(&gw.gateway)).unwrap();
    let t = now();
    let events = [
        json!({"event": "access_granted", "ent": "B0", "subject": "sujet-1", "uai": UAI, "profile": "National_elv", "resource": RES_ETABL, "subscription": "abo-etabl", "channel": "web"}),
        json!({"event": "credential_issued", "protocol": "saml", "provider": "test-editeur", "resource": RES_ETABL, "uai": UAI, "profile": "National_elv", "ent": "B0", "ido": "ido-1", "attributes": ["IDO"], "channel": "web"}),
        json!({"event": "credential_issued", "protocol": "oidc", "provider": "other-editeur", "resource": RES_OIDC, "uai": UAI, "profile": "National_elv", "ent": "B0", "ido": "ido-2", "attributes": ["IDO"], "channel": "app"}),
        json!({"event": "access_refused", "ent": "Z0", "subject": "sujet-9", "uai": "0310001A", "resource": RES_INDIV, "reason": "not_assigned"}),
        json!({"event": "protocol_refused", "peer_kind": "ent", "peer": null, "protocol": "saml", "check": "saml.signature"}),
    ];
    for (i, e) in events.into_iter().enumerate() {
        log.append(t + Duration::hours(i64::try_from(i).unwrap()), e)
            .unwrap();
    }
    gw
}

async fn api(gw: &TestGateway, token: Option<&str>, query: &str) -> (StatusCode, String) {
    let mut b = Request::get(format!("/audit/records?{query}"));
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let resp = gw.call(b.body(Body::empty()).unwrap()).await;
    (resp.status(), body_string(resp).await)
}

fn kinds(jsonl: &str) -> Vec<String> {
    jsonl
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["event"]["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn each_auditor_sees_only_their_scope() {
    let gw = gateway().await;
    let token = |k: &str| TOKENS.iter().find(|t| t.0 == k).unwrap().2;
    let (s, all) = api(&gw, Some(token("ministere")), "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(kinds(&all).len(), 5, "the ministry sees everything");
    let (_, editeur) = api(&gw, Some(token("editeur")), "").await;
    assert_eq!(
        kinds(&editeur),
        ["access_granted", "credential_issued", "access_refused"],
        "accesses to its resources, and its credentials"
    );
    assert!(!editeur.contains("other-editeur") && !editeur.contains("saml.signature"));
    let (_, projet) = api(&gw, Some(token("projet")), "").await;
    assert_eq!(
        kinds(&projet),
        ["access_granted", "credential_issued", "credential_issued"],
        "its users and schools, not ENT Z0's"
    );
    let (_, college) = api(&gw, Some(token("college")), "").await;
    assert_eq!(kinds(&college).len(), 3);
    assert!(!college.contains("0310001A"));
}

#[tokio::test]
async fn criteria_filter_and_exports_come_as_json_lines_or_csv() {
    let gw = gateway().await;
    let m = TOKENS[0].2;
    let (_, r) = api(&gw, Some(m), "event=credential_issued").await;
    assert_eq!(kinds(&r).len(), 2);
    let (_, r) = api(&gw, Some(m), "subject=ido-2").await;
    assert_eq!(
        kinds(&r),
        ["credential_issued"],
        "an IDO is a pseudonymous subject too"
    );
    let (_, r) = api(&gw, Some(m), "uai=0310001a").await;
    assert_eq!(kinds(&r), ["access_refused"]);
    let (_, r) = api(
        &gw,
        Some(m),
        &format!("resource={}", urlencoding::encode(RES_ETABL)),
    )
    .await;
    assert_eq!(kinds(&r).len(), 2);
    let (_, r) = api(&gw, Some(m), "provider=other-editeur").await;
    assert_eq!(kinds(&r).len(), 1);
    let from = (now() + Duration::hours(1)).to_rfc3339();
    let to = (now() + Duration::hours(3)).to_rfc3339();
    let (_, r) = api(
        &gw,
        Some(m),
        &format!(
            "from={}&to={}",
            urlencoding::encode(&from),
            urlencoding::encode(&to)
        ),
    )
    .await;
    assert_eq!(
        kinds(&r),
        ["credential_issued", "credential_issued"],
        "from inclusive, to exclusive"
    );
    let (_, r) = api(&gw, Some(m), "from=2026-11-25").await;
    assert!(r.is_empty(), "whole days");
    let (s, _) = api(&gw, Some(m), "from=hier").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let (s, csv) = api(&gw, Some(m), "format=csv&event=access_refused").await;
    assert_eq!(s, StatusCode::OK);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "at;node;seq;event;ent;uai;provider;resource;profile;subject;ido;reason;check;details"
    );
    assert!(
        lines[1].contains(
            ";access_refused;Z0;0310001A;;ark:/99999/test.indiv;;sujet-9;;not_assigned;;"
        ),
        "{}",
        lines[1]
    );
    assert_eq!(lines.len(), 2);
}

#[tokio::test]
async fn queries_need_an_auditor_token_and_are_recorded() {
    let gw = gateway().await;
    assert_eq!(api(&gw, None, "").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        api(&gw, Some("not-an-auditor-token-0123456789abcdef"), "")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    api(&gw, Some(TOKENS[3].2), "event=access_granted").await;
    let queries: Vec<_> = gw
        .events()
        .into_iter()
        .filter_map(|e| match e {
            TraceEvent::AuditQuery {
                auditor,
                criteria,
                results,
            } => Some((auditor, criteria, results)),
            _ => None,
        })
        .collect();
    assert_eq!(
        queries,
        vec![(
            "college".to_string(),
            vec!["event=access_granted".to_string()],
            1
        )]
    );
}

#[tokio::test]
async fn the_page_searches_and_exports_without_javascript() {
    let gw = gateway().await;
    let form = body_string(gw.get("/audit", None).await).await;
    assert!(form.contains("Jeton d'auditeur") && !form.contains("<script"));
    let page = gw
        .post_form(
            "/audit",
            &[("jeton", TOKENS[1].2), ("event", "credential_issued")],
            None,
        )
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = body_string(page).await;
    assert!(
        page.contains("Auditeur editeur") && page.contains("1 enregistrement(s)"),
        "{page}"
    );
    let refused = gw.post_form("/audit", &[("jeton", "wrong")], None).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(body_string(refused)
        .await
        .contains("Jeton d'auditeur inconnu"));
    let csv = gw
        .post_form(
            "/audit/export",
            &[("jeton", TOKENS[1].2), ("format", "csv")],
            None,
        )
        .await;
    assert_eq!(
        csv.headers()["content-disposition"],
        "attachment; filename=\"audit.csv\""
    );
    assert_eq!(
        body_string(csv).await.lines().count(),
        4,
        "a header and the provider's 3 records"
    );
}
