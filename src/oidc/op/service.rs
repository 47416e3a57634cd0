//! The OpenID Provider's back-channel operations over the store: redeeming a code, rotating a
//! refresh token, answering userinfo, revoking (RFC 7009) and introspecting (RFC 7662).
//!
//! Every token is tied to a grant: reusing a code or a refresh token revokes the whole grant
//! (RFC 9700 §4.5, §4.14), and the access rule runs again each time a token is issued or a
//! profile is read, so a subscription that ends or an assignment withdrawn closes the access.
//! That rule, and the attributes released, come from `flow::access`: the token endpoint redeems
//! here ([`redeem_code`], [`rotate_refresh`]), the flow runs the rule and hands the attributes
//! to [`issue_set`], which signs.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};

use super::client::OidcClient;
use super::records::{
    check_binding, check_redemption, check_refresh, key_of, new_secret, CodeRecord, GrantFacts,
    Redemption, RefreshRecord, KIND_CODE, KIND_REFRESH, KIND_REVOKED_ACCESS, KIND_REVOKED_GRANT,
    ONCE_CODE, ONCE_REFRESH,
};
use super::settings::OidcConfig;
use super::tokens::{self, Lifetimes};
use crate::domain::ReleasedAttributes;
use crate::oidc::{ErrorCode, OidcError};
use crate::store::{Store, StoreError};

/// A failure of a back-channel operation.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error(transparent)]
    Refused(#[from] OidcError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the OpenID Provider's operations touch: the store, the `[oidc]` settings (keys,
/// lifetimes) and the issuer URL.
#[derive(Clone, Copy)]
pub struct Op<'a> {
    pub store: &'a dyn Store,
    pub settings: &'a OidcConfig,
    pub issuer: &'a str,
}

pub const KIND_GRANT: &str = "oidc-grant";
const KIND_REFRESH_USED: &str = "oidc-refresh-used";

fn chrono(d: std::time::Duration) -> Duration {
    Duration::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 1000))
}

pub fn lifetimes(o: &OidcConfig) -> Lifetimes {
    Lifetimes {
        code: chrono(o.code_lifetime),
        access_token: chrono(o.access_token_lifetime),
        id_token: chrono(o.id_token_lifetime),
        refresh_token: chrono(o.refresh_token_lifetime),
    }
}

/// How long a grant and its revocation are remembered: as long as anything it issued lives.
fn grant_ttl(o: &OidcConfig) -> std::time::Duration {
    o.refresh_token_lifetime.max(o.access_token_lifetime) + o.code_lifetime
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Value, StoreError> {
    serde_json::to_value(v).map_err(|e| StoreError::Corrupt(format!("oidc record: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(v: Value, what: &str) -> Result<T, StoreError> {
    serde_json::from_value(v)
        .map_err(|_| StoreError::Corrupt(format!("oidc {what} record does not decode")))
}

/// Stores the code for an authorization and returns it.
pub async fn new_code(op: &Op<'_>, record: &CodeRecord) -> Result<String, StoreError> {
    let code = new_secret();
    // Kept beyond its lifetime so that a late second use is still recognised as a reuse.
    let ttl = op.settings.code_lifetime + op.settings.access_token_lifetime;
    op.store
        .put_token(KIND_CODE, &key_of(&code), &to_json(record)?, ttl)
        .await?;
    Ok(code)
}

pub async fn revoke_grant(op: &Op<'_>, grant_id: &str) -> Result<(), StoreError> {
    op.store
        .put_token(
            KIND_REVOKED_GRANT,
            grant_id,
            &json!(true),
            grant_ttl(op.settings),
        )
        .await
}

async fn grant_revoked(op: &Op<'_>, grant_id: &str) -> Result<bool, StoreError> {
    Ok(op
        .store
        .get_token(KIND_REVOKED_GRANT, grant_id)
        .await?
        .is_some())
}

/// The token endpoint's answer.
#[derive(Debug, serde::Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub id_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// Signs a token set for `facts` with the attributes `rel` the access rule released (the
/// IDO is the subject), stores the grant and (when the client takes them) a new refresh token
/// of the same family.
pub async fn issue_set(
    op: &Op<'_>,
    client: &OidcClient,
    facts: &GrantFacts,
    nonce: Option<&str>,
    rel: &ReleasedAttributes,
    now: DateTime<Utc>,
) -> Result<TokenResponse, OpError> {
    let life = lifetimes(op.settings);
    let issuer = op.issuer.to_string();
    let (keys, f, ido, n) = (
        op.settings.keys.clone(),
        facts.clone(),
        rel.subject.clone(),
        nonce.map(str::to_string),
    );
    // RSA signing is CPU work: keep it off the async workers.
    let issued = tokio::task::spawn_blocking(move || {
        tokens::issue(&keys, &issuer, &f, &ido, n.as_deref(), now, &life)
    })
    .await
    .map_err(|e| {
        OidcError::new(
            ErrorCode::ServerError,
            "oidc.sign",
            format!("signing task failed: {e}"),
        )
    })??;
    op.store
        .put_token(
            KIND_GRANT,
            &facts.grant_id,
            &to_json(facts)?,
            grant_ttl(op.settings),
        )
        .await?;
    let refresh_token = if client.refresh_tokens {
        let rt = new_secret();
        let record = RefreshRecord {
            facts: facts.clone(),
            issued_at: now,
            expires_at: now + life.refresh_token,
        };
        op.store
            .put_token(
                KIND_REFRESH,
                &key_of(&rt),
                &to_json(&record)?,
                op.settings.refresh_token_lifetime,
            )
            .await?;
        Some(rt)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_in: life.access_token.num_seconds(),
        id_token: issued.id_token,
        refresh_token,
        scope: facts.scope.clone(),
    })
}

/// `grant_type=authorization_code`: every check of the code, then its one use. The caller
/// hands the token set over (`flow::access::hand_over`, then [`issue_set`]).
pub async fn redeem_code(
    op: &Op<'_>,
    client: &OidcClient,
    code: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    now: DateTime<Utc>,
) -> Result<CodeRecord, OpError> {
    let key = key_of(code);
    let unknown = || {
        OidcError::new(
            ErrorCode::InvalidGrant,
            "oidc.code_unknown",
            "unknown or expired code",
        )
    };
    let record: CodeRecord = match op.store.get_token(KIND_CODE, &key).await? {
        Some(v) => from_json(v, "code")?,
        None => return Err(unknown().into()),
    };
    // Every check of the code's binding comes before it is used up: a wrong client, redirect
    // URI or verifier presenting a leaked code must not burn the real client's grant.
    let redemption = Redemption {
        client_id: &client.client_id,
        redirect_uri,
        code_verifier,
        public_client: client.is_public(),
    };
    check_binding(&record, &redemption)?;
    let lifetime = lifetimes(op.settings).code;
    // The atomic take (`SET NX`): of concurrent redemptions, exactly one goes on. An expired
    // code is taken too, so that a late second use is still recognised as a reuse; nobody
    // could have redeemed it anyway.
    let ttl = op.settings.code_lifetime + op.settings.access_token_lifetime;
    if !op.store.remember_once(ONCE_CODE, &key, ttl).await? {
        // A second use: whoever holds the code may be an attacker; revoke what the first use got.
        revoke_grant(op, &record.facts.grant_id).await?;
        return Err(OidcError::new(
            ErrorCode::InvalidGrant,
            "oidc.code_reused",
            "this code was already used; the tokens issued for it are revoked",
        )
        .into());
    }
    check_redemption(&record, &redemption, now, lifetime)?;
    Ok(record)
}

/// `grant_type=refresh_token`: the presented token is used up (a new one of the same family is
/// issued by [`issue_set`]); presenting a used one again revokes the family. Returns the
/// grant's facts.
pub async fn rotate_refresh(
    op: &Op<'_>,
    client: &OidcClient,
    refresh_token: &str,
    now: DateTime<Utc>,
) -> Result<GrantFacts, OpError> {
    let key = key_of(refresh_token);
    let record: RefreshRecord = match op.store.get_token(KIND_REFRESH, &key).await? {
        Some(v) => from_json(v, "refresh")?,
        None => {
            return Err(OidcError::new(
                ErrorCode::InvalidGrant,
                "oidc.refresh_unknown",
                "unknown or expired refresh token",
            )
            .into())
        }
    };
    check_refresh(&record, &client.client_id, now)?;
    if grant_revoked(op, &record.facts.grant_id).await? {
        return Err(OidcError::new(
            ErrorCode::InvalidGrant,
            "oidc.grant_revoked",
            "this grant was revoked",
        )
        .into());
    }
    if !op
        .store
        .remember_once(ONCE_REFRESH, &key, op.settings.refresh_token_lifetime)
        .await?
    {
        revoke_grant(op, &record.facts.grant_id).await?;
        return Err(OidcError::new(
            ErrorCode::InvalidGrant,
            "oidc.refresh_reused",
            "this refresh token was already used; its whole family is revoked",
        )
        .into());
    }
    // `remember_once` decided the race; this marker lets introspection see the token as used.
    let left = (record.expires_at - now)
        .to_std()
        .unwrap_or_default()
        .max(std::time::Duration::from_secs(1));
    op.store
        .put_token(KIND_REFRESH_USED, &key, &json!(true), left)
        .await?;
    Ok(record.facts)
}

/// The facts behind a valid, unrevoked access token.
async fn access_facts(
    op: &Op<'_>,
    token: &str,
    now: DateTime<Utc>,
) -> Result<(tokens::AccessClaims, GrantFacts), OpError> {
    let claims = tokens::verify_access(&op.settings.keys, op.issuer, token, now)?;
    let revoked = || {
        OidcError::new(
            ErrorCode::InvalidToken,
            "oidc.token_revoked",
            "the access token was revoked",
        )
    };
    if grant_revoked(op, &claims.gid).await?
        || op
            .store
            .get_token(KIND_REVOKED_ACCESS, &claims.jti)
            .await?
            .is_some()
    {
        return Err(revoked().into());
    }
    let facts: GrantFacts = match op.store.get_token(KIND_GRANT, &claims.gid).await? {
        Some(v) => from_json(v, "grant")?,
        None => return Err(revoked().into()),
    };
    Ok((claims, facts))
}

/// Userinfo, first half: the facts behind a valid access token, with the GAR's query
/// parameters `idRessource` and `access_mode` checked against them. The caller runs the access
/// rule again (`flow::access::release_for`) and answers [`userinfo_claims`].
pub async fn userinfo_facts(
    op: &Op<'_>,
    token: &str,
    id_ressource: Option<&str>,
    access_mode: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(tokens::AccessClaims, GrantFacts), OpError> {
    let (claims, facts) = access_facts(op, token, now).await?;
    if id_ressource.is_some_and(|r| r != facts.resource.as_str()) {
        return Err(OidcError::new(
            ErrorCode::InvalidRequest,
            "oidc.id_ressource",
            "idRessource is not the resource this token was issued for",
        )
        .into());
    }
    match access_mode {
        None | Some("web" | "app") => {}
        Some(_) => {
            return Err(OidcError::new(
                ErrorCode::InvalidRequest,
                "oidc.access_mode",
                "access_mode is web or app",
            )
            .into())
        }
    }
    Ok((claims, facts))
}

/// Userinfo, second half: the released attributes as claims named with the GAR's short names;
/// multi-valued attributes are arrays.
pub fn userinfo_claims(claims: &tokens::AccessClaims, rel: &ReleasedAttributes) -> Value {
    let mut out = Map::new();
    out.insert("sub".into(), json!(claims.sub));
    for (name, values) in &rel.values {
        let v = if name.is_multi_valued() {
            json!(values)
        } else {
            json!(values.first())
        };
        out.insert(name.as_str().into(), v);
    }
    Value::Object(out)
}

/// RFC 7009: revokes a refresh token (and its grant) or an access token of this client.
/// Unknown tokens and other clients' tokens are answered the same way, and nothing changes.
pub async fn revoke(
    op: &Op<'_>,
    client: &OidcClient,
    token: &str,
    now: DateTime<Utc>,
) -> Result<(), OpError> {
    if let Some(v) = op.store.get_token(KIND_REFRESH, &key_of(token)).await? {
        let record: RefreshRecord = from_json(v, "refresh")?;
        if record.facts.client_id == client.client_id {
            revoke_grant(op, &record.facts.grant_id).await?;
        }
        return Ok(());
    }
    if let Ok(claims) = tokens::verify_access(&op.settings.keys, op.issuer, token, now) {
        if claims.client_id == client.client_id {
            let left = (claims.exp - now.timestamp()).max(1);
            op.store
                .put_token(
                    KIND_REVOKED_ACCESS,
                    &claims.jti,
                    &json!(true),
                    std::time::Duration::from_secs(left.unsigned_abs()),
                )
                .await?;
        }
    }
    Ok(())
}

/// RFC 7662: whether a token of this client is active, and what it is.
pub async fn introspect(
    op: &Op<'_>,
    client: &OidcClient,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Value, OpError> {
    let inactive = json!({"active": false});
    if let Ok((claims, _)) = access_facts(op, token, now).await {
        if claims.client_id != client.client_id {
            return Ok(inactive);
        }
        return Ok(json!({
            "active": true, "token_type": "Bearer", "scope": claims.scope, "client_id": claims.client_id,
            "sub": claims.sub, "aud": claims.aud, "iss": claims.iss, "exp": claims.exp, "iat": claims.iat,
            "jti": claims.jti, "idRessource": claims.resource,
        }));
    }
    let key = key_of(token);
    if let Some(v) = op.store.get_token(KIND_REFRESH, &key).await? {
        let record: RefreshRecord = from_json(v, "refresh")?;
        let live = check_refresh(&record, &client.client_id, now).is_ok()
            && !grant_revoked(op, &record.facts.grant_id).await?
            && !refresh_used(op, &key).await?;
        if live {
            return Ok(json!({
                "active": true, "token_type": "refresh_token", "scope": record.facts.scope,
                "client_id": record.facts.client_id, "exp": record.expires_at.timestamp(),
                "iat": record.issued_at.timestamp(), "idRessource": record.facts.resource.as_str(),
            }));
        }
    }
    Ok(inactive)
}

/// Whether a refresh token was already rotated.
async fn refresh_used(op: &Op<'_>, key: &str) -> Result<bool, StoreError> {
    Ok(op.store.get_token(KIND_REFRESH_USED, key).await?.is_some())
}
