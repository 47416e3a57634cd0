//! CAS 3.0 for providers, as the real GAR serves it (see `shared/docs/cas-reference.md`):
//! service tickets (`ticket`: minted, kept in the store for a few seconds, consumed by the first
//! validation whatever its outcome), the validation answers (`answer`: CAS 3 XML and JSON with
//! the released attributes, CAS 2 XML, CAS 1 text, every failure code), the services a provider
//! registered (`service`), and the back-channel `logoutRequest` (`logout`).
//!
//! Protocol only: the access rule, the release, the count and the trace of an access are
//! `flow::access::hand_over`'s; the endpoints are `http::cas`.

pub mod answer;
pub mod logout;
pub mod service;
pub mod ticket;

pub use answer::{Failure, FailureCode, Format};
pub use service::CasService;
pub use ticket::{ServiceTicket, TicketRecord};
