#!/bin/sh
# Entrypoint of the Asterisk image (docker/asterisk/Dockerfile). Starts as root only to hand
# the files over, then Asterisk itself runs as the user asterisk (-U/-G):
#
# 1. installs the configuration `callcenter asterisk config` rendered into the shared volume
#    (RENDERED, read-only here) into Asterisk's etc directory, owned by asterisk, mode 0640:
#    the rendered manager.conf and pjsip_secrets.conf are 0600 files of the callcenter user;
# 2. lets both containers use the recordings volume: MixMonitor writes as asterisk, the
#    product (gid 10001) reads, and restores recordings, through the group;
# 3. runs Asterisk in the foreground.
#
# tests/test_docker.py runs it outside Docker with ASTERISK_BIN, ASTERISK_ETC and
# ASTERISK_MONITOR_DIR pointing into a temporary directory.
set -eu

RENDERED=${RENDERED:-/etc/callcenter-asterisk}
ASTERISK_ETC=${ASTERISK_ETC:-/etc/asterisk}
MONITOR_DIR=${ASTERISK_MONITOR_DIR:-/var/spool/asterisk/monitor}
ASTERISK_BIN=${ASTERISK_BIN:-asterisk}
ASTERISK_USER=${ASTERISK_USER:-asterisk}
ASTERISK_GROUP=${ASTERISK_GROUP:-asterisk}
PRODUCT_GID=${PRODUCT_GID:-10001}

fail() {
    echo "asterisk-entrypoint: $*" >&2
    exit 78  # EX_CONFIG
}

for name in extensions.conf queues.conf manager.conf pjsip.conf; do
    [ -f "$RENDERED/$name" ] || fail "$RENDERED/$name is missing: the asterisk-config" \
        "service renders it (callcenter asterisk config --out DIR); did it run?"
done

mkdir -p "$ASTERISK_ETC"
for file in "$RENDERED"/*.conf; do
    install -o "$ASTERISK_USER" -g "$ASTERISK_GROUP" -m 0640 "$file" "$ASTERISK_ETC/"
done

mkdir -p "$MONITOR_DIR"
chown "$ASTERISK_USER:$PRODUCT_GID" "$MONITOR_DIR"
chmod 2775 "$MONITOR_DIR"

# -f foreground, -U/-G drop to the asterisk user, -n no colours.
exec "$ASTERISK_BIN" -f -n -U "$ASTERISK_USER" -G "$ASTERISK_GROUP" "$@"
