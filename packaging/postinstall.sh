#!/bin/sh
# After install and upgrade: the system user, group-readable config, unit reload.
set -e
if command -v systemd-sysusers >/dev/null 2>&1; then
    systemd-sysusers /usr/lib/sysusers.d/sophos-connect.conf
elif ! getent passwd sophos-connect >/dev/null; then
    adduser --system --group --home /var/lib/sophos-connect --no-create-home sophos-connect >/dev/null 2>&1 ||
        useradd --system --user-group --home-dir /var/lib/sophos-connect --shell /usr/sbin/nologin sophos-connect
fi
for f in /etc/sophos-connect/sophos-connect.yaml /etc/sophos-connect/sophos-connect.env; do
    [ -e "$f" ] && chgrp sophos-connect "$f" && chmod 0640 "$f"
done
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
