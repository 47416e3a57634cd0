//! Tests that measure their process (its resident memory) or change it (its environment) run
//! alone in a process of their own: the harness binary run again for that one test.

/// Set in the child process to the name of the test it runs alone.
const ALONE: &str = "PASSERELLE_TEST_ALONE";

/// Whether this process runs `test` (its path in the harness, `module::name`) alone. Anywhere
/// else, runs `test` alone in a child process of this binary (`--exact`, one test thread),
/// asserts that it ran and passed, and answers false: the caller then returns.
pub fn is_alone(test: &str) -> bool {
    if std::env::var(ALONE).as_deref() == Ok(test) {
        return true;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--test-threads=1", "--nocapture"])
        .env(ALONE, test)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{test}, run alone, failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    false
}
