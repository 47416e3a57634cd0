//! One login at an ENT's OpenID Provider: [`begin`] builds the authorization request
//! (authorization code, PKCE S256, `state` = the pending login id, a fresh `nonce`);
//! [`complete`] exchanges the code (client_secret_basic), checks the ID token
//! ([`verify_id_token`]) and reads the GAR claims, from the ID token or else from userinfo.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessToken, AccessTokenHash, AdditionalClaims, AuthorizationCode, Client, ClientId,
    ClientSecret, CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IdToken, IdTokenClaims, IdTokenFields, IdTokenVerifier, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    StandardErrorResponse, StandardTokenResponse, TokenResponse, UserInfoClaims,
};
use openidconnect::{ClaimsVerificationError as Cve, SignatureVerificationError as Sve};
use serde::{Deserialize, Serialize};

use super::fetch::Guarded;
use super::{Check, EntOidc, IdTokenAlg, Providers, RpError};
use crate::oidc::rp::provider::Discovered;

/// Every claim beyond the standard ones, by name (`idEnt`, `GARPersonIdentifiant`...).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GarClaims {
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl AdditionalClaims for GarClaims {}

pub type GarIdToken =
    IdToken<GarClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;
pub type GarIdTokenClaims = IdTokenClaims<GarClaims, CoreGenderClaim>;
type GarTokenResponse = StandardTokenResponse<
    IdTokenFields<
        GarClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;
type EntClient = Client<
    GarClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    GarTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What the gateway keeps of a login it sent to an ENT, until the callback: stored in
/// `PendingLogin.extra`, never sent to the browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginSecrets {
    pub nonce: String,
    pub pkce_verifier: String,
}

impl LoginSecrets {
    pub fn to_extra(&self) -> serde_json::Value {
        serde_json::json!({ "oidc": self })
    }

    pub fn from_extra(extra: Option<&serde_json::Value>) -> Option<Self> {
        serde_json::from_value(extra?.get("oidc")?.clone()).ok()
    }
}

/// The authorization request to send the browser to, and the secrets to keep.
#[derive(Debug, Clone)]
pub struct Begin {
    pub url: String,
    pub secrets: LoginSecrets,
}

/// The user the ENT authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntUser {
    /// The `GARPersonIdentifiant` (from the configured `person_claim`).
    pub person_id: String,
    /// The ID token's `auth_time`: when the ENT authenticated the user, if it says.
    pub auth_time: Option<DateTime<Utc>>,
    /// The ID token's `sub` and `sid`: what the ENT's logout token names.
    pub sub: String,
    pub sid: Option<String>,
}

pub(super) fn core_alg(a: IdTokenAlg) -> CoreJwsSigningAlgorithm {
    match a {
        IdTokenAlg::Rs256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        IdTokenAlg::Rs384 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
        IdTokenAlg::Rs512 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
        IdTokenAlg::Es256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        IdTokenAlg::Ps256 => CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    }
}

fn client(d: &Discovered, s: &EntOidc, redirect_uri: &str) -> Result<EntClient, RpError> {
    let redirect = RedirectUrl::new(redirect_uri.to_string())
        .map_err(|e| RpError::new(Check::Config, format!("redirect URI: {e}")))?;
    Ok(EntClient::from_provider_metadata(
        d.metadata.clone(),
        ClientId::new(s.client_id.clone()),
        Some(ClientSecret::new(s.client_secret.expose().to_string())),
    )
    .set_redirect_uri(redirect))
}

/// The authorization request of the pending login `state` at this ENT.
pub fn begin(
    d: &Discovered,
    s: &EntOidc,
    redirect_uri: &str,
    state: &str,
) -> Result<Begin, RpError> {
    let client = client(d, s, redirect_uri)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let state = state.to_string();
    let mut req = client.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        move || CsrfToken::new(state),
        Nonce::new_random,
    );
    for scope in s.scopes.iter().filter(|sc| *sc != "openid") {
        req = req.add_scope(Scope::new(scope.clone()));
    }
    let (url, _state, nonce) = req.set_pkce_challenge(challenge).url();
    Ok(Begin {
        url: url.to_string(),
        secrets: LoginSecrets {
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        },
    })
}

fn claims_error(e: &Cve) -> RpError {
    let check = match e {
        Cve::Expired(_) => Check::Expired,
        Cve::InvalidAudience(_) => Check::Audience,
        Cve::InvalidIssuer(_) => Check::Issuer,
        Cve::InvalidNonce(_) => Check::Nonce,
        Cve::SignatureVerification(Sve::NoMatchingKey) => Check::Kid,
        Cve::SignatureVerification(
            Sve::DisallowedAlg(_) | Sve::NoSignature | Sve::UnsupportedAlg(_),
        ) => Check::Algorithm,
        Cve::SignatureVerification(_) => Check::Signature,
        _ => Check::IdToken,
    };
    // openidconnect's messages name issuers, audiences, algorithms and times, never a token
    // or a claim value of the user.
    let description = match e {
        Cve::SignatureVerification(inner) => format!("ID token signature: {inner}"),
        other => format!("ID token: {other}"),
    };
    RpError::new(check, description)
}

/// Every check of an ID token received from the token endpoint: signature by a key of `jwks`
/// with one of the ENT's algorithms (never `none`, never HMAC), `iss`, `aud` (and `azp` when
/// there are several audiences), `exp` and `iat` against `now` with the ENT's skew, `nonce`,
/// and `at_hash` when present.
pub fn verify_id_token(
    token: &GarIdToken,
    jwks: &CoreJsonWebKeySet,
    s: &EntOidc,
    nonce: &Nonce,
    access_token: Option<&AccessToken>,
    now: DateTime<Utc>,
) -> Result<GarIdTokenClaims, RpError> {
    let skew = chrono::Duration::from_std(s.clock_skew).unwrap_or(chrono::Duration::seconds(60));
    let issuer = IssuerUrl::new(s.issuer.clone())
        .map_err(|e| RpError::new(Check::Config, format!("issuer: {e}")))?;
    let verifier: IdTokenVerifier<'_, CoreJsonWebKey> = IdTokenVerifier::new_public_client(
        ClientId::new(s.client_id.clone()),
        issuer,
        jwks.clone(),
    )
    .set_allowed_algs(s.id_token_signing_algs.iter().copied().map(core_alg))
    // Other audiences are allowed only with an `azp` naming this client (checked below).
    .set_other_audience_verifier_fn(|_| true)
    .set_time_fn(move || now - skew)
    .set_issue_time_verifier_fn(move |iat| {
        if iat > now + skew {
            Err(format!("issued in the future ({iat})"))
        } else {
            Ok(())
        }
    });
    let claims = token
        .claims(&verifier, nonce)
        .map_err(|e| claims_error(&e))?;
    match claims.authorized_party() {
        Some(azp) if azp.as_str() != s.client_id => {
            return Err(RpError::new(
                Check::Audience,
                "the azp claim names another client",
            ))
        }
        None if claims.audiences().len() > 1 => {
            return Err(RpError::new(
                Check::Audience,
                "several audiences and no azp claim",
            ))
        }
        _ => {}
    }
    if let (Some(expected), Some(at)) = (claims.access_token_hash(), access_token) {
        let alg = token
            .signing_alg()
            .map_err(|e| RpError::new(Check::AtHash, format!("{e}")))?;
        let key = token
            .signing_key(&verifier)
            .map_err(|e| RpError::new(Check::AtHash, format!("{e}")))?;
        let actual = AccessTokenHash::from_token(at, alg, key)
            .map_err(|e| RpError::new(Check::AtHash, format!("{e}")))?;
        if actual != *expected {
            return Err(RpError::new(
                Check::AtHash,
                "at_hash does not match the access token",
            ));
        }
    }
    Ok(claims.clone())
}

fn token_error<RE: std::error::Error + 'static>(
    e: RequestTokenError<RE, StandardErrorResponse<CoreErrorResponseType>>,
) -> RpError {
    let description = match e {
        RequestTokenError::ServerResponse(r) => {
            format!(
                "the token endpoint refused the code: {}",
                r.error().as_ref()
            )
        }
        RequestTokenError::Request(e) => format!("token request failed: {e}"),
        RequestTokenError::Parse(e, _) => {
            format!("the token response is not valid (at {})", e.path())
        }
        RequestTokenError::Other(m) => format!("token request failed: {m}"),
    };
    RpError::new(Check::Token, description)
}

fn claim(claims: &GarClaims, name: &str) -> Option<String> {
    match claims.other.get(name)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Exchanges `code` at ENT `ent`'s token endpoint, verifies the ID token (refetching the JWKS
/// once when it names an unknown key), and returns the user, whose `ent_claim` must be `ent`.
#[allow(clippy::too_many_arguments)]
pub async fn complete(
    providers: &Providers,
    ent: &str,
    s: &EntOidc,
    redirect_uri: &str,
    code: &str,
    secrets: &LoginSecrets,
    now: DateTime<Utc>,
) -> Result<EntUser, RpError> {
    let d = providers.get(ent, s, now).await?;
    let client = client(&d, s, redirect_uri)?;
    let private = s.allow_private_network;
    let http = Guarded(providers.http(private).clone(), private);
    let token = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| RpError::new(Check::Token, format!("{e}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(secrets.pkce_verifier.clone()))
        .request_async(&http)
        .await
        .map_err(token_error)?;
    let id_token = token
        .id_token()
        .ok_or_else(|| RpError::new(Check::Token, "the token response has no id_token"))?;
    let nonce = Nonce::new(secrets.nonce.clone());
    let at = Some(token.access_token());
    let claims = match verify_id_token(id_token, d.metadata.jwks(), s, &nonce, at, now) {
        Err(e) if e.check == Check::Kid => match providers.refetch_jwks(ent, now).await? {
            Some(fresh) => verify_id_token(id_token, fresh.metadata.jwks(), s, &nonce, at, now)?,
            None => {
                return Err(RpError::new(
                    Check::Kid,
                    format!(
                        "{} (JWKS already refetched less than a minute ago)",
                        e.description
                    ),
                ))
            }
        },
        other => other?,
    };
    let auth_time = claims.auth_time();
    let sub = claims.subject().to_string();
    let sid = claim(claims.additional_claims(), "sid");
    let mut id_ent = claim(claims.additional_claims(), &s.ent_claim);
    let mut person = claim(claims.additional_claims(), &s.person_claim);
    if id_ent.is_none() || person.is_none() {
        let request = client
            .user_info(token.access_token().clone(), Some(claims.subject().clone()))
            .map_err(|_| {
                RpError::new(
                    Check::Claims,
                    format!(
                        "the ID token lacks {} or {} and the provider has no userinfo endpoint",
                        s.ent_claim, s.person_claim
                    ),
                )
            })?;
        let info: UserInfoClaims<GarClaims, CoreGenderClaim> =
            request
                .request_async(&http)
                .await
                .map_err(|e| RpError::new(Check::Userinfo, format!("userinfo: {e}")))?;
        id_ent = id_ent.or_else(|| claim(info.additional_claims(), &s.ent_claim));
        person = person.or_else(|| claim(info.additional_claims(), &s.person_claim));
    }
    let id_ent =
        id_ent.ok_or_else(|| RpError::new(Check::Claims, format!("no {} claim", s.ent_claim)))?;
    if id_ent != ent {
        return Err(RpError::new(
            Check::EntClaim,
            format!("the {} claim names another ENT", s.ent_claim),
        ));
    }
    let person_id = person
        .ok_or_else(|| RpError::new(Check::Claims, format!("no {} claim", s.person_claim)))?;
    Ok(EntUser {
        person_id,
        auth_time,
        sub,
        sid,
    })
}
