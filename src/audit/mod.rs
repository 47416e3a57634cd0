//! The tamper-evident audit trail: one hash chain per gateway node, in segments rotated by size
//! and day, with checkpoints (the head's hash signed with the gateway's key) written at an
//! interval and at shutdown, and a retention that purges old segments behind a signed anchor.
//!
//! [`writer::AuditLog`] is a trace sink: every decision event is recorded. [`verify`] is what
//! `passerelle audit verify` runs. Invariant: records carry trace events only, so the same
//! rule holds as for traces: pseudonymous subjects and attribute names, never personal data.

pub mod chain;
pub mod query;
pub mod verify;
pub mod writer;

pub use writer::{AuditLog, AuditSettings};
