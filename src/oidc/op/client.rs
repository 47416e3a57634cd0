//! OIDC client registrations of resource providers: web applications (confidential, with a
//! secret) and native applications (public, RFC 8252), their redirect URIs and how each is
//! matched, and client authentication at the token, revocation and introspection endpoints.

use crate::oidc::{ErrorCode, OidcError};
use crate::secret::Secret;
use url::{Host, Url};

/// OIDC Dynamic Registration's `application_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplicationType {
    Web,
    Native,
}

/// One registered client.
#[derive(Debug, Clone)]
pub struct OidcClient {
    pub client_id: String,
    /// `None` for a public client (a native application): PKCE is then mandatory.
    pub secret: Option<Secret>,
    pub application_type: ApplicationType,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Where a logout token is posted when a session that gave this client a code ends.
    pub backchannel_logout_uri: Option<String>,
    /// Where the browser is sent (in an iframe of the gateway's logout page) when such a
    /// session ends while the user is there.
    pub frontchannel_logout_uri: Option<String>,
    /// Whether refresh tokens are issued (default: native applications only).
    pub refresh_tokens: bool,
    /// Whether the authorization request must carry a PKCE challenge (RFC 9700 §2.1.1):
    /// always for public clients, by default for confidential ones (`require_pkce = false`
    /// turns it off for a confidential client that cannot send one).
    pub require_pkce: bool,
}

fn loopback_ip(u: &Url) -> bool {
    match u.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// Checks a redirect URI at registration (configuration): web clients use https (http only
/// on a loopback address, for trials); native clients use a private-use scheme in reverse-DNS
/// form, a loopback IP literal over http (RFC 8252 §7.3; `localhost` is refused, §8.3), or a
/// claimed https URL. No fragment, ever.
pub fn check_registered_uri(kind: ApplicationType, uri: &str) -> Result<(), String> {
    let u = Url::parse(uri).map_err(|e| format!("not a URL: {e}"))?;
    if u.fragment().is_some() {
        return Err("a redirect URI has no fragment".into());
    }
    match (kind, u.scheme()) {
        (_, "https") => Ok(()),
        (_, "http") if loopback_ip(&u) => Ok(()),
        (ApplicationType::Native, "http") if u.host_str() == Some("localhost") => {
            Err("use 127.0.0.1 or [::1], not localhost (RFC 8252 §8.3)".into())
        }
        (ApplicationType::Web, _) => Err("a web client's redirect URI is https (http only on 127.0.0.1 or [::1])".into()),
        (ApplicationType::Native, s) if s.contains('.') => Ok(()),
        (ApplicationType::Native, _) => Err("a native client's redirect URI is a reverse-DNS private-use scheme (e.g. fr.editeur.app:/callback), a loopback http URL or https".into()),
    }
}

impl OidcClient {
    pub fn is_public(&self) -> bool {
        self.secret.is_none()
    }

    /// Whether an authorization request of this client must carry a PKCE challenge.
    pub fn needs_pkce(&self) -> bool {
        self.is_public() || self.require_pkce
    }

    /// Whether `presented` is one of the registered redirect URIs: compared character by
    /// character, except that for a registered loopback http URI of a native client any port
    /// is accepted (RFC 8252 §7.3: the port is chosen by the app at run time).
    pub fn redirect_allowed(&self, presented: &str) -> bool {
        self.redirect_uris.iter().any(|r| {
            r == presented
                || (self.application_type == ApplicationType::Native && same_loopback(r, presented))
        })
    }

    pub fn post_logout_allowed(&self, presented: &str) -> bool {
        self.post_logout_redirect_uris
            .iter()
            .any(|r| r == presented)
    }

    /// Authenticates the client at a back-channel endpoint. `basic` is the pair from
    /// `Authorization: Basic`, `form_id`/`form_secret` the `client_id`/`client_secret`
    /// parameters. A confidential client must present its secret by exactly one method; a
    /// public client presents no secret.
    pub fn authenticate(
        &self,
        basic: Option<(&str, &str)>,
        form_secret: Option<&str>,
    ) -> Result<(), OidcError> {
        let fail = |d: &str| OidcError::new(ErrorCode::InvalidClient, "oidc.client_auth", d);
        match (&self.secret, basic, form_secret) {
            (None, None, None) => Ok(()),
            (None, _, _) => Err(fail("a public client presents no secret")),
            (Some(_), Some(_), Some(_)) => {
                Err(fail("use one client authentication method, not two"))
            }
            (Some(s), Some((_, p)), None) | (Some(s), None, Some(p)) => {
                if s.matches(p) {
                    Ok(())
                } else {
                    Err(fail("wrong client secret"))
                }
            }
            (Some(_), None, None) => Err(fail(
                "this client must authenticate (client_secret_basic or client_secret_post)",
            )),
        }
    }
}

fn same_loopback(registered: &str, presented: &str) -> bool {
    let (Ok(r), Ok(p)) = (Url::parse(registered), Url::parse(presented)) else {
        return false;
    };
    r.scheme() == "http"
        && p.scheme() == "http"
        && loopback_ip(&r)
        && r.host() == p.host()
        && r.path() == p.path()
        && r.query() == p.query()
        && p.fragment().is_none()
        && p.username().is_empty()
        && p.password().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(kind: ApplicationType, uris: &[&str]) -> OidcClient {
        OidcClient {
            client_id: "c".into(),
            secret: Some(Secret::new("s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t".into())),
            application_type: kind,
            redirect_uris: uris.iter().map(|s| s.to_string()).collect(),
            post_logout_redirect_uris: vec!["https://rp.test/bye".into()],
            backchannel_logout_uri: None,
            frontchannel_logout_uri: None,
            refresh_tokens: false,
            require_pkce: true,
        }
    }

    #[test]
    fn web_redirect_uris_match_exactly() {
        let c = client(ApplicationType::Web, &["https://rp.test/cb"]);
        assert!(c.redirect_allowed("https://rp.test/cb"));
        for near in [
            "https://rp.test/cb/",
            "https://rp.test/cB",
            "https://rp.test/cb?x=1",
            "https://rp.test:443/cb#",
            "http://rp.test/cb",
            "https://rp.test.evil/cb",
            "https://rp.test/c",
        ] {
            assert!(!c.redirect_allowed(near), "{near}");
        }
        let w = client(ApplicationType::Web, &["http://127.0.0.1:9000/cb"]);
        assert!(
            !w.redirect_allowed("http://127.0.0.1:9001/cb"),
            "any port is for native loopback only"
        );
    }

    #[test]
    fn native_loopback_redirects_accept_any_port_and_nothing_else() {
        let c = client(
            ApplicationType::Native,
            &[
                "http://127.0.0.1/callback",
                "fr.editeur.app:/oauth2redirect",
            ],
        );
        assert!(c.redirect_allowed("http://127.0.0.1:51004/callback"));
        assert!(c.redirect_allowed("http://127.0.0.1/callback"));
        assert!(c.redirect_allowed("fr.editeur.app:/oauth2redirect"));
        for bad in [
            "http://127.0.0.1:51004/callbackx",
            "http://127.0.0.2:51004/callback",
            "http://localhost:51004/callback",
            "http://[::1]:51004/callback",
            "https://127.0.0.1:51004/callback",
            "http://127.0.0.1:51004/callback?x=1",
            "http://u@127.0.0.1:51004/callback",
            "fr.editeur.app:/oauth2redirecT",
            "fr.editeur.ap:/oauth2redirect",
        ] {
            assert!(!c.redirect_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn registration_checks_follow_rfc_8252() {
        use ApplicationType::*;
        assert!(check_registered_uri(Web, "https://rp.test/cb").is_ok());
        assert!(check_registered_uri(Web, "http://127.0.0.1:8082/cb").is_ok());
        assert!(check_registered_uri(Web, "http://rp.test/cb").is_err());
        assert!(check_registered_uri(Web, "fr.editeur.app:/cb").is_err());
        assert!(check_registered_uri(Web, "https://rp.test/cb#frag").is_err());
        assert!(check_registered_uri(Native, "fr.editeur.app:/cb").is_ok());
        assert!(check_registered_uri(Native, "http://[::1]/cb").is_ok());
        assert!(check_registered_uri(Native, "http://localhost/cb").is_err());
        assert!(check_registered_uri(Native, "myapp:/cb").is_err());
    }

    #[test]
    fn client_authentication() {
        let c = client(ApplicationType::Web, &[]);
        let s = "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t";
        assert!(c.authenticate(Some(("c", s)), None).is_ok());
        assert!(c.authenticate(None, Some(s)).is_ok());
        assert_eq!(
            c.authenticate(None, Some("wrong")).unwrap_err().error,
            "invalid_client"
        );
        assert!(c.authenticate(None, None).is_err());
        assert!(c.authenticate(Some(("c", s)), Some(s)).is_err());
        let mut public = c.clone();
        public.secret = None;
        assert!(public.authenticate(None, None).is_ok());
        assert!(public.authenticate(None, Some("anything")).is_err());
    }
}
