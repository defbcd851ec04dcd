#!/usr/bin/env bash
# Kept for existing callers: the Python and Node clients are checked together against one hub
# by ../check.sh. Usage: check.sh [PYTHON]
set -euo pipefail
exec bash "$(cd "$(dirname "$0")" && pwd)/../check.sh" "$@"
