//! Service tickets: `ST-` and 43 random characters (256 bits), shared between gateway nodes
//! through the store under the hash of the ticket (the store never holds a usable ticket),
//! valid for one service, a few seconds, and one validation.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::answer::{Failure, FailureCode};
use crate::domain::{DeviceClass, IdEnt, ResourceId, Uai};
use crate::store::{StoreResult, TokenStore};

/// Store kind of a service ticket's record.
const KIND: &str = "cas-st";
/// The protocol's bound on a ticket's length.
pub const MAX_LEN: usize = 256;

/// A service ticket, as given to the browser and validated by the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTicket(String);

impl ServiceTicket {
    /// A fresh, unguessable ticket.
    pub fn mint() -> Self {
        use rand::distributions::{Alphanumeric, DistString};
        Self(format!(
            "ST-{}",
            Alphanumeric.sample_string(&mut rand::thread_rng(), 43)
        ))
    }

    /// A ticket as a provider sent it: `ST-`, then `[A-Za-z0-9-]`, at most 256 characters.
    /// A proxy ticket (`PT-`) or anything else is `INVALID_TICKET_SPEC`.
    pub fn parse(s: &str) -> Result<Self, Failure> {
        let well_formed = s.len() <= MAX_LEN
            && s.len() > 3
            && s.starts_with("ST-")
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if well_formed {
            Ok(Self(s.to_string()))
        } else {
            Err(Failure::new(
                FailureCode::InvalidTicketSpec,
                "the ticket is not a service ticket of this server",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn key(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

/// What a ticket stands for: the access `/login` granted, for whom, to which service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRecord {
    /// The `service` given to `/login`, exactly.
    pub service: String,
    /// The provider's configuration key.
    pub provider: String,
    pub resource: ResourceId,
    pub ent: IdEnt,
    pub person_id: String,
    /// The school the access was granted in.
    pub uai: Uai,
    /// The public handle of the gateway session that asked.
    pub session_ref: String,
    pub device: DeviceClass,
    pub issued_at: DateTime<Utc>,
}

/// Mints a ticket for `record` and keeps it for `ttl`.
pub async fn issue(
    store: &dyn TokenStore,
    record: &TicketRecord,
    ttl: Duration,
) -> StoreResult<ServiceTicket> {
    let ticket = ServiceTicket::mint();
    let value = serde_json::to_value(record).map_err(|e| {
        crate::store::StoreError::Corrupt(format!("service ticket record: cannot encode: {e}"))
    })?;
    store.put_token(KIND, &ticket.key(), &value, ttl).await?;
    Ok(ticket)
}

/// Why a validation fails, or the store's failure.
#[derive(Debug)]
pub enum Redeem {
    Failed(Failure),
    Store(crate::store::StoreError),
}

impl From<crate::store::StoreError> for Redeem {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Store(e)
    }
}

/// Consumes `ticket` (whatever the outcome: a ticket is validated once) and answers its record
/// when it was issued for exactly `service` no longer than `ttl` before `now`.
pub async fn redeem(
    store: &dyn TokenStore,
    ticket: &ServiceTicket,
    service: &str,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<TicketRecord, Redeem> {
    let unknown = || {
        Redeem::Failed(Failure::new(
            FailureCode::InvalidTicket,
            "ticket not recognized (unknown, already validated or expired)",
        ))
    };
    let Some(value) = store.take_token(KIND, &ticket.key()).await? else {
        return Err(unknown());
    };
    let record: TicketRecord = serde_json::from_value(value).map_err(|_| {
        crate::store::StoreError::Corrupt("service ticket record does not decode".into())
    })?;
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    if now - record.issued_at > ttl || record.issued_at > now + chrono::Duration::seconds(5) {
        return Err(unknown());
    }
    if record.service != service {
        return Err(Redeem::Failed(Failure::new(
            FailureCode::InvalidService,
            "the ticket was not issued for this service (it is now consumed)",
        )));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn record(now: DateTime<Utc>) -> TicketRecord {
        TicketRecord {
            service: "https://app.example/?sso_id=gar".into(),
            provider: "p".into(),
            resource: "ark:/99999/r1".parse().unwrap(),
            ent: "E1".parse().unwrap(),
            person_id: "u1".into(),
            uai: "0561641E".parse().unwrap(),
            session_ref: "ref".into(),
            device: DeviceClass::Computer,
            issued_at: now,
        }
    }

    #[test]
    fn tickets_are_well_formed_and_unguessable() {
        let a = ServiceTicket::mint();
        let b = ServiceTicket::mint();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 46);
        assert_eq!(ServiceTicket::parse(a.as_str()), Ok(a));
        for bad in [
            "",
            "ST-",
            "PT-abc",
            "TGT-abc",
            "ST-a b",
            "ST-a_b",
            "ST-é",
            &format!("ST-{}", "a".repeat(254)),
        ] {
            assert_eq!(
                ServiceTicket::parse(bad).unwrap_err().code,
                FailureCode::InvalidTicketSpec,
                "{bad:?}"
            );
        }
        assert!(ServiceTicket::parse(&format!("ST-{}", "a".repeat(253))).is_ok());
    }

    #[tokio::test]
    async fn a_ticket_is_validated_once_for_its_service_within_its_life() {
        let store = MemoryStore::new();
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
            .unwrap()
            .to_utc();
        let ttl = Duration::from_secs(10);
        let r = record(now);
        let code = |e: Redeem| match e {
            Redeem::Failed(f) => f.code,
            Redeem::Store(e) => panic!("{e}"),
        };

        let t = issue(&store, &r, ttl).await.unwrap();
        assert_eq!(redeem(&store, &t, &r.service, ttl, now).await.unwrap(), r);
        let again = redeem(&store, &t, &r.service, ttl, now).await.unwrap_err();
        assert_eq!(code(again), FailureCode::InvalidTicket, "used");

        let t = issue(&store, &r, ttl).await.unwrap();
        let other = redeem(&store, &t, "https://app.example/", ttl, now)
            .await
            .unwrap_err();
        assert_eq!(
            code(other),
            FailureCode::InvalidService,
            "prefix is not exact"
        );
        let gone = redeem(&store, &t, &r.service, ttl, now).await.unwrap_err();
        assert_eq!(
            code(gone),
            FailureCode::InvalidTicket,
            "consumed by the mismatch"
        );

        let t = issue(&store, &r, ttl).await.unwrap();
        let late = now + chrono::Duration::seconds(11);
        let expired = redeem(&store, &t, &r.service, ttl, late).await.unwrap_err();
        assert_eq!(code(expired), FailureCode::InvalidTicket, "expired");
        let t = issue(&store, &r, ttl).await.unwrap();
        let in_time = now + chrono::Duration::seconds(10);
        assert!(redeem(&store, &t, &r.service, ttl, in_time).await.is_ok());

        let unknown = ServiceTicket::mint();
        let e = redeem(&store, &unknown, &r.service, ttl, now)
            .await
            .unwrap_err();
        assert_eq!(code(e), FailureCode::InvalidTicket);
    }
}
