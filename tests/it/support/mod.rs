//! What the integration tests share: a gateway builder (`gateway`, from the test kit
//! `testkit/`, which the benchmarks share too), peers that are not the
//! gateway's code (`ent_idp`, `ent_op`, `hostile_op`, `pki`, `test_redis`, and `own_redis`, a
//! `redis-server` a test starts, kills and restarts), message builders
//! and the browser's side of logins (`oidc`, `oidc_login`, `saml_browser`), the store contracts
//! (`contract`, `audience_contract`), a log capture (`captured_logs`), and a way to run a
//! test alone in a process of its own (`alone`), the crate's module graph read from its
//! source (`module_graph`, for `layering`), and a namespace-aware reading of XML answers
//! (`ns_xml`).

pub mod alone;
pub mod audience_contract;
pub mod captured_logs;
pub mod cas_peer;
pub mod contract;
pub mod ent_idp;
pub mod ent_op;
pub mod hostile_op;
pub mod module_graph;
pub mod ns_xml;
pub mod oidc;
pub mod oidc_login;
pub mod own_redis;
pub mod pki;
pub mod redis_cluster;
pub mod saml_browser;
pub mod tls_gateway;

pub use passerelle_testkit::{gateway, test_redis};
