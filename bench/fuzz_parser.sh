#!/usr/bin/env bash
# A long property-test campaign against the load engine's response parser
# (crates/load/src/parse/properties.rs): arbitrary bytes and
# response-like fragments cut at arbitrary points must never panic nor make
# the parser hold more than its 64 KiB head limit; generated valid response
# streams (Content-Length, chunked with extensions and trailers,
# close-delimited, 1xx, 204/304, HEAD) must be counted exactly at every cut.
#
# The same tests run in CI with proptest's default 256 cases each; this runs
# CASES of each, in release mode unless PROFILE=dev, and prints the figures.
# Its default is the long run: a million cases in all, about a minute on
# two cores once built.
#
#   bash bench/fuzz_parser.sh              # 250,000 cases of each of 4 properties
#   CASES=1000000 bash bench/fuzz_parser.sh
#   PROFILE=dev CASES=20000 bash bench/fuzz_parser.sh   # no release build
#
# A failure prints the shrunk input and leaves it in
# crates/load/proptest-regressions/, which later runs try first.
set -euo pipefail

cases=${CASES:-250000}
profile=${PROFILE:-release}
cd "$(dirname "$0")/.."

args=(-p framewut-load --lib)
if [ "$profile" = release ]; then
    # The workspace's release profile builds the binary with fat LTO; a
    # test build gains nothing from it but a long link.
    args+=(--release --config profile.release.lto=false --config profile.release.codegen-units=16)
fi

properties=crates/load/src/parse/properties.rs
tests=$(grep -c '^    fn ' <(sed -n '/^proptest! {/,/^}$/p' "$properties"))
if [ "$tests" -eq 0 ]; then
    echo "fuzz_parser: no proptest! properties found in $properties" >&2
    exit 1
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "fuzz_parser: $cases cases of each of $tests properties, $profile profile"
cargo test "${args[@]}" --no-run 2>&1 | tail -n 1
start=$(date +%s.%N)
status=0
PROPTEST_CASES=$cases cargo test "${args[@]}" parse::properties 2>&1 | tee "$log" \
    | grep -E '^test |test result|panicked|minimal failing input' || true
grep -q 'test result: ok' "$log" || status=1
end=$(date +%s.%N)
secs=$(awk "BEGIN { printf \"%.1f\", $end - $start }")
if [ "$status" = 0 ]; then
    echo "fuzz_parser: $((cases * tests)) cases passed in ${secs}s"
else
    echo "fuzz_parser: FAILED after ${secs}s (see the minimal failing input above)"
fi
exit "$status"
