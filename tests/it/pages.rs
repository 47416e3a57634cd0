//! What people see, over a real listener: the French landing page at `/`, the French 404 of
//! paths no route takes (routes keep their 405 and their own error shapes), error pages whose
//! headline is the reference and not the operators' code, and the one stylesheet, served with
//! its type and a long cache while the Content-Security-Policy still holds.

use crate::support::gateway::*;

const CSP: &str = "frame-ancestors 'none'";

async fn get(url: &str, accept_html: bool) -> reqwest::Response {
    let mut req = http_client().get(url);
    if accept_html {
        req = req.header("accept", "text/html,application/xhtml+xml,*/*;q=0.8");
    }
    req.send().await.unwrap()
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// The `href` of the page's stylesheet link.
fn stylesheet_href(page: &str) -> String {
    let link = page
        .split("<link rel=\"stylesheet\" href=\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no stylesheet link: {page}"));
    link.split('"').next().unwrap().to_string()
}

/// A page of the gateway in French, readable on a phone, with nothing but its own stylesheet.
fn assert_french_page(page: &str) {
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(page.contains("<html lang=\"fr\">"), "{page}");
    assert!(page.contains("name=\"viewport\""), "{page}");
    assert!(!page.contains("<script"), "{page}");
    assert!(!page.contains("<style"), "{page}");
    assert!(stylesheet_href(page).starts_with("/static/passerelle.css?v="));
}

#[tokio::test]
async fn the_root_page_is_french_and_its_links_answer() {
    let gw = TestGateway::new().await;
    let base = gw.listen().await;
    let resp = get(&format!("{base}/"), true).await;
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "content-type").starts_with("text/html"));
    assert_eq!(header(&resp, "content-security-policy"), CSP);
    let page = resp.text().await.unwrap();
    assert_french_page(&page);
    assert!(
        page.contains("<h1>Passerelle d&apos;accès aux ressources numériques éducatives</h1>"),
        "{page}"
    );
    assert!(page.contains("médiacentre de son ENT"), "{page}");
    for path in [
        "/health/ready",
        "/saml/metadata",
        "/idp/metadata",
        "/oidc/.well-known/openid-configuration",
    ] {
        assert!(page.contains(&format!("href=\"{path}\"")), "{path}: {page}");
        assert_eq!(
            get(&format!("{base}{path}"), false).await.status(),
            200,
            "{path}"
        );
    }
}

#[tokio::test]
async fn an_unknown_path_is_a_french_404_page_and_a_line_for_api_clients() {
    let gw = TestGateway::new().await;
    let base = gw.listen().await;
    for path in [
        "/nulle-part",
        "/oidc/nulle-part",
        "/ressources",
        "/static/autre.css",
    ] {
        let resp = get(&format!("{base}{path}"), true).await;
        assert_eq!(resp.status(), 404, "{path}");
        assert!(
            header(&resp, "content-type").starts_with("text/html"),
            "{path}"
        );
        assert_eq!(header(&resp, "x-frame-options"), "DENY", "{path}");
        let page = resp.text().await.unwrap();
        assert_french_page(&page);
        assert!(page.contains("<h1>Page introuvable</h1>"), "{page}");
        assert!(page.contains("médiacentre de votre ENT"), "{page}");

        let resp = get(&format!("{base}{path}"), false).await;
        assert_eq!(resp.status(), 404, "{path}");
        assert_eq!(resp.text().await.unwrap(), "not found\n", "{path}");
    }
}

#[tokio::test]
async fn routes_keep_their_405_and_their_own_refusals() {
    let gw = TestGateway::new().await;
    let base = gw.listen().await;
    let resp = get(&format!("{base}/saml/acs"), true).await;
    assert_eq!(resp.status(), 405, "a POST-only route");
    assert_eq!(header(&resp, "allow"), "POST");
    let resp = http_client().post(format!("{base}/")).send().await.unwrap();
    assert_eq!(resp.status(), 405, "the landing page takes GET only");

    // A route's own 404 keeps its shape: the GAR's JSON for the listing.
    let resp = get(&format!("{base}/ressources/B0/0000001B/eleve-0001"), true).await;
    assert_ne!(resp.status(), 200);
    assert!(!header(&resp, "content-type").starts_with("text/html"));
}

#[tokio::test]
async fn an_error_page_headlines_the_reference_and_keeps_the_code_discreet() {
    let gw = TestGateway::new().await;
    let base = gw.listen().await;
    let cookie = gw.session("eleve-0002").await;
    let resp = http_client()
        .get(format!("{base}{}", domaine_gar(RES_INDIV)))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let page = resp.text().await.unwrap();
    assert_french_page(&page);
    assert!(page.contains("<h1>Ressource non attribuée</h1>"), "{page}");
    assert!(!page.contains("Code :"), "{page}");
    // The reference, alone in its box, is what the user reads out.
    let reference = page
        .split("<div class=\"reference\">")
        .nth(1)
        .and_then(|r| r.split("<strong>").nth(1))
        .and_then(|r| r.split("</strong>").next())
        .unwrap_or_else(|| panic!("no reference: {page}"));
    assert!(
        reference.len() == 9
            && reference.chars().enumerate().all(|(i, c)| if i == 4 {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }),
        "{reference}"
    );
    // The code only in the operators' discreet line, after everything the user reads.
    let (user_part, operator_line) = page.split_once("<p class=\"operator\">").unwrap();
    assert!(!user_part.contains("not_assigned"), "{page}");
    assert!(
        operator_line.starts_with("<small>Pour l'exploitant : <code>not_assigned</code>"),
        "{page}"
    );
    // A way back.
    assert!(
        user_part.contains("<p class=\"back\">") && user_part.contains("médiacentre de votre ENT"),
        "{page}"
    );
}

#[tokio::test]
async fn the_stylesheet_is_served_with_its_type_and_the_csp_holds() {
    let gw = TestGateway::new().await;
    let base = gw.listen().await;
    let page = get(&format!("{base}/"), true).await.text().await.unwrap();
    let href = stylesheet_href(&page);
    let resp = get(&format!("{base}{href}"), false).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-type"), "text/css; charset=utf-8");
    assert!(
        header(&resp, "cache-control").contains("max-age=31536000"),
        "{}",
        header(&resp, "cache-control")
    );
    assert_eq!(header(&resp, "content-security-policy"), CSP);
    assert_eq!(header(&resp, "x-content-type-options"), "nosniff");
    let css = resp.text().await.unwrap();
    assert!(css.contains("max-width"), "a container for phones: {css}");
    assert!(
        !css.contains("url(") && !css.contains("@import"),
        "no external asset: {css}"
    );

    // Its address changes with its content: a year's cache never serves an old version.
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(css.as_bytes()))
    };
    assert_eq!(href, format!("/static/passerelle.css?v={}", &digest[..12]));
}
