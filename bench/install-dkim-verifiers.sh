#!/usr/bin/env bash
# Install the DKIM verifiers that tests/dkim checks our signatures with, besides dkimpy:
#   - Perl's Mail::DKIM (Debian's libmail-dkim-perl, with Net::DNS to ask our loopback DNS server);
#   - OpenDKIM (Debian's opendkim: the milter binary, whose test mode "-t FILE" verifies a message
#     with libopendkim and asks DNS through libunbound, which we point at the loopback server).
# Mail::DKIM 1.20230212 (Debian 12) cannot verify Ed25519 signatures (it knows rsa-sha1 and
# rsa-sha256 only; Ed25519 came in later releases), so OpenDKIM 2.11, which does (RFC 8463), is
# the second verifier of those.
#
# Idempotent, and quick (no apt-get at all) when everything is installed. Needs root.
# Run it from .ci/run:   bash bench/install-dkim-verifiers.sh
#
# Lore:
# - opendkim's postinst creates the opendkim user and runs "invoke-rc.d opendkim start"; without
#   systemd that falls back to /etc/init.d and really starts a milter, unless /usr/sbin/policy-rc.d
#   exits 101. As bench/install-postgres.sh does, we put such a policy in place for the install if
#   there is none. Nothing of ours uses a running milter: the tests run "opendkim -t" with their
#   own configuration file (-x).
# - opendkim-tools (recommended) is not needed: opendkim-testmsg cannot be pointed at a DNS
#   server on another port, "opendkim -t" can (ResolverConfiguration names an unbound file).
set -euo pipefail

have_verifiers() {
    perl -MMail::DKIM::Verifier -MNet::DNS::Resolver -e 1 2>/dev/null && [ -x /usr/sbin/opendkim ]
}

if ! have_verifiers; then
    policy=/usr/sbin/policy-rc.d
    added_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# added by returnpath bench/install-dkim-verifiers.sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        added_policy=1
    fi
    trap 'if [ -n "$added_policy" ]; then rm -f "$policy"; fi' EXIT
    # Update the package lists only when apt does not know the packages yet (a fresh image).
    candidate=$(apt-cache policy libmail-dkim-perl 2>/dev/null | sed -n 's/^ *Candidate: //p')
    if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
        apt-get update -qq
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        libmail-dkim-perl libnet-dns-perl opendkim >/dev/null
fi

if ! have_verifiers; then
    echo "install-dkim-verifiers.sh: Mail::DKIM, Net::DNS or opendkim is still missing" >&2
    exit 1
fi
