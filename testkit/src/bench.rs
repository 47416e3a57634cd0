//! What the benchmarks measure with: a process's CPU time (`/proc/<pid>/stat`), the RSA-2048
//! signing and verifying rates per CPU-second of the running process (the yardsticks a
//! transaction's CPU is compared with, measured in the same run), latency percentiles, and the
//! time an audience report takes.

use std::time::{Duration, Instant};

/// A process's CPU time so far (user and system, every thread), from `/proc/<pid>/stat`;
/// `pid` may be `self`.
pub fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and
    // 13th, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// RSA-2048 SHA-256 signatures per CPU-second of this process (one thread signing for
/// `seconds` of wall time).
pub fn rsa_signatures_per_cpu_second(seconds: f64) -> f64 {
    let key = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
    let (start, cpu) = (Instant::now(), cpu_seconds("self"));
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        let mut s =
            openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key).unwrap();
        s.update(&n.to_be_bytes()).unwrap();
        s.sign_to_vec().unwrap();
        n += 1;
    }
    n as f64 / (cpu_seconds("self") - cpu).max(0.01)
}

/// RSA-2048 SHA-256 verifications per CPU-second of this process (one thread verifying for
/// `seconds` of wall time): the other half of the RSA work a transaction does.
pub fn rsa_verifications_per_cpu_second(seconds: f64) -> f64 {
    let key = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
    let mut s = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key).unwrap();
    s.update(b"message").unwrap();
    let sig = s.sign_to_vec().unwrap();
    let (start, cpu) = (Instant::now(), cpu_seconds("self"));
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        let mut v =
            openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &key).unwrap();
        v.update(b"message").unwrap();
        assert!(v.verify(&sig).unwrap());
        n += 1;
    }
    n as f64 / (cpu_seconds("self") - cpu).max(0.01)
}

/// The `p` percentile (0 to 1) of `sorted` latencies.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Builds an audience report (no small-cell threshold) five times, prints its number of rows
/// and the median time under `label`, and answers the number of rows.
pub async fn print_report_time(
    store: &dyn passerelle::store::Store,
    label: &str,
    scope: passerelle::domain::Jurisdiction,
    (from, to): (chrono::NaiveDate, chrono::NaiveDate),
    by: &str,
    period: passerelle::audience::report::Period,
) -> usize {
    let req = passerelle::audience::report::ReportRequest {
        scope,
        from,
        to,
        by: by.into(),
        period,
        min_visitors: None,
    };
    let mut times = Vec::new();
    let mut rows = 0;
    for _ in 0..5 {
        let t = Instant::now();
        rows = passerelle::audience::report::build(store, &req)
            .await
            .expect("a report of the benchmark's store")
            .rows
            .len();
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "  {label}: {rows} rows in {:.1} ms (median of 5)",
        times[2].as_secs_f64() * 1000.0
    );
    rows
}
