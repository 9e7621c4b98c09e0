#!/bin/sh
# Before removal (not on upgrade): stop the service so it drains and commits.
set -e
case "$1" in
    remove|0)
        if [ -d /run/systemd/system ]; then
            systemctl stop sophos-connect.service >/dev/null 2>&1 || true
            systemctl disable sophos-connect.service >/dev/null 2>&1 || true
        fi
        ;;
esac
exit 0
