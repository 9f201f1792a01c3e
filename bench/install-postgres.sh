#!/usr/bin/env bash
# Install Debian's PostgreSQL (server and client) for the tests and benchmarks that run a
# private cluster (bench/postgres.py), without leaving a system cluster running.
#
# Idempotent, and quick (no apt-get at all) when PostgreSQL is already installed. Needs root.
# Run it from .ci/run:   bash bench/install-postgres.sh
#
# Lore:
# - "postgresql" is Debian's metapackage for the supported major version (15 on Debian 12):
#   it pulls postgresql-15 (server, in /usr/lib/postgresql/15/bin) and postgresql-client-15
#   (psql). bench/postgres.py finds the newest /usr/lib/postgresql/*/bin by itself, so the
#   version is not named here. --no-install-recommends skips postgresql-contrib, sysstat & co.
# - The server package's postinst creates a system cluster "15/main" (pg_createcluster, in
#   /var/lib/postgresql/15/main, port 5432) and then runs "invoke-rc.d postgresql start".
#   Without systemd, invoke-rc.d falls back to /etc/init.d/postgresql and really starts it,
#   unless /usr/sbin/policy-rc.d exits 101 ("action forbidden"), as Docker-style images have
#   it. We put such a policy in place for the duration of the install if there is none, as
#   bench/install-postfix.sh does. The cluster is still created (a few MB, never started);
#   that is harmless: our private clusters have their own data directory, port and socket
#   directory, and never look at /etc/postgresql.
# - The package creates the "postgres" system user. initdb and postgres refuse to run as
#   root, so bench/postgres.py runs them as that user when the tests run as root (CI does).
set -euo pipefail

have_postgres() {
    # The newest major version's server and client binaries, and the user to run them as.
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$bin" ] && [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] && [ -x "$bin/postgres" ] \
        && [ -x "$bin/psql" ] && getent passwd postgres >/dev/null
}

if have_postgres; then
    :  # already installed
else
    policy=/usr/sbin/policy-rc.d
    added_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# added by returnpath bench/install-postgres.sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        added_policy=1
    fi
    # Remove our policy again however the install ends.
    trap 'if [ -n "$added_policy" ]; then rm -f "$policy"; fi' EXIT
    # Update the package lists only when apt does not know postgresql yet (a fresh image).
    # (Not "apt-cache policy | grep -q": grep exits at the first match, apt-cache gets
    # SIGPIPE, and with pipefail the pipeline fails.)
    candidate=$(apt-cache policy postgresql 2>/dev/null | sed -n 's/^ *Candidate: //p')
    if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
        apt-get update -qq
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql \
        >/dev/null
    if [ -n "$added_policy" ]; then rm -f "$policy"; added_policy=; fi

    # Should the install have started a system cluster anyway (an existing policy-rc.d that
    # allows it, or systemd honouring no policy), stop it: nothing of ours uses it. Only right
    # after our own install: a cluster that was running before this script is somebody's
    # database, and it does not disturb ours (other port, other socket directory).
    if command -v pg_lsclusters >/dev/null; then
        # Columns: Ver Cluster Port Status Owner Data-directory Log-file.
        pg_lsclusters --no-header 2>/dev/null | while read -r ver name _port status _rest; do
            if [ "$status" = online ] || [ "${status#online,}" != "$status" ]; then
                pg_ctlcluster "$ver" "$name" stop || true
            fi
        done
    fi
fi

if ! have_postgres; then
    echo "install-postgres.sh: PostgreSQL's binaries or the postgres user are still missing" >&2
    exit 1
fi
