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
VAWG_LISTEN="127.0.0.1:$port" VAWG_DATABASE_URL="sqlite://$work/hub.db" \
  "$root/target/debug/vawg-hub" serve >"$work/hub.log" 2>&1 &
hub=$!
trap 'kill $hub 2>/dev/null || true; wait $hub 2>/dev/null || true; rm -rf "$work"' EXIT
"$py" "$here/client.py" "127.0.0.1:$port"
