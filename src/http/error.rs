//! The one place errors become HTTP responses.
//!
//! Users get a page in French (`pages::error_page`): what happened, the way back, and a
//! reference to give the help desk; the stable code is only a discreet line for operators. The
//! cause is logged once, with the code and the same reference, for operators (by
//! `api_error::log_cause`). 5xx pages carry no internal detail. API clients get
//! `api_error::ApiError` instead.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::domain::Refusal;
use crate::saml::{Check, SamlError};
use crate::store::StoreError;

use super::pages;

/// An error shown to a person in a browser.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    /// Stable code, e.g. `not_assigned`, `saml.signature`.
    pub code: &'static str,
    pub title: &'static str,
    pub message: &'static str,
    /// What operators need to fix it; logged, never shown.
    pub cause: String,
}

impl PageError {
    pub fn refusal(r: Refusal) -> Self {
        let (status, title, message) = match r {
            Refusal::UnknownEnt => (StatusCode::NOT_FOUND, "ENT inconnu", "Votre espace numérique de travail n'est pas connu de la passerelle. Contactez l'assistance de votre ENT."),
            Refusal::UnknownSchool => (StatusCode::NOT_FOUND, "Établissement inconnu", "Cet établissement n'est pas connu de la passerelle. Contactez l'assistance de votre ENT."),
            Refusal::UnknownResource => (StatusCode::NOT_FOUND, "Ressource inconnue", "Cette ressource n'existe pas ou n'est plus proposée."),
            Refusal::UnknownUser => (StatusCode::FORBIDDEN, "Compte inconnu", "Votre compte n'est pas encore connu de la passerelle (l'annuaire de votre ENT est mis à jour chaque nuit). Réessayez demain ou contactez l'assistance de votre ENT."),
            Refusal::NotInSchool => (StatusCode::FORBIDDEN, "Établissement non rattaché", "Vous n'êtes pas rattaché à cet établissement."),
            Refusal::NoSubscription => (StatusCode::FORBIDDEN, "Pas d'abonnement", "Votre établissement n'est pas abonné à cette ressource."),
            Refusal::SubscriptionExpired => (StatusCode::FORBIDDEN, "Abonnement expiré", "L'abonnement de votre établissement à cette ressource est arrivé à échéance."),
            Refusal::SubscriptionNotYetValid => (StatusCode::FORBIDDEN, "Abonnement pas encore actif", "L'abonnement de votre établissement à cette ressource n'a pas encore commencé."),
            Refusal::ProfileNotCovered => (StatusCode::FORBIDDEN, "Profil non concerné", "L'abonnement de votre établissement ne couvre pas votre profil."),
            Refusal::NotAssigned => (StatusCode::FORBIDDEN, "Ressource non attribuée", "Cette ressource ne vous a pas été attribuée. Adressez-vous au responsable des affectations de votre établissement (souvent le professeur documentaliste)."),
        };
        Self {
            status,
            code: r.code(),
            title,
            message,
            cause: format!("access refused: {}", r.code()),
        }
    }

    pub fn saml(e: &SamlError) -> Self {
        use crate::saml::check::Kind;
        let status = match (e.check.kind(), e.check) {
            (Kind::Unreadable, Check::TooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
            (Kind::Unreadable, _) => StatusCode::BAD_REQUEST,
            (Kind::Refused, _) => StatusCode::FORBIDDEN,
            (Kind::Gateway, _) => StatusCode::INTERNAL_SERVER_ERROR,
            (Kind::Busy, _) => StatusCode::SERVICE_UNAVAILABLE,
        };
        Self {
            status,
            code: e.check.code(),
            title: "Connexion refusée",
            message: "Le message d'authentification reçu n'a pas pu être validé. Recommencez depuis votre ENT ; si le problème persiste, contactez l'assistance en donnant la référence ci-dessous.",
            cause: e.to_string(),
        }
    }

    /// An ENT's logout message that could not be verified: nothing was ended.
    pub fn saml_logout(e: &SamlError) -> Self {
        Self {
            title: "Déconnexion refusée",
            message: "La demande de déconnexion envoyée par votre ENT n'a pas pu être validée : rien n'a été fermé. Pour terminer votre session, fermez votre navigateur ; si le problème persiste, contactez l'assistance en donnant la référence ci-dessous.",
            ..Self::saml(e)
        }
    }

    /// An OIDC request that cannot be answered by a redirect (unknown client, unregistered
    /// redirect URI): the user sees why; nothing is sent to the untrusted URI.
    pub fn oidc_request(e: &crate::oidc::OidcError) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: e.check,
            title: "Demande de connexion invalide",
            message: "L'application qui vous a dirigé ici a fait une demande de connexion que la passerelle ne peut pas accepter. Recommencez depuis l'application ou depuis le médiacentre de votre ENT ; si le problème persiste, contactez l'éditeur de la ressource en donnant la référence ci-dessous.",
            cause: e.to_string(),
        }
    }

    /// An ENT's OpenID Connect message refused by `e.check`.
    pub fn oidc(e: &crate::oidc::rp::RpError) -> Self {
        use crate::oidc::rp::check::Kind;
        let (status, title, message) = match e.check.kind() {
            Kind::Denied => (
                StatusCode::FORBIDDEN,
                "Connexion refusée par l'ENT",
                "Votre ENT n'a pas autorisé la connexion (accès refusé ou connexion annulée). Recommencez depuis le médiacentre de votre ENT.",
            ),
            Kind::Unreachable => (
                StatusCode::BAD_GATEWAY,
                "ENT injoignable",
                "La passerelle n'a pas pu dialoguer avec le service d'authentification de votre ENT. Réessayez dans quelques minutes ; si le problème persiste, contactez l'assistance en donnant la référence ci-dessous.",
            ),
            Kind::Config => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Connexion impossible",
                "La connexion par votre ENT n'est pas correctement configurée. Contactez l'assistance en donnant la référence ci-dessous.",
            ),
            Kind::Refused => (
                StatusCode::FORBIDDEN,
                "Connexion refusée",
                "La réponse d'authentification de votre ENT n'a pas pu être validée. Recommencez depuis votre ENT ; si le problème persiste, contactez l'assistance en donnant la référence ci-dessous.",
            ),
        };
        Self {
            status,
            code: e.check.code(),
            title,
            message,
            cause: e.to_string(),
        }
    }

    pub fn bad_request(code: &'static str, cause: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            title: "Lien invalide",
            message: "Le lien utilisé est incomplet ou mal formé. Recommencez depuis le médiacentre de votre ENT.",
            cause: cause.into(),
        }
    }

    pub fn no_session(cause: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: "no_session",
            title: "Session absente ou expirée",
            message: "Pour ouvrir cette ressource, passez par le médiacentre de votre ENT.",
            cause: cause.into(),
        }
    }

    pub fn store(e: &StoreError) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            title: "Service momentanément indisponible",
            message: "La passerelle ne peut pas répondre pour le moment. Réessayez dans quelques instants ; si le problème persiste, contactez l'assistance en donnant la référence ci-dessous.",
            cause: e.to_string(),
        }
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        Self::store(&e)
    }
}

impl From<crate::flow::FlowError> for PageError {
    fn from(e: crate::flow::FlowError) -> Self {
        match e {
            crate::flow::FlowError::Refused(r) => Self::refusal(r),
            crate::flow::FlowError::Store(e) => Self::store(&e),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let reference = pages::reference();
        let body = pages::error_page(self.title, self.message, self.code, &reference);
        let mut resp = (
            self.status,
            [(axum::http::header::CACHE_CONTROL, "no-store")],
            Html(body),
        )
            .into_response();
        super::api_error::retry_after_if_unavailable(&mut resp);
        // Logged once, with the same reference, by `api_error::log_cause`.
        resp.extensions_mut().insert(super::api_error::Cause {
            status: self.status,
            code: self.code,
            reference,
            cause: self.cause,
        });
        resp
    }
}

#[cfg(test)]
mod check_status_tests {
    use super::*;
    use crate::oidc::rp::{Check as RpCheck, RpError};

    #[test]
    fn every_saml_check_has_the_status_of_its_kind() {
        let status = |c: Check| PageError::saml(&SamlError::new(c, "d")).status;
        assert_eq!(status(Check::TooLarge), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(status(Check::Malformed), StatusCode::BAD_REQUEST);
        assert_eq!(status(Check::Internal), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status(Check::Busy), StatusCode::SERVICE_UNAVAILABLE);
        for c in Check::ALL {
            let page = PageError::saml(&SamlError::new(*c, "d"));
            assert_eq!(page.code, c.code());
            assert!(!page.status.is_success(), "{c}");
        }
        assert_eq!(status(Check::Signature), StatusCode::FORBIDDEN);
        assert_eq!(status(Check::Replay), StatusCode::FORBIDDEN);
    }

    #[test]
    fn every_ent_oidc_check_has_the_status_of_its_kind() {
        let status = |c: RpCheck| PageError::oidc(&RpError::new(c, "d")).status;
        assert_eq!(status(RpCheck::Error), StatusCode::FORBIDDEN);
        assert_eq!(status(RpCheck::Discovery), StatusCode::BAD_GATEWAY);
        assert_eq!(status(RpCheck::Userinfo), StatusCode::BAD_GATEWAY);
        assert_eq!(status(RpCheck::Config), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status(RpCheck::Nonce), StatusCode::FORBIDDEN);
        for c in RpCheck::ALL {
            assert!(c.code().starts_with("oidc."), "{c}");
        }
    }
}
