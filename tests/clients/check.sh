#!/usr/bin/env bash
# Runs the generated clients against one freshly started hub: the Python client (grpcio-tools)
# and the Node.js client (@grpc/grpc-js + @grpc/proto-loader). Each does a real mutual-TLS +
# JWT StreamRecords and a QueryMetric.
#
# Usage: check.sh [PYTHON] — PYTHON has grpcio-tools installed (see python/requirements.txt).
# Node packages are installed with `npm ci` from node/package-lock.json into $CLIENTS_NODE_CACHE
# (default .ci/.cache/node-client), never into the work tree.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py="${1:-python3}"
cache="${CLIENTS_NODE_CACHE:-$root/.ci/.cache/node-client}"

# Python: generate the client from proto/ (the integrator's first step).
PATH="$(dirname "$py"):$PATH" bash "$here/python/generate.sh"

# Node: install the pinned packages from the committed lock file, outside the work tree.
mkdir -p "$cache"
if ! cmp -s "$here/node/package-lock.json" "$cache/package-lock.json" || [ ! -d "$cache/node_modules" ]; then
  cp "$here/node/package.json" "$here/node/package-lock.json" "$cache/"
  (cd "$cache" && npm ci --no-audit --no-fund --silent)
fi

cargo build --quiet --locked -p vawg-hub --bin vawg-hub
hubbin="${CARGO_TARGET_DIR:-$root/target}/debug/vawg-hub"
work="$(mktemp -d)"
port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
db="sqlite://$work/hub.db"
agency=police-e23000001

# A development PKI, one registered agency, its certificate and a token: the hub only listens
# with mutual TLS and bearer tokens.
"$hubbin" pki init --dir "$work/pki" >/dev/null
"$hubbin" agency add --database "$db" --id "$agency" --name "Client check (synthetic)" \
  --kind POLICE --areas E23000001 >/dev/null
"$hubbin" pki issue --agency "$agency" --kind POLICE --dir "$work/pki" >/dev/null
token="$("$hubbin" token --agency "$agency" --scopes records:write,metrics:read,reference:read \
  --key "$work/pki/jwt-signing.key")"

# The hub's configuration from VAWG_* environment variables (no config file needed).
VAWG_LISTEN="127.0.0.1:$port" VAWG_DATABASE_URL="$db" \
  VAWG_TLS__CA_CERT="$work/pki/ca.pem" VAWG_TLS__SERVER_CERT="$work/pki/server.pem" \
  VAWG_TLS__SERVER_KEY="$work/pki/server.key" \
  VAWG_JWT__ISSUER="urn:vawg:hub:dev" VAWG_JWT__AUDIENCE="urn:vawg:hub" \
  VAWG_JWT__JWKS_FILE="$work/pki/jwks.json" VAWG_AUDIT__SIGNING_KEY="$work/pki/audit-signing.key" \
  VAWG_PSEUDONYM__DEV_KEY_FILE="$work/pseudonym-dev.key" \
  "$hubbin" serve >"$work/hub.log" 2>&1 &
hub=$!
trap 'kill $hub 2>/dev/null || true; wait $hub 2>/dev/null || true; rm -rf "$work"' EXIT

creds=(--ca "$work/pki/ca.pem" --cert "$work/pki/agencies/$agency.pem"
  --key "$work/pki/agencies/$agency.key" --token "$token")
fail() { echo "client check failed: $1; the hub's log:" >&2; cat "$work/hub.log" >&2; exit 1; }

# client.py waits for the channel to be ready (up to 15 s), so it runs first.
"$py" "$here/python/client.py" "127.0.0.1:$port" "${creds[@]}" || fail "python client.py"
"$py" "$here/python/stream_and_query.py" "127.0.0.1:$port" "${creds[@]}" --prefix py \
  || fail "python stream_and_query.py"
NODE_PATH="$cache/node_modules" node "$here/node/stream_and_query.js" "127.0.0.1:$port" \
  "${creds[@]}" --prefix node || fail "node stream_and_query.js"
echo "clients: python and node passed against one hub"
