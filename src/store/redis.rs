//! The Redis store (placeholder until implemented).
