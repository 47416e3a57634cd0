#!/usr/bin/env bash
# Runs passerelle's fuzz targets (fuzz/, cargo-fuzz + libFuzzer) for a fixed budget each, one
# after the other, on the stable toolchain.
#
#   scripts/fuzz.sh [target|all] [runs]      default: all, 10000000 runs per target
#   scripts/fuzz.sh xml_guard,saml_post 1000  several targets, in that order
#   FUZZ_MAX_TIME=3600 scripts/fuzz.sh all   also stop each target after that many seconds
#   scripts/fuzz.sh list                     the targets
#
# Each run seeds fuzz/corpus/<target> from tests/fixtures and fuzz/seeds/<target> (the corpus
# is kept between runs, git-ignored), logs to fuzz/logs/<target>.log, leaves any crashing
# input in fuzz/artifacts/<target>/ and prints, per target: runs done, exec/s, wall time,
# corpus size and crashes. Exit status 1 when a target crashed.
#
# Stable toolchain: `cargo fuzz build/run -s none` (no sanitizer) needs no nightly flag; the
# coverage instrumentation (-Cpasses=sancov-module, -Cllvm-args=-sanitizer-coverage-*) is
# stable. Panics and failed assertions abort, which libFuzzer reports as crashes.
# Everything runs under `nice -n 19`, one fuzzer process at a time (no -jobs/-workers: a
# single in-process worker), with -rss_limit_mb=2048.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
FUZZ="$ROOT/fuzz"
TARGETS=(saml_redirect saml_post xml_guard abonnement_xml abonnement_filters feed_parse feed_archive config_env)

which_target="${1:-all}"
runs="${2:-10000000}"

if [ "$which_target" = "list" ]; then
    printf '%s\n' "${TARGETS[@]}"
    exit 0
fi
if [ "$which_target" = "all" ]; then
    selected=("${TARGETS[@]}")
else
    IFS=',' read -r -a selected <<<"$which_target"
    for t in "${selected[@]}"; do
        if ! printf '%s\n' "${TARGETS[@]}" | grep -qx "$t"; then
            echo "fuzz: unknown target '$t' (one of: ${TARGETS[*]}, or all)" >&2
            exit 2
        fi
    done
fi
case "$runs" in
    ''|*[!0-9]*) echo "fuzz: runs must be a number, not '$runs'" >&2; exit 2 ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    nice -n 19 cargo install cargo-fuzz --locked
fi

# The longest input each target is given.
max_len() {
    case "$1" in
        xml_guard|abonnement_xml|feed_parse|feed_archive) echo 65536 ;;
        saml_redirect) echo 4096 ;;
        *) echo 8192 ;;
    esac
}

dict() {
    case "$1" in
        xml_guard|abonnement_xml|abonnement_filters|feed_parse) echo "-dict=$FUZZ/dicts/xml.dict" ;;
        config_env) echo "-dict=$FUZZ/dicts/env.dict" ;;
    esac
}

# seed_file DIR NAME: copies stdin to DIR/NAME.
seed_file() { cat >"$1/$2"; }

deflate() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import sys, zlib; c = zlib.compressobj(9, zlib.DEFLATED, -15); sys.stdout.buffer.write(c.compress(sys.stdin.buffer.read()) + c.flush())'
    else
        return 1
    fi
}

# The corpus of a target, seeded from the fixtures (inputs framed as the target reads them).
seed() {
    local t="$1" dir="$FUZZ/corpus/$1" f n
    mkdir -p "$dir"
    if [ -d "$FUZZ/seeds/$t" ]; then
        cp -n "$FUZZ/seeds/$t"/* "$dir"/ 2>/dev/null || true
    fi
    case "$t" in
        xml_guard)
            cp -n "$ROOT"/tests/fixtures/saml/*.xml "$dir"/ ;;
        saml_post)
            for f in "$ROOT"/tests/fixtures/saml/*.xml; do
                n="$(basename "$f" .xml)"
                { printf '\000'; base64 <"$f"; } | seed_file "$dir" "$n.form"
                { printf '\001'; cat "$f"; } | seed_file "$dir" "$n.compact"
                { printf '\003'; cat "$f"; } | seed_file "$dir" "$n.wrapped"
            done ;;
        saml_redirect)
            for f in "$ROOT"/tests/fixtures/saml/*.xml; do
                n="$(basename "$f" .xml)"
                { printf '\002'; cat "$f"; } | seed_file "$dir" "$n.message"
                { printf '\016'; printf 'https://ent.example/relay?x=1&y'; cat "$f"; } | seed_file "$dir" "$n.relay"
                if z="$(deflate <"$f" | base64 -w0)"; then
                    { printf '\001'; deflate <"$f"; } | seed_file "$dir" "$n.deflate"
                    { printf '\000'; printf 'SAMLRequest=%s&RelayState=abc%%20d&SigAlg=http%%3A%%2F%%2Fwww.w3.org%%2F2001%%2F04%%2Fxmldsig-more%%23rsa-sha256&Signature=AAAA' \
                        "$(printf '%s' "$z" | sed 's/+/%2B/g; s/\//%2F/g; s/=/%3D/g')"; } | seed_file "$dir" "$n.query"
                fi
            done ;;
        feed_parse)
            cp -n "$ROOT"/tests/fixtures/feed/*.xml "$ROOT"/tests/fixtures/feed-1d/*.xml "$dir"/ ;;
        feed_archive)
            tar -C "$ROOT/tests/fixtures" -czf "$dir/feed.tar.gz" feed
            tar -C "$ROOT/tests/fixtures" -czf "$dir/feed-1d.tar.gz" feed-1d ;;
    esac
}

# The failing inputs libFuzzer left for a target (not its slow-unit reports).
failures() {
    find "$FUZZ/artifacts/$1" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l
}

# stat NAME LOG: a -print_final_stats value.
stat() { grep -o "stat::$1: *[0-9]*" "$2" | tail -1 | grep -o '[0-9]*$' || echo 0; }

mkdir -p "$FUZZ/logs"
cd "$FUZZ"
echo "fuzz: building ${selected[*]} (cargo fuzz build -s none, release, debug assertions)"
# The binaries are copied before they run, so that a rebuild during a long run changes nothing.
BIN="$FUZZ/target/fuzz-run-$$"
mkdir -p "$BIN"
trap 'rm -rf "$BIN"' EXIT
for t in "${selected[@]}"; do
    nice -n 19 cargo fuzz build -s none "$t"
    cp "$FUZZ/target/$(rustc -vV | sed -n 's/^host: //p')/release/$t" "$BIN/$t"
done

failed=0
rows=()
for t in "${selected[@]}"; do
    seed "$t"
    mkdir -p "$FUZZ/artifacts/$t"
    before="$(failures "$t")"
    log="$FUZZ/logs/$t.log"
    extra=()
    if [ -n "${FUZZ_MAX_TIME:-}" ]; then
        extra+=("-max_total_time=$FUZZ_MAX_TIME")
    fi
    d="$(dict "$t")"
    if [ -n "$d" ]; then
        extra+=("$d")
    fi
    echo "fuzz: $t, $runs runs (log: fuzz/logs/$t.log)"
    start="$(date +%s)"
    status=0
    # What `cargo fuzz run -s none $t` runs, without rebuilding.
    nice -n 19 "$BIN/$t" -artifact_prefix="$FUZZ/artifacts/$t/" \
        -runs="$runs" -max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 "${extra[@]}" "$FUZZ/corpus/$t" >"$log" 2>&1 || status=$?
    wall=$(( $(date +%s) - start ))
    done_runs="$(stat number_of_executed_units "$log")"
    per_sec="$(stat average_exec_per_sec "$log")"
    corpus="$(find "$FUZZ/corpus/$t" -type f | wc -l)"
    crashes=$(( $(failures "$t") - before ))
    if [ "$status" -ne 0 ] || [ "$crashes" -gt 0 ]; then
        failed=1
        echo "fuzz: $t FAILED (status $status); the input is in fuzz/artifacts/$t/:" >&2
        grep -E "panicked|SUMMARY|Test unit written" "$log" | head -5 >&2 || true
    fi
    rows+=("$(printf '%-20s %12s %10s %8ss %8s %8s' "$t" "$done_runs" "$per_sec" "$wall" "$corpus" "$crashes")")
done

echo
printf '%-20s %12s %10s %9s %8s %8s\n' target runs exec/s wall corpus crashes
printf '%s\n' "${rows[@]}"
exit "$failed"
