//! The gateway as OpenID Provider for resource providers: signing keys and JWKS, client
//! registrations, PKCE, the records behind codes and tokens, and the token formats.

pub mod backchannel;
pub mod client;
pub mod keys;
pub mod records;
pub mod service;
pub mod settings;
pub mod tokens;
