#!/usr/bin/env bash
# Install Debian's postfix for the benchmark (bench/relay.py) and the tests that run a private
# Postfix (bench/postfix.py), without leaving the machine's own Postfix running.
#
# Idempotent, and quick (no apt-get at all) when postfix is already installed. Needs root.
# Source it or run it from .ci/run:   bash bench/install-postfix.sh
#
# Lore:
# - The package's postinst asks debconf what kind of mail system this is; with
#   DEBIAN_FRONTEND=noninteractive and nothing preseeded it picks "Internet Site" and writes
#   /etc/postfix/main.cf listening on all interfaces. We preseed "No configuration" instead:
#   the system instance then has no main.cf and cannot start at all, and our private
#   instances bring their own configuration anyway (postfix -c DIR).
# - Then postinst runs "invoke-rc.d postfix start". Without systemd, invoke-rc.d falls back
#   to /etc/init.d/postfix and really starts a system Postfix on port 25, unless
#   /usr/sbin/policy-rc.d exits 101 ("action forbidden"), as Docker-style images have it.
#   We put such a policy in place for the duration of the install if there is none.
# - The package creates the postfix user and the postdrop group, which a private instance
#   needs (mail_owner, setgid_group), and ships smtp-sink and smtp-source in /usr/sbin.
set -euo pipefail

if [ -x /usr/sbin/postfix ] && [ -x /usr/sbin/smtp-sink ] && getent passwd postfix >/dev/null
then
    :  # already installed
else
    policy=/usr/sbin/policy-rc.d
    added_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# added by returnpath bench/install-postfix.sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        added_policy=1
    fi
    # Remove our policy again however the install ends.
    trap 'if [ -n "$added_policy" ]; then rm -f "$policy"; fi' EXIT
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    # Update the package lists only when apt does not know postfix yet (a fresh image).
    # (Not "apt-cache policy | grep -q": grep exits at the first match, apt-cache gets
    # SIGPIPE, and with pipefail the pipeline fails.)
    candidate=$(apt-cache policy postfix 2>/dev/null | sed -n 's/^ *Candidate: //p')
    if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
        apt-get update -qq
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postfix \
        >/dev/null
    if [ -n "$added_policy" ]; then rm -f "$policy"; added_policy=; fi
fi

# Whatever happened before us (an earlier install that did start it, an image that runs it):
# make sure the system instance is not running. "master -t" exits 0 when no master holds the
# lock of the default queue directory. Only the system instance is touched: private ones
# have their own queue directories and lock files.
if [ -f /etc/postfix/main.cf ] && ! /usr/lib/postfix/sbin/master -t 2>/dev/null; then
    postfix stop >/dev/null 2>&1 || postfix abort >/dev/null 2>&1 || true
fi
