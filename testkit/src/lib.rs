//! passerelle's test kit: what the integration tests (`tests/it`) and the benchmarks
//! (`benches/`) share. `gateway` builds a gateway for tests (fresh keys, a registered ENT and
//! providers, a seeded directory, the in-memory store, a fixed clock, an in-memory trace sink);
//! `test_redis` names the Redis the tests use and gives each test its own key prefix; `bench`
//! holds what the benchmarks measure with.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod bench;
pub mod gateway;
pub mod test_redis;
