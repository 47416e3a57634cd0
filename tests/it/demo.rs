//! `passerelle demo` clicked through over real sockets with an HTTP client, as a person would:
//! demo ENT login, médiacentre, gateway, ENT IdP, gateway ACS, resource, gateway IdP,
//! resource ACS; then a resource the pupil is not assigned.

use tokio::net::TcpListener;

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn attr_after(page: &str, marker: &str, attr: &str) -> Option<String> {
    let at = page.find(marker)?;
    let rest = &page[at..];
    let start = rest.find(&format!("{attr}=\""))? + attr.len() + 2;
    let end = rest[start..].find('"')? + start;
    Some(unescape(&rest[start..end]))
}

/// Submits the auto-POST form of a SAML binding page, as a browser would.
async fn submit_form(client: &reqwest::Client, page: &str) -> reqwest::Response {
    let action = attr_after(page, "<form", "action").expect("a form");
    let mut fields = Vec::new();
    for name in ["SAMLResponse", "SAMLRequest", "RelayState"] {
        if let Some(v) = attr_after(page, &format!("name=\"{name}\""), "value") {
            fields.push((name, v));
        }
    }
    client.post(action).form(&fields).send().await.unwrap()
}

fn link_to(page: &str, title: &str) -> String {
    let at = page
        .find(title)
        .unwrap_or_else(|| panic!("no link to {title} in {page}"));
    let before = &page[..at];
    let start = before.rfind("href=\"").unwrap() + 6;
    let end = before[start..].find('"').unwrap() + start;
    unescape(&before[start..end])
}

/// The demo on four fresh ports (ENT over SAML), and a browser with cookies.
async fn started() -> (passerelle::demo::Demo, reqwest::Client) {
    let bind = || async { TcpListener::bind("127.0.0.1:0").await.unwrap() };
    let demo = passerelle::demo::start(
        bind().await,
        bind().await,
        bind().await,
        bind().await,
        bind().await,
    )
    .await
    .unwrap();
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    (demo, client)
}

/// Logs `user` in at the demo ENT; returns the médiacentre page.
async fn log_in(client: &reqwest::Client, demo: &passerelle::demo::Demo, user: &str) -> String {
    let media = client
        .post(format!("{}/login", demo.ent_url))
        .form(&[("user", user)])
        .send()
        .await
        .unwrap();
    assert!(media.url().path().ends_with("/mediacentre"));
    media.text().await.unwrap()
}

/// The body of `GET url` in `client`'s browser.
async fn text_of(client: &reqwest::Client, url: impl reqwest::IntoUrl) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// Follows a médiacentre `link` for a browser that has a gateway session: the gateway asks the
/// ENT without showing anything who is logged in, and the ENT's answer is the auto-POST form
/// returned here.
async fn passive_confirmation(
    client: &reqwest::Client,
    demo: &passerelle::demo::Demo,
    link: &str,
) -> String {
    let answer = client.get(link).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let form = answer.text().await.unwrap();
    assert!(
        form.contains(&format!("{}/saml/acs", demo.gateway_url)),
        "{form}"
    );
    form
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pupil_clicks_through_the_demo() {
    let (demo, client) = started().await;

    // Log in at the demo ENT as the pupil; the médiacentre lists the resources.
    let home = text_of(&client, format!("{}/", demo.ent_url)).await;
    assert!(home.contains("Léa Martin"));
    // Each system names itself in the browser's tab.
    assert!(home.contains("– ENT Démo</title>"), "{home}");
    let media = log_in(&client, &demo, "eleve-demo-1").await;
    // The médiacentre lists what the gateway's listing gives the pupil; the resource not
    // assigned to her is offered apart, to see the refusal.
    let (listed, refused_part) = media
        .split_once("Pour voir un refus")
        .expect("the part that shows a refusal");
    for title in [
        "Manuel de mathématiques 4e",
        "Dictionnaire junior",
        "Atelier de sciences",
        "Cahier de textes",
    ] {
        assert!(listed.contains(title), "{title} listed: {media}");
    }
    assert!(!listed.contains("Atlas historique"), "{media}");
    assert!(refused_part.contains("Atlas historique"), "{media}");
    let manuel = link_to(&media, "Manuel de mathématiques 4e");
    assert!(
        manuel.starts_with(&format!("{}/domaineGar?idENT=", demo.gateway_url)),
        "{manuel}"
    );

    // The click: gateway → ENT IdP (already logged in) → auto-POST to the gateway's ACS.
    let to_acs = client.get(&manuel).send().await.unwrap();
    assert_eq!(to_acs.status(), 200);
    let to_acs = to_acs.text().await.unwrap();
    assert!(
        to_acs.contains(&format!("{}/saml/acs", demo.gateway_url)),
        "{to_acs}"
    );
    // Gateway: session, access rule, 302 to the resource; resource: AuthnRequest to the gateway;
    // gateway: signed Response auto-POSTed to the resource's ACS.
    let to_resource = submit_form(&client, &to_acs).await;
    assert_eq!(to_resource.status(), 200);
    let to_resource = to_resource.text().await.unwrap();
    assert!(
        to_resource.contains(&format!("{}/saml/acs", demo.resource_url)),
        "{to_resource}"
    );
    let resource_page = submit_form(&client, &to_resource).await;
    assert_eq!(resource_page.status(), 200);
    let resource_page = resource_page.text().await.unwrap();
    assert!(
        resource_page.contains("Bienvenue dans « Manuel de mathématiques 4e »"),
        "{resource_page}"
    );
    assert!(resource_page.contains("Signature vérifiée"));
    // Reloaded (the browser posts the answer again): a page that says so and offers a new login.
    let reloaded = submit_form(&client, &to_resource).await;
    assert_eq!(reloaded.status(), 400);
    let reloaded = reloaded.text().await.unwrap();
    assert!(
        reloaded.contains("Connexion déjà terminée")
            && reloaded.contains("href=\"/ressource/manuel-maths\""),
        "{reloaded}"
    );
    for expected in [
        "<code>IDO</code>",
        "<code>UAI</code>",
        ">0561641E</code>",
        "<code>PRO</code>",
        ">National_elv</code>",
        "<code>DIV</code>",
        ">4A##4e A</code>",
        "<code>E_MS4</code>",
    ] {
        assert!(resource_page.contains(expected), "missing {expected}");
    }
    assert!(
        !resource_page.contains("<code>NOM</code>") && !resource_page.contains("Martin"),
        "a pupil's name is not validated for this resource"
    );
    let ido = resource_page
        .split("word-break:break-all\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    assert_eq!(ido.len(), 128);
    assert!(ido.bytes().all(|b| b.is_ascii_hexdigit()));

    // A resource the pupil is not assigned: the gateway refuses with its French page.
    // Every launch first asks the ENT who is at the browser (IsPassive): its answer comes back
    // as an auto-POST to the gateway's ACS, for the same pupil.
    let atlas = link_to(&media, "Atlas historique");
    let confirmed = passive_confirmation(&client, &demo, &atlas).await;
    let refused = submit_form(&client, &confirmed).await;
    assert_eq!(refused.status(), 403);
    let refused = refused.text().await.unwrap();
    assert!(
        refused.contains("Ressource non attribuée") && refused.contains("not_assigned"),
        "{refused}"
    );
    assert!(refused.contains("– Passerelle</title>"), "{refused}");

    // The OIDC resource: the same session, an authorization code flow, verified ID token.
    let atelier = link_to(&media, "Atelier de sciences");
    let confirmed = passive_confirmation(&client, &demo, &atelier).await;
    let oidc_page = submit_form(&client, &confirmed).await;
    assert!(oidc_page
        .url()
        .as_str()
        .starts_with(&format!("{}/oidc/callback", demo.oidc_resource_url)));
    assert_eq!(oidc_page.status(), 200);
    let oidc_page = oidc_page.text().await.unwrap();
    assert!(
        oidc_page.contains("Bienvenue dans « Atelier de sciences »"),
        "{oidc_page}"
    );
    assert!(oidc_page.contains("OpenID Connect") && oidc_page.contains("Jeton d'identité vérifié"));
    for expected in [
        "<code>IDO</code>",
        ">0561641E</code>",
        ">National_elv</code>",
        ">4A##4e A</code>",
    ] {
        assert!(oidc_page.contains(expected), "missing {expected}");
    }
    assert!(!oidc_page.contains("<code>NOM</code>"));

    // The CAS resource: the same session; the resource sends the browser to the gateway's CAS
    // login and validates the ticket it comes back with.
    let cahier = link_to(&media, "Cahier de textes");
    let confirmed = passive_confirmation(&client, &demo, &cahier).await;
    let cas_page = submit_form(&client, &confirmed).await;
    assert!(
        cas_page
            .url()
            .as_str()
            .starts_with(&format!("{}/?sso_id=gar&ticket=ST-", demo.cas_resource_url)),
        "{}",
        cas_page.url()
    );
    assert_eq!(cas_page.status(), 200);
    let cas_url = cas_page.url().clone();
    let cas_page = cas_page.text().await.unwrap();
    assert!(
        cas_page.contains("Bienvenue dans « Cahier de textes »") && cas_page.contains("CAS"),
        "{cas_page}"
    );
    for expected in [
        "<code>IDO</code>",
        "<code>IDC</code>",
        "<code>LRA</code>",
        "<code>idENT</code>",
        ">0561641E</code>",
        ">National_elv</code>",
    ] {
        assert!(
            cas_page.contains(expected),
            "missing {expected}: {cas_page}"
        );
    }
    assert!(!cas_page.contains("<code>NOM</code>"));
    // Reloaded, the page's ticket is refused: a ticket serves once.
    let reloaded = client.get(cas_url).send().await.unwrap();
    assert_eq!(reloaded.status(), 403);
    assert!(reloaded.text().await.unwrap().contains("INVALID_TICKET"));

    // Every decision was traced, without names.
    let trace = std::fs::read_to_string(&demo.trace_path).unwrap();
    for kind in [
        "configuration_loaded",
        "ent_login",
        "access_granted",
        "credential_issued",
        "access_refused",
    ] {
        assert!(
            trace.contains(&format!("\"event\":\"{kind}\"")),
            "no {kind} in the trace"
        );
    }
    assert!(
        trace.contains("\"protocol\":\"oidc\""),
        "the OIDC access is traced"
    );
    assert!(
        trace.contains("\"protocol\":\"cas\""),
        "the CAS access is traced"
    );
    assert!(!trace.contains("Martin") && !trace.contains("eleve-demo-1"));

    // The data arrived through the real paths: the directory through the feed import, the
    // subscriptions through the web service (by their providers), the assignments through
    // the assignment rule (by the manager).
    let seeding = &demo.seeding;
    assert_eq!(
        (
            seeding.import.schools,
            seeding.import.persons,
            seeding.import.groups
        ),
        (1, 3, 2)
    );
    assert!(seeding
        .export_dir
        .join("B0_GAR-ENT_Complet_RespAff_0000.xml")
        .is_file());
    for (provider, id) in [
        ("demo-atelier", "demo-abo-atelier"),
        ("demo-cahier", "demo-abo-cahier"),
        ("demo-editeur", "demo-abo-manuel"),
        ("demo-editeur", "demo-abo-dico"),
        ("demo-editeur", "demo-abo-atlas"),
    ] {
        assert!(
            trace
                .lines()
                .any(|l| l.contains("\"event\":\"subscription_changed\"")
                    && l.contains(&format!("\"provider\":\"{provider}\""))
                    && l.contains("\"action\":\"create\"")
                    && l.contains(&format!("\"subscription\":\"{id}\""))),
            "no creation of {id} by {provider} in the trace"
        );
    }
    assert_eq!(seeding.assignments, 3);
    assert_eq!(
        trace
            .lines()
            .filter(|l| l.contains("\"event\":\"assignment_changed\"")
                && l.contains("\"action\":\"assign\""))
            .count(),
        3
    );

    // Every access handed to a resource shows in the audience dashboard.
    let handed = trace.matches("\"event\":\"credential_issued\"").count();
    assert!(handed >= 3, "{trace}");
    let mut dashboard = String::new();
    for _ in 0..100 {
        dashboard = reqwest::Client::new()
            .post(format!("{}/audience", demo.gateway_url))
            .form(&[("jeton", demo.audience_token.as_str())])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if dashboard.contains(&format!("<strong>{handed}</strong> accès")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        dashboard.contains(&format!("<strong>{handed}</strong> accès")),
        "{dashboard}"
    );
    assert!(dashboard.contains("Atelier de sciences") && dashboard.contains("<svg"));

    // The demo's auditor searches the trail on the gateway's audit page.
    let audit = reqwest::Client::new()
        .post(format!("{}/audit", demo.gateway_url))
        .form(&[("jeton", demo.auditor_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(audit.status(), 200);
    let audit = audit.text().await.unwrap();
    for want in [
        "Accès accordé",
        "Identité transmise au fournisseur",
        "class=\"nowrap\"",
        "<details>",
    ] {
        assert!(audit.contains(want), "{want} in {audit}");
    }

    // The same decisions are in the audit log, whose chain verifies.
    demo.checkpoint().unwrap();
    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["audit", "verify"])
        .arg(&demo.audit_dir)
        .arg("--certificate")
        .arg(&demo.audit_certificate)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{report}");
    assert!(report.contains("demo: intact"), "{report}");
    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_ent_can_authenticate_users_over_openid_connect() {
    let bind = || async { TcpListener::bind("127.0.0.1:0").await.unwrap() };
    let demo = passerelle::demo::start_with(
        bind().await,
        bind().await,
        bind().await,
        bind().await,
        bind().await,
        true,
    )
    .await
    .unwrap();
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let media = log_in(&client, &demo, "ens-demo-1").await;

    // ENT over OIDC, then the SAML resource: gateway → ENT authorize → gateway callback → resource.
    let to_resource = client
        .get(link_to(&media, "Manuel de mathématiques 4e"))
        .send()
        .await
        .unwrap();
    assert_eq!(to_resource.status(), 200);
    let to_resource = to_resource.text().await.unwrap();
    assert!(
        to_resource.contains(&format!("{}/saml/acs", demo.resource_url)),
        "{to_resource}"
    );
    let page = submit_form(&client, &to_resource)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Bienvenue dans « Manuel de mathématiques 4e »")
            && page.contains(">Durand</code>"),
        "{page}"
    );

    // The same gateway session, then the OIDC resource.
    let page = text_of(&client, link_to(&media, "Atelier de sciences")).await;
    assert!(
        page.contains("Bienvenue dans « Atelier de sciences »")
            && page.contains(">National_ens</code>"),
        "{page}"
    );

    let trace = std::fs::read_to_string(&demo.trace_path).unwrap();
    assert!(
        trace.contains("\"event\":\"ent_login\",\"ent\":\"B0\",\"protocol\":\"oidc\""),
        "{trace}"
    );

    // A médiacentre link opened in a fresh browser: the ENT asks who logs in, then the link
    // goes on to the resource, not back to the médiacentre.
    let fresh = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let chooser = text_of(&fresh, link_to(&media, "Manuel de mathématiques 4e")).await;
    assert!(
        chooser.contains(r#"name="pending""#),
        "no login form that goes back: {chooser}"
    );
    let token = crate::support::saml_browser::form_value(&chooser, "pending");
    let to_resource = fresh
        .post(format!("{}/login", demo.ent_url))
        .form(&[("user", "ens-demo-1"), ("pending", token.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        to_resource.contains(&format!("{}/saml/acs", demo.resource_url)),
        "{to_resource}"
    );

    // The OIDC resource's callback reloaded: a page that says so and offers a new login.
    let reloaded = client
        .get(format!(
            "{}/oidc/callback?state=used&code=x",
            demo.oidc_resource_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(reloaded.status(), 400);
    let reloaded = reloaded.text().await.unwrap();
    assert!(
        reloaded.contains("Connexion déjà terminée") && reloaded.contains("href=\"/\""),
        "{reloaded}"
    );

    // The CAS resource, in the same gateway session.
    let page = text_of(&client, link_to(&media, "Cahier de textes")).await;
    assert!(
        page.contains("Bienvenue dans « Cahier de textes »")
            && page.contains(">National_ens</code>"),
        "{page}"
    );

    // Logging out at the ENT: its provider tells the gateway over the back channel.
    let out = text_of(&client, format!("{}/logout", demo.ent_url)).await;
    assert!(
        out.contains("déconnecté de l'ENT et de la passerelle"),
        "{out}"
    );
    cas_resource_was_told(&client, &demo).await;
    let trace = std::fs::read_to_string(&demo.trace_path).unwrap();
    assert!(trace.contains("\"reason\":\"ent_logout\""), "{trace}");
    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_teacher_manages_assignments_through_the_ent() {
    let (demo, client) = started().await;
    let media = log_in(&client, &demo, "ens-demo-1").await;
    let manage = link_to(&media, "Gérer les affectations");
    assert!(manage.starts_with(&format!("{}/affectations?idENT=", demo.gateway_url)));
    // The gateway has the teacher sign in at the ENT (already logged in there), then comes back.
    let to_acs = text_of(&client, &manage).await;
    assert!(
        to_acs.contains(&format!("{}/saml/acs", demo.gateway_url)),
        "{to_acs}"
    );
    let page = submit_form(&client, &to_acs).await;
    assert_eq!(page.status(), 200);
    assert!(
        page.url().path().ends_with("/affectations"),
        "{}",
        page.url()
    );
    let page = page.text().await.unwrap();
    assert!(
        page.contains("Affectation des ressources")
            && page.contains("responsable des affectations"),
        "{page}"
    );
    assert!(
        page.contains("Affecter à"),
        "the demo has individual subscriptions to assign: {page}"
    );
    demo.stop().await;
}

/// The gateway told the CAS resource of the session's end (back channel): its home page lists
/// the session closed.
async fn cas_resource_was_told(client: &reqwest::Client, demo: &passerelle::demo::Demo) {
    let home = resource_was_told(client, &demo.cas_resource_url).await;
    assert!(home.contains("<code>ST-"), "{home}");
}

/// The home page of the demo resource at `url`, once it lists a session the gateway's back
/// channel closed.
async fn resource_was_told(client: &reqwest::Client, url: &str) -> String {
    let mut home = String::new();
    for _ in 0..50 {
        home = text_of(client, format!("{url}/")).await;
        if home.contains("Sessions fermées par la passerelle") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        home.contains("Sessions fermées par la passerelle"),
        "{home}"
    );
    home
}

/// Follows a médiacentre `link` to the SAML demo resource when the ENT answers at once (a
/// login, or a session's confirmation): the ENT's auto-POST to the gateway, the gateway's to
/// the resource. Answers the resource's page.
async fn open_saml_resource(client: &reqwest::Client, link: &str) -> String {
    let to_acs = client.get(link).send().await.unwrap();
    assert_eq!(to_acs.status(), 200);
    let to_acs = to_acs.text().await.unwrap();
    let to_resource = submit_form(client, &to_acs).await.text().await.unwrap();
    let page = submit_form(client, &to_resource).await;
    assert_eq!(page.status(), 200);
    page.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_class_shares_a_computer_in_the_demo() {
    let (demo, client) = started().await;
    let media = log_in(&client, &demo, "eleve-demo-1").await;
    let manuel = link_to(&media, "Manuel de mathématiques 4e");
    let pupil = open_saml_resource(&client, &manuel).await;
    assert!(pupil.contains(">National_elv</code>"), "{pupil}");

    // The pupil also opens the CAS resource, whose session the logout must close too.
    let cahier = link_to(&media, "Cahier de textes");
    let confirmed = client
        .get(&cahier)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let cas_page = submit_form(&client, &confirmed).await.text().await.unwrap();
    assert!(cas_page.contains("<code>IDC</code>"), "{cas_page}");

    // The pupil logs out at the ENT: the ENT sends the browser through the gateway's single
    // logout, which ends the gateway session and answers the ENT.
    let out = client
        .get(format!("{}/logout", demo.ent_url))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    let out = out.text().await.unwrap();
    assert!(
        out.contains("déconnecté de l'ENT et de la passerelle"),
        "{out}"
    );
    cas_resource_was_told(&client, &demo).await;
    // And the SAML resource, over SOAP, signed by the gateway (it verifies the signature).
    resource_was_told(&client, &demo.resource_url).await;

    // The teacher logs in at the same browser and opens the same resource: as the teacher.
    let media = log_in(&client, &demo, "ens-demo-1").await;
    let manuel = link_to(&media, "Manuel de mathématiques 4e");
    let teacher = open_saml_resource(&client, &manuel).await;
    assert!(teacher.contains(">National_ens</code>"), "{teacher}");
    assert!(!teacher.contains("National_elv"), "{teacher}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_resource_logs_its_user_out_of_the_gateway_and_the_ent() {
    let (demo, client) = started().await;
    let media = log_in(&client, &demo, "eleve-demo-1").await;
    let manuel = link_to(&media, "Manuel de mathématiques 4e");
    let page = open_saml_resource(&client, &manuel).await;
    // The resource's button: its LogoutRequest to the gateway, which has the ENT log the user
    // out, then answers the resource (every hop a redirect the browser follows).
    let name_id = attr_after(&page, "name=\"name_id\"", "value").expect("a logout button");
    let index = attr_after(&page, "name=\"index\"", "value").unwrap();
    let out = client
        .get(format!("{}/saml/logout", demo.resource_url))
        .query(&[("name_id", name_id), ("index", index)])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    assert!(out
        .url()
        .as_str()
        .starts_with(&format!("{}/saml/slo?", demo.resource_url)));
    let out = out.text().await.unwrap();
    assert!(
        out.contains("déconnecté de la ressource, de la passerelle et de l'ENT"),
        "{out}"
    );
    // The ENT session ended: the ENT asks who is there again.
    let ent = text_of(&client, format!("{}/mediacentre", demo.ent_url)).await;
    assert!(ent.contains("Choisissez un compte"), "{ent}");
    // And the gateway's: the médiacentre link is a new login at the ENT, not a confirmation.
    let again = client.get(&manuel).send().await.unwrap();
    assert!(
        again.url().as_str().starts_with(&demo.ent_url),
        "{}",
        again.url()
    );
}
