#!/bin/sh
# Entrypoint of the callcenter image (docker/Dockerfile). Runs as the unprivileged user the
# image names (uid 10001), never as root; every path it writes to is a volume (compose.yaml).
#
#   entrypoint.sh [serve [ARGS]]   check the writable paths, `callcenter db upgrade`, then
#                                  `exec callcenter serve ARGS` (the default command)
#   entrypoint.sh asterisk-config  render the Asterisk configuration into the shared volume
#   entrypoint.sh backup-schedule  scheduled backups with retention (settings [backup])
#   entrypoint.sh ANYTHING ...     `exec callcenter ANYTHING ...` (users add, backup restore …)
#
# A path that is missing or not writable stops the start with exit status 78 and a message
# naming the setting and the path, instead of a PermissionError deep in the product.
# tests/test_docker.py runs this script as an unprivileged user in a temporary directory, with
# a stand-in `callcenter` (CALLCENTER_BIN), so its logic is tested without Docker.
set -eu

CALLCENTER=${CALLCENTER_BIN:-callcenter}
# Files the product creates (backups, rendered configuration with secrets) are not for others.
umask 027

fail() {
    echo "entrypoint: $*" >&2
    exit 78  # EX_CONFIG
}

if [ "$(id -u)" = 0 ]; then
    fail "refusing to run as root: the image runs as its user callcenter (uid 10001); do not" \
         "start it with --user 0 / user: root"
fi

# need_dir SETTING PATH: PATH exists (or can be made) and this user may write into it.
need_dir() {
    mkdir -p "$2" 2>/dev/null \
        || fail "$1: cannot create $2 as uid $(id -u); mount a volume there"
    if [ ! -w "$2" ] || [ ! -x "$2" ]; then
        fail "$1: $2 is not writable by uid $(id -u) (owner uid:gid" \
             "$(stat -c %u:%g "$2")); mount a volume there that this user owns"
    fi
}

# The directory of a SQLite database URL (sqlite:///relative.db, sqlite:////absolute.db),
# empty for any other database.
sqlite_dir() {
    case "$1" in
        sqlite*:///*) path=${1#*:///} ;;
        *) return 0 ;;
    esac
    dirname "$path"
}

# The same defaults as callcenter/settings.py (a test keeps them in step).
DATABASE_URL=${CALLCENTER_DATABASE_URL:-sqlite+aiosqlite:///var/callcenter.db}
RECORDING_DIR=${CALLCENTER_RECORDING_DIR:-var/recordings}
BACKUP_DIR=${CALLCENTER_BACKUP_DIR:-var/backups}
ASTERISK_CONFIG_DIR=${CALLCENTER_ASTERISK_CONFIG_DIR:-/var/lib/callcenter/asterisk-config}

check_database_dir() {
    dir=$(sqlite_dir "$DATABASE_URL")
    if [ -n "$dir" ]; then
        need_dir "database.url (\$CALLCENTER_DATABASE_URL)" "$dir"
    fi
}

command=${1:-serve}
if [ $# -gt 0 ]; then shift; fi

case "$command" in
    serve)
        check_database_dir
        need_dir "recording.dir (\$CALLCENTER_RECORDING_DIR)" "$RECORDING_DIR"
        # Migrate first: serve refuses a database that is not at the newest schema.
        "$CALLCENTER" db upgrade
        exec "$CALLCENTER" serve "$@"
        ;;
    asterisk-config)
        need_dir "\$CALLCENTER_ASTERISK_CONFIG_DIR" "$ASTERISK_CONFIG_DIR"
        exec "$CALLCENTER" asterisk config --out "$ASTERISK_CONFIG_DIR" "$@"
        ;;
    backup-schedule)
        check_database_dir
        need_dir "backup.dir (\$CALLCENTER_BACKUP_DIR)" "$BACKUP_DIR"
        [ -r "$RECORDING_DIR" ] \
            || fail "recording.dir (\$CALLCENTER_RECORDING_DIR): $RECORDING_DIR is not readable"
        exec "$CALLCENTER" backup schedule --dir "$BACKUP_DIR" "$@"
        ;;
    *)
        exec "$CALLCENTER" "$command" "$@"
        ;;
esac
