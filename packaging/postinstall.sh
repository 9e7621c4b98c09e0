#!/bin/sh
# After install and upgrade: the system user, group-readable config, unit reload.
set -e
if command -v systemd-sysusers >/dev/null 2>&1; then
    systemd-sysusers /usr/lib/sysusers.d/sophos-connect.conf
fi
if ! getent passwd sophos-connect >/dev/null; then
    adduser --system --group --home /var/lib/sophos-connect --no-create-home sophos-connect >/dev/null 2>&1 ||
        useradd --system --user-group --home-dir /var/lib/sophos-connect --shell /usr/sbin/nologin sophos-connect
fi
# The service reads its config as the sophos-connect user; the credentials'
# env file stays root's (systemd reads it before dropping privileges).
chgrp sophos-connect /etc/sophos-connect/sophos-connect.yaml
chmod 0640 /etc/sophos-connect/sophos-connect.yaml
chmod 0600 /etc/sophos-connect/env
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
    # An upgrade restarts a running collector on the new binary (it drains
    # and commits on SIGTERM); a stopped one stays stopped.
    systemctl try-restart sophos-connect.service >/dev/null 2>&1 || true
fi
exit 0
