#!/usr/bin/env bash
# python3 is the oracle for the seed's JSON bytes (Python's json.dumps):
# sinks/encoding and cmd/sophos-connect compare with it. Idempotent.
set -euo pipefail
if ! command -v python3 >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 >/dev/null
fi
echo "python3: $(python3 --version)"
