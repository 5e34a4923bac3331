#!/usr/bin/env bash
# Run the official MCP conformance suite against `pincer mcp --http`, end to end:
# build the pincer binary and the reference plugins, install the conformance plugin
# (signed with a throwaway key, served without a tool prefix) in a temporary home, start
# the HTTP server on a free loopback port, run tests/conformance/run.sh against it, and
# stop the server.
#
#   tests/conformance/pincer.sh [SUITE-OPTION...]     (options go to run.sh)
#
# Exit status: run.sh's (0 when every scenario passed or failed as expected).

set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"

# The binary as the tests build it (the workspace's features, dev-dependencies
# included), so that after scripts/test nothing is built again.
cargo test --workspace --locked --no-run --quiet 2>/dev/null ||
    cargo test --workspace --locked --no-run
cargo build --release --locked --quiet --target wasm32-wasip2 \
    --manifest-path plugins/Cargo.toml --target-dir target/guests -p pincer-plugin-conformance
pincer=$repo/target/debug/pincer
wasm=$repo/target/guests/wasm32-wasip2/release/conformance.wasm

work=$(mktemp -d)
server=
cleanup() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

home=$work/home
p() { "$pincer" --home "$home" "$@"; }
p keygen --unencrypted --out "$work/key" >/dev/null
p trust add "$work/key.pub" --name conformance >/dev/null
p pack manifests/conformance.toml --component "$wasm" --key "$work/key.key" --out "$work/bundle" >/dev/null
p install "$work/bundle" --yes --alias "" >/dev/null
# Started directly, not through `p`: `$!` must be the server itself, so that the exit
# trap stops it (a function run in the background is a subshell whose child lives on).
"$pincer" --home "$home" mcp --http 127.0.0.1:0 2>"$work/server.log" &
server=$!
for _ in $(seq 1 300); do
    [ -s "$home/run/mcp-http.json" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 2; }
    sleep 0.1
done
[ -s "$home/run/mcp-http.json" ] || { echo "pincer mcp --http did not start" >&2; exit 2; }
read -r url token < <(node -e '
    const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    console.log(s.url, s.token);' "$home/run/mcp-http.json")
echo "pincer mcp --http serving the conformance plugin at $url"
PINCER_CONFORMANCE_TOKEN=$token tests/conformance/run.sh "$url" "$@"
