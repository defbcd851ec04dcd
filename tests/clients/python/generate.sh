#!/usr/bin/env bash
# Generates the Python client from proto/ with grpcio-tools (the integrator's first step).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
out="$here/generated"
rm -rf "$out" && mkdir -p "$out"
python3 -m grpc_tools.protoc -I "$root/proto" --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  "$root"/proto/vawg/v1/*.proto
touch "$out/vawg/__init__.py" "$out/vawg/v1/__init__.py"
