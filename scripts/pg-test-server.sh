#!/usr/bin/env bash
# Provide a PostgreSQL server for the test suite.
#
#   scripts/pg-test-server.sh start   print an SQLAlchemy URL on stdout
#   scripts/pg-test-server.sh stop    stop the server `start` launched, if any
#
# `start` reuses a server already answering on AVANCE_PG_HOST:AVANCE_PG_PORT
# (default 127.0.0.1:5432) when the role `postgres` can log in there without a
# password and may create databases. Otherwise, or when AVANCE_PG_FORCE_OWN=1,
# it starts a private throw-away cluster (trust auth, fsync off) on a free local
# port, 55432 or the next free one. PostgreSQL refuses to run as root, so as
# root the cluster runs as the system user `avancepg` (created when missing);
# the server binaries are installed with apt-get when missing and root.
#
# Only the URL goes to stdout; every log line goes to stderr.
#
# Environment:
#   AVANCE_PG_HOST        host of the server to reuse     (default 127.0.0.1)
#   AVANCE_PG_PORT        port of the server to reuse     (default 5432)
#   AVANCE_PG_FORCE_OWN   1 = always start a private server
#   AVANCE_PG_OWN_PORT    first port tried for the private server (default 55432)
#   AVANCE_PG_USER        system user running the private server when root
#                         (default avancepg)
#   AVANCE_PG_STATE_FILE  where `start` records the private server for `stop`
#                         (default ${TMPDIR:-/tmp}/avance-pg-test.state)
set -euo pipefail

# Keep the real stdout on fd 3 for the URL; everything else goes to stderr.
exec 3>&1 1>&2

PROG=pg-test-server
PG_HOST=${AVANCE_PG_HOST:-127.0.0.1}
PG_PORT=${AVANCE_PG_PORT:-5432}
OWN_PORT=${AVANCE_PG_OWN_PORT:-55432}
RUN_USER=${AVANCE_PG_USER:-avancepg}
STATE_FILE=${AVANCE_PG_STATE_FILE:-${TMPDIR:-/tmp}/avance-pg-test.state}

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

have() { command -v "$1" >/dev/null 2>&1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# tcp_open HOST PORT: true when something accepts a TCP connection.
tcp_open() {
    timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" >/dev/null 2>&1
}

# server_answers HOST PORT: true when a PostgreSQL server accepts connections.
server_answers() {
    if have pg_isready; then
        pg_isready -q -h "$1" -p "$2" -t 3 >/dev/null 2>&1
    else
        tcp_open "$1" "$2"
    fi
}

# role_usable HOST PORT: true when role postgres logs in without a password
# and may create databases (the tests create and drop scratch databases).
role_usable() {
    local out
    if ! have psql; then
        log "psql not found; a TCP connection to $1:$2 works, assuming role postgres can log in"
        tcp_open "$1" "$2"
        return
    fi
    if ! out=$(PGCONNECT_TIMEOUT=5 psql -X -w -h "$1" -p "$2" -U postgres -d postgres \
            -c 'select 1' </dev/null 2>&1); then
        log "role postgres cannot connect to $1:$2: $(printf '%s' "$out" | tail -n 3)"
        return 1
    fi
    out=$(PGCONNECT_TIMEOUT=5 psql -X -w -h "$1" -p "$2" -U postgres -d postgres -At \
            -c 'select rolsuper or rolcreatedb from pg_roles where rolname = current_user' \
            </dev/null 2>&1) || true
    if [ "$out" != t ]; then
        log "role postgres on $1:$2 may not create databases"
        return 1
    fi
}

# as_pg CMD...: run CMD as the user owning the private cluster, from /.
# fd 3 (the caller's stdout) is closed: the server started by pg_ctl would
# otherwise inherit it and keep `url=$(pg-test-server.sh start)` waiting forever.
as_pg() {
    if is_root; then
        if have runuser; then
            (cd / && runuser -u "$RUN_USER" -- "$@") 3>&-
        else
            (cd / && su -s /bin/sh -c '"$0" "$@"' -- "$RUN_USER" "$@") 3>&-
        fi
    else
        (cd / && "$@") 3>&-
    fi
}

find_pg_bindir() {
    local initdb_path dir
    if initdb_path=$(command -v initdb 2>/dev/null) && have pg_ctl; then
        dir=$(dirname "$(readlink -f "$initdb_path")")
        if [ -x "$dir/pg_ctl" ]; then
            printf '%s\n' "$dir"
        else
            dirname "$(command -v pg_ctl)"
        fi
        return 0
    fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            printf '%s\n' "$dir"
            return 0
        fi
    done
    return 1
}

install_postgresql() {
    is_root || die "initdb/pg_ctl not found; install the PostgreSQL server (Debian: apt-get install postgresql) or put its bin directory on PATH"
    have apt-get || die "initdb/pg_ctl not found and apt-get is unavailable; install the PostgreSQL server"
    log "initdb/pg_ctl not found; installing Debian's postgresql package"
    apt-get update -qq </dev/null >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql </dev/null >&2 \
        || die "apt-get install postgresql failed"
}

ensure_run_user() {
    is_root || return 0
    id -u "$RUN_USER" >/dev/null 2>&1 && return 0
    log "creating system user $RUN_USER to run PostgreSQL (it refuses to run as root)"
    if have useradd; then
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$RUN_USER" || die "useradd $RUN_USER failed"
    elif have adduser; then
        adduser --system --group --no-create-home --home /nonexistent \
            --shell /usr/sbin/nologin "$RUN_USER" >&2 || die "adduser $RUN_USER failed"
    else
        die "cannot create user $RUN_USER: neither useradd nor adduser found"
    fi
}

# make_datadir: print a fresh empty directory the server user can own and use.
# The socket lives there too, so its path must stay short (sun_path limit).
make_datadir() {
    local base dir
    for base in "${TMPDIR:-/tmp}" /tmp; do
        dir=$(mktemp -d "$base/avance-pg.XXXXXX" 2>/dev/null) || continue
        if [ "${#dir}" -gt 80 ]; then
            rmdir "$dir"; continue
        fi
        if is_root; then
            chown "$RUN_USER:" "$dir"
            chmod 700 "$dir"
            if ! as_pg test -w "$dir" 2>/dev/null; then
                rmdir "$dir"; continue
            fi
        fi
        printf '%s\n' "$dir"
        return 0
    done
    return 1
}

write_state() {
    # $1 datadir, $2 port, $3 bindir, $4 user (empty when not root)
    local tmp
    tmp=$(mktemp "$STATE_FILE.XXXXXX")
    printf 'DATADIR=%s\nPORT=%s\nBINDIR=%s\nRUN_AS=%s\n' "$1" "$2" "$3" "$4" >"$tmp"
    mv -f "$tmp" "$STATE_FILE"
}

# read_state KEY: value of KEY in the state file (parsed, never sourced).
read_state() {
    sed -n "s/^$1=//p" "$STATE_FILE" | head -n 1
}

# ---------------------------------------------------------------- stop
cmd_stop() {
    if [ ! -e "$STATE_FILE" ]; then
        log "no private server recorded in $STATE_FILE; nothing to stop"
        return 0
    fi
    local datadir port bindir run_as rc=0
    datadir=$(read_state DATADIR)
    port=$(read_state PORT)
    bindir=$(read_state BINDIR)
    run_as=$(read_state RUN_AS)
    [ -n "$run_as" ] && RUN_USER=$run_as

    case "$datadir" in
        */avance-pg.*) ;;
        *) die "state file $STATE_FILE names an unexpected data directory '$datadir'; not touching it" ;;
    esac

    if [ -d "$datadir" ] && [ -f "$datadir/PG_VERSION" ]; then
        if [ -f "$datadir/postmaster.pid" ]; then
            log "stopping private server on 127.0.0.1:$port (data dir $datadir)"
            if ! as_pg "$bindir/pg_ctl" -D "$datadir" -m fast -w -t 60 stop >&2; then
                log "fast shutdown failed; trying immediate shutdown"
                as_pg "$bindir/pg_ctl" -D "$datadir" -m immediate -w -t 30 stop >&2 || rc=1
            fi
        fi
    fi
    if [ "$rc" -ne 0 ]; then
        log "error: could not stop the server in $datadir; leaving it and $STATE_FILE in place"
        return 1
    fi
    [ -d "$datadir" ] && rm -rf -- "$datadir"
    rm -f -- "$STATE_FILE"
    log "private server stopped and $datadir removed"
}

# ---------------------------------------------------------------- start
CLEANUP_DIR=
cleanup_failed_start() {
    if [ -n "$CLEANUP_DIR" ] && [ -d "$CLEANUP_DIR" ]; then
        if [ -f "$CLEANUP_DIR/postmaster.pid" ]; then
            as_pg "$BINDIR/pg_ctl" -D "$CLEANUP_DIR" -m immediate -w stop >/dev/null 2>&1 || true
        fi
        rm -rf -- "$CLEANUP_DIR"
    fi
}

start_private() {
    local datadir port last_port tries=0 attempt_log

    if ! BINDIR=$(find_pg_bindir); then
        install_postgresql
        BINDIR=$(find_pg_bindir) || die "initdb/pg_ctl still not found after installing postgresql"
    fi
    log "using PostgreSQL binaries in $BINDIR ($("$BINDIR/pg_ctl" --version))"

    ensure_run_user

    datadir=$(make_datadir) || die "cannot create a data directory usable by ${RUN_USER} under ${TMPDIR:-/tmp} or /tmp"
    CLEANUP_DIR=$datadir
    trap cleanup_failed_start EXIT

    log "initialising private cluster in $datadir$(is_root && printf ' as user %s' "$RUN_USER")"
    if ! as_pg "$BINDIR/initdb" -D "$datadir" -A trust -U postgres --no-sync \
            -E UTF8 --locale=C >"$datadir.initdb.log" 2>&1; then
        cat "$datadir.initdb.log" >&2
        rm -f "$datadir.initdb.log"
        die "initdb failed"
    fi
    rm -f "$datadir.initdb.log"

    port=$OWN_PORT
    last_port=$((OWN_PORT + 100))
    while :; do
        [ "$port" -le "$last_port" ] || die "no free local port in $OWN_PORT..$last_port"
        if tcp_open 127.0.0.1 "$port"; then
            port=$((port + 1)); continue
        fi
        log "starting private server on 127.0.0.1:$port"
        if as_pg "$BINDIR/pg_ctl" -D "$datadir" -l "$datadir/log" -w -t 60 \
                -o "-p $port -c listen_addresses=127.0.0.1 -k '$datadir' -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
                start >&2; then
            break
        fi
        attempt_log=$(tail -n 20 "$datadir/log" 2>/dev/null || true)
        tries=$((tries + 1))
        if printf '%s' "$attempt_log" | grep -q 'could not bind\|already in use' && [ "$tries" -lt 5 ]; then
            log "port $port was taken meanwhile; trying the next one"
            port=$((port + 1)); continue
        fi
        printf '%s\n' "$attempt_log" >&2
        die "the private PostgreSQL server failed to start (log above, from $datadir/log)"
    done

    write_state "$datadir" "$port" "$BINDIR" "$(is_root && printf '%s' "$RUN_USER")"
    CLEANUP_DIR=
    trap - EXIT

    if have psql && ! role_usable 127.0.0.1 "$port"; then
        cmd_stop || true
        die "the private server started but role postgres cannot use it"
    fi

    log "private server ready on 127.0.0.1:$port (stop it with: $0 stop)"
    printf 'postgresql+psycopg://postgres@127.0.0.1:%s/postgres\n' "$port" >&3
}

cmd_start() {
    if [ -e "$STATE_FILE" ]; then
        log "found a leftover private server record in $STATE_FILE; cleaning it up first"
        cmd_stop || die "could not clean up the leftover private server"
    fi

    if [ "${AVANCE_PG_FORCE_OWN:-0}" = 1 ]; then
        log "AVANCE_PG_FORCE_OWN=1: not looking for an existing server"
    elif server_answers "$PG_HOST" "$PG_PORT"; then
        if role_usable "$PG_HOST" "$PG_PORT"; then
            log "using the existing server on $PG_HOST:$PG_PORT"
            printf 'postgresql+psycopg://postgres@%s:%s/postgres\n' "$PG_HOST" "$PG_PORT" >&3
            return 0
        fi
        log "the server on $PG_HOST:$PG_PORT is not usable; starting a private one instead"
    else
        log "no server answers on $PG_HOST:$PG_PORT; starting a private one"
    fi
    start_private
}

case "${1:-}" in
    start) cmd_start ;;
    stop)  cmd_stop ;;
    *)     printf 'usage: %s start|stop\n' "$0" >&2; exit 2 ;;
esac
