#!/usr/bin/env bash
# Contract stability: proto/ must not break the last released contract, kept here as a buf
# module (.ci/contracts/vawg-v1, a snapshot of proto/ at release; a snapshot because a fresh CI
# clone may not have the release tag). Then a control: a deliberately breaking change (a field
# removed) must fail the same check, so a green run means the check can see a break.
#
# Usage: check.sh BUF — the buf binary.
set -euo pipefail
buf="$(realpath "$(command -v "$1")")"
root="$(cd "$(dirname "$0")/../.." && pwd)"
released="$root/.ci/contracts/vawg-v1"

echo "buf breaking: proto/ against the released vawg.v1 contract"
(cd "$root/proto" && "$buf" breaking --against "$released")

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$root/proto/." "$work/"
# Remove VawgRecord.revision: a wire-breaking change.
sed -i '/^  uint32 revision = 2;$/d' "$work/vawg/v1/record.proto"
if grep -q '^  uint32 revision = 2;$' "$work/vawg/v1/record.proto"; then
  echo "control: could not make the breaking change" >&2
  exit 1
fi
if out="$(cd "$work" && "$buf" breaking --against "$released" 2>&1)"; then
  echo "control: removing VawgRecord.revision was NOT reported as breaking" >&2
  exit 1
fi
grep -q 'revision' <<<"$out" || { echo "control: unexpected buf output: $out" >&2; exit 1; }
echo "control: a removed field is reported as breaking:"
sed 's/^/  /' <<<"$out"
