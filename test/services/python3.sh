#!/usr/bin/env bash
# python3 is the oracle for the seed's JSON bytes (Python's json.dumps):
# sinks/encoding and cmd/sophos-connect compare with it. Idempotent.
set -euo pipefail
if ! command -v python3 >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 >/dev/null
fi
echo "python3: $(python3 --version)"
# pyarrow (PyPI): the independent reader of the s3 sink's Parquet objects.
if ! python3 -c "import pyarrow.parquet" >/dev/null 2>&1; then
  python3 -m pip install -q pyarrow 2>/dev/null || python3 -m pip install -q --break-system-packages pyarrow
fi
echo "pyarrow: $(python3 -c 'import pyarrow; print(pyarrow.__version__)')"
