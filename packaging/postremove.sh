#!/bin/sh
# After removal. On purge (deb) the checkpoints and buffers go too; dpkg
# removes the config files itself. rpm keeps /var/lib/sophos-connect.
set -e
if [ "$1" = "purge" ]; then
    rm -rf /var/lib/sophos-connect
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
