#!/usr/bin/env bash
# Generates the Python client from proto/, starts `vawg-hub serve` on a free port and runs the
# client against it. Usage: check.sh [PYTHON]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
py="${1:-python3}"
PATH="$(dirname "$py"):$PATH" bash "$here/generate.sh"
cargo build --quiet --locked -p vawg-server --bin vawg-hub
work="$(mktemp -d)"
port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
hubbin="$root/target/debug/vawg-hub"
db="sqlite://$work/hub.db"
# A development PKI, one registered agency, its certificate and a token: the hub only listens
# with mutual TLS and bearer tokens.
"$hubbin" pki init --dir "$work/pki" >/dev/null
"$hubbin" agency add --database "$db" --id police-e23000001 --name "Python client check" \
  --kind POLICE --areas E23000001 >/dev/null
"$hubbin" pki issue --agency police-e23000001 --kind POLICE --dir "$work/pki" >/dev/null
token="$("$hubbin" token --agency police-e23000001 --scopes reference:read --key "$work/pki/jwt-signing.key")"
VAWG_LISTEN="127.0.0.1:$port" VAWG_DATABASE_URL="$db" \
  VAWG_TLS__CA_CERT="$work/pki/ca.pem" VAWG_TLS__SERVER_CERT="$work/pki/server.pem" \
  VAWG_TLS__SERVER_KEY="$work/pki/server.key" \
  VAWG_JWT__ISSUER="urn:vawg:hub:dev" VAWG_JWT__AUDIENCE="urn:vawg:hub" \
  VAWG_JWT__JWKS_FILE="$work/pki/jwks.json" VAWG_AUDIT__SIGNING_KEY="$work/pki/audit-signing.key" \
  "$hubbin" serve >"$work/hub.log" 2>&1 &
hub=$!
trap 'kill $hub 2>/dev/null || true; wait $hub 2>/dev/null || true; rm -rf "$work"' EXIT
"$py" "$here/client.py" "127.0.0.1:$port" --ca "$work/pki/ca.pem" \
  --cert "$work/pki/agencies/police-e23000001.pem" --key "$work/pki/agencies/police-e23000001.key" \
  --token "$token" || { cat "$work/hub.log" >&2; exit 1; }
