#!/usr/bin/env bash
# CI: the operators' tools the deployment tests run for real —
# Debian's logrotate (TestLogrotate*) and systemd-analyze (TestSystemdUnitVerifies,
# from the systemd package). Idempotent; installs only what is missing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
export PATH="$PATH:/usr/sbin:/sbin"
need=()
command -v logrotate >/dev/null 2>&1 || need+=(logrotate)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v gzip >/dev/null 2>&1 || need+=(gzip)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
echo "logrotate: $(logrotate --version 2>&1 | head -1)"
echo "systemd-analyze: $(systemd-analyze --version | head -1)"
# (With CI set in the environment, the tests fail rather than skip without them.)
