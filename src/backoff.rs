//! Exponential backoff between the retries of a background worker (the audience pipeline's
//! shipping and counting, the Matomo forwarder): doubles from `initial` up to `max`, and says
//! which failure is the first of a run, the one worth a log line.

use std::time::Duration;

/// Exponential backoff between retries.
pub struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            current: initial,
            failures: 0,
        }
    }

    pub fn reset(&mut self) {
        self.current = self.initial;
        self.failures = 0;
    }

    /// `true` for the first failure of a run (what to log).
    pub fn first(&self) -> bool {
        self.failures == 0
    }

    pub async fn wait(&mut self) {
        self.failures += 1;
        tokio::time::sleep(self.current).await;
        self.current = (self.current * 2).min(self.max);
    }
}
