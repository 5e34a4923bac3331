#!/usr/bin/env bash
# Run the official MCP conformance suite (@modelcontextprotocol/conformance, server
# mode) against a running `pincer mcp --http` that serves the conformance plugin.
#
#   tests/conformance/run.sh URL [TOKEN] [SUITE-OPTION...]
#
#   URL           the server's MCP endpoint, such as http://127.0.0.1:8931/mcp
#   TOKEN         its bearer token; when left out, $PINCER_CONFORMANCE_TOKEN, which
#                 keeps the token out of the process list
#   SUITE-OPTION  passed on to `conformance server`: --requirements REVISION checks one
#                 protocol revision's requirements (2025-11-25 or 2026-07-28, the
#                 default), --scenario NAME runs one scenario, --suite all adds the
#                 pending ones, --verbose prints checks as JSON
#
# The suite and a Node 22 binary (the suite needs 22+) are installed from the npm
# registry into target/conformance, pinned by tests/conformance/package-lock.json, once;
# later runs need no network but the server's. The suite cannot send a bearer token, so
# it talks to auth-proxy.mjs, which adds the header and forwards everything else as is.
#
# A scenario fails when any of its checks is a FAILURE or a WARNING (the suite's own
# rule). Scenarios listed in expected-failures-REVISION.yml may fail; one listed there
# that passes is stale and must be removed. Results go to target/conformance/results/TIME.
#
# Exit status: 0 when every scenario passed or failed as expected, 1 on an unexpected
# failure or a stale entry, 2 when the suite could not be run.

set -euo pipefail

usage() {
    sed -n '5,13s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

die() {
    echo "run.sh: $*" >&2
    exit 2
}

[ $# -ge 1 ] || usage
case "$1" in -h | --help) usage ;; esac
url=$1
shift
token=${PINCER_CONFORMANCE_TOKEN:-}
if [ $# -ge 1 ] && [ "${1#--}" = "$1" ]; then
    token=$1
    shift
fi
case "$url" in
http://* | https://*) ;;
*) die "the URL must start with http:// or https://, such as http://127.0.0.1:8931/mcp (got \`$url\`)" ;;
esac
[ -n "$token" ] || die "no bearer token: give it after the URL or set PINCER_CONFORMANCE_TOKEN"

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=$root/target/conformance
# The revision whose requirements the suite checks, and its expected failures.
requirements=2026-07-28
args=("$@")
for i in "${!args[@]}"; do
    if [ "${args[$i]}" = --requirements ] && [ $((i + 1)) -lt ${#args[@]} ]; then
        requirements=${args[$((i + 1))]}
    fi
done
if [[ " ${args[*]} " != *" --requirements "* ]]; then
    set -- --requirements "$requirements" "$@"
fi
baseline=$here/expected-failures-$requirements.yml
[ -f "$baseline" ] || die "no baseline for revision $requirements: tests/conformance/expected-failures-$requirements.yml"

# Install (or reinstall after the lockfile changed) the suite and Node 22.
mkdir -p "$cache"
if ! cmp -s "$here/package-lock.json" "$cache/.installed-lock"; then
    command -v npm >/dev/null || die "npm is needed once, to install the suite into $cache"
    echo "Installing the conformance suite and Node 22 into $cache ..."
    cp "$here/package.json" "$here/package-lock.json" "$cache/"
    (cd "$cache" && npm ci --ignore-scripts --no-audit --no-fund --engine-strict=false \
        --loglevel=error) || die "npm ci failed in $cache (is the npm registry reachable?)"
    cp "$here/package-lock.json" "$cache/.installed-lock"
fi
suite=$cache/node_modules/@modelcontextprotocol/conformance/dist/index.js
node=${PINCER_CONFORMANCE_NODE:-$cache/node_modules/.bin/node}
[ -x "$node" ] || die "no Node binary at $node: the lockfile has Node 22 for Linux x64 and arm64 only; set PINCER_CONFORMANCE_NODE to a Node 22+ binary"
node_version=$("$node" --version)
case "$node_version" in
v2[2-9].* | v[3-9][0-9].*) ;;
*) die "$node is Node $node_version; the suite needs 22 or later" ;;
esac

results=$cache/results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$results"

# Start the proxy and wait for its address.
PINCER_CONFORMANCE_TARGET=$url PINCER_CONFORMANCE_TOKEN=$token \
    "$node" "$here/auth-proxy.mjs" >"$results/proxy.out" 2>"$results/proxy.err" &
proxy_pid=$!
trap 'kill "$proxy_pid" 2>/dev/null || true' EXIT
proxy_url=
for _ in $(seq 100); do
    proxy_url=$(sed -n 's/^listening //p' "$results/proxy.out")
    [ -n "$proxy_url" ] && break
    kill -0 "$proxy_pid" 2>/dev/null || die "the auth proxy did not start: $(cat "$results/proxy.err")"
    sleep 0.1
done
[ -n "$proxy_url" ] || die "the auth proxy did not start within 10 s"

# One request first, so that a wrong URL or token is one clear error rather than a
# failure in every scenario.
preflight=$("$node" -e '
    fetch(process.argv[1], { headers: { accept: "text/event-stream" } })
        .then((r) => console.log(r.status), (e) => console.log(`error ${e.message}`))
        .finally(() => process.exit(0));' "$proxy_url")
case "$preflight" in
502) die "$(sed -n 1p "$results/proxy.err") (is \`pincer mcp --http\` running at $url?)" ;;
401) die "$url refused the token (401): use the one \`pincer mcp --http\` printed, also in \$PINCER_HOME/run/mcp-http.json" ;;
403) die "$url refused the request (403): give the URL with the address the server listens on, as it printed it" ;;
error*) die "the auth proxy failed: ${preflight#error }" ;;
esac

echo "Conformance suite $(sed -n 's/^ *"version": "\(.*\)",$/\1/p' "$cache/node_modules/@modelcontextprotocol/conformance/package.json" | head -n 1) on Node $node_version"
echo "Server $url (through $proxy_url, which adds the bearer token), requirements of $requirements"
echo "Results in $results"
set +e
"$node" "$suite" server --url "$proxy_url" --expected-failures "$baseline" \
    --output-dir "$results" "$@" 2>&1 | tee "$results/suite.log"
suite_status=${PIPESTATUS[0]}
set -e

# Count the scenarios from their checks.json files (server-NAME-TIMESTAMP/).
listed() {
    grep -Eq "^[[:space:]]*-[[:space:]]*$1[[:space:]]*(#.*)?$" "$baseline"
}
passed=0 failed=0 expected=0 stale=0
unexpected_names=() stale_names=()
for checks in "$results"/server-*/checks.json; do
    [ -e "$checks" ] || continue
    dir=$(basename "$(dirname "$checks")")
    name=$(sed -E 's/^server-(.*)-[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9-]+Z$/\1/' <<<"$dir")
    if grep -Eq '"status": "(FAILURE|WARNING)"' "$checks"; then
        if listed "$name"; then
            expected=$((expected + 1))
        else
            failed=$((failed + 1))
            unexpected_names+=("$name")
        fi
    elif listed "$name"; then
        stale=$((stale + 1))
        stale_names+=("$name")
    else
        passed=$((passed + 1))
    fi
done

echo
echo "=== Pincer conformance ==="
echo "passed: $passed  failed: $failed  expected failures: $expected  stale baseline entries: $stale"
for name in "${unexpected_names[@]}"; do
    echo "  failed unexpectedly: $name (see $results/server-$name-*/checks.json)"
done
for name in "${stale_names[@]}"; do
    echo "  passes but is listed: $name (remove it from tests/conformance/expected-failures-$requirements.yml)"
done
if [ $((passed + failed + expected + stale)) -eq 0 ]; then
    echo "no scenario ran: see $results/suite.log" >&2
    exit 2
fi
if [ "$failed" -gt 0 ] || [ "$stale" -gt 0 ]; then
    exit 1
fi
if [ "$suite_status" -ne 0 ]; then
    echo "the suite exited with status $suite_status although every scenario it saved was counted: see $results/suite.log" >&2
    exit 1
fi
exit 0
