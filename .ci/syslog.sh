#!/usr/bin/env bash
# Receivers for the syslog sink's tests (idempotent):
# - rsyslog with its OpenSSL TLS driver and RELP input (rsyslog-openssl,
#   rsyslog-relp), installed normally;
# - syslog-ng (Debian syslog-ng-core), which Debian marks as conflicting
#   with rsyslog: its .deb is unpacked into $SYSLOG_NG_ROOT (default
#   /var/cache/sophos-connect-tests/syslog-ng) and the tests run its binary
#   from there with their own configuration and --module-path. Only its
#   library dependencies are installed through apt.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
ROOT="${SYSLOG_NG_ROOT:-/var/cache/sophos-connect-tests/syslog-ng}"
updated=""
apt_update() { [ -n "$updated" ] || { apt-get update -qq; updated=1; }; }

if ! dpkg -s rsyslog rsyslog-openssl rsyslog-relp >/dev/null 2>&1; then
  apt_update
  apt-get install -y -qq --no-install-recommends rsyslog rsyslog-openssl rsyslog-relp >/dev/null
fi

if [ ! -x "$ROOT/usr/sbin/syslog-ng" ]; then
  apt_update
  tmp="$(mktemp -d)"
  chmod 777 "$tmp" # apt-get download runs as _apt where it can
  (cd "$tmp" && apt-get download -qq syslog-ng-core)
  deb="$(ls "$tmp"/syslog-ng-core_*.deb)"
  # Its library dependencies: the first of each alternative, without
  # versions, minus the init-script helpers the tests do not use.
  deps="$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/ //g' | grep -v -e '^sysvinit-utils$' -e '^lsb-base$' -e '^$')"
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $deps >/dev/null
  mkdir -p "$ROOT"
  dpkg -x "$deb" "$ROOT"
  rm -rf "$tmp"
fi
echo "rsyslogd: $(command -v rsyslogd || echo /usr/sbin/rsyslogd); syslog-ng: $ROOT/usr/sbin/syslog-ng ($(LD_LIBRARY_PATH="$ROOT/usr/lib/syslog-ng" "$ROOT/usr/sbin/syslog-ng" --version | head -1))"
