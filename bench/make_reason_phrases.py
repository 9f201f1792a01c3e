#!/usr/bin/env python3
"""Write tests/bounces/reason_phrases.json from Sisimai 4.25's own phrase lists (issue 9).

A developer's tool, not part of the tests: it needs Perl and Debian's libsisimai-perl
(`apt-get install -y libsisimai-perl`, Sisimai 4.25.15, BSD-2-Clause), whose modules it reads
from /usr/share/perl5/Sisimai and which it runs as the oracle.

1. Perl evaluates every `state $x = ...` list and table of Sisimai/Reason/*.pm and
   Sisimai/Rhost/*.pm and hands them over as JSON.
2. Each phrase, and each branch of each pattern (expanded with the stdlib's regex parser,
   `[^ ]+` written as "kijitora"), becomes a reply line: "550 5.0.0 <kijitora@example.jp>... "
   plus the phrase (451 4.0.0 for the temporary reasons), so that the TEXT decides; each
   per-host table entry becomes the reply that host writes, with its code and status. Sisimai
   recognises a missing mailbox only at RCPT, so user-unknown phrases are given with command
   RCPT (and one in five also without).
3. Sisimai parses a minimal RFC 3464 report around each line (Status, Remote-MTA = the host,
   Diagnostic-Code = the line); its reason is the row's `reason`. The report carries no SMTP
   command, so where a row has one, Sisimai::Reason->get is asked again with it set.
   Lines that Sisimai answers onhold (a branch not rendered faithfully) are left out, and so
   are lines whose answer depends on Perl's hash order (two per-host entries match them) or
   is no reason of Sisimai's (a misspelt table entry).

    python bench/make_reason_phrases.py [--sisimai /usr/share/perl5/Sisimai]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser as P  # type: ignore[attr-defined]

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "tests" / "bounces" / "reason_phrases.json"
WORD = "kijitora"
SEEDS = tuple(range(1, 17))
SOFT = {"expired", "networkerror", "systemerror", "toomanyconn", "systemfull", "onhold"}

DUMP_PL = r"""
use strict; use warnings; use JSON::PP;
my $dir = shift; my $out = {};
for my $f (glob("$dir/Reason/*.pm"), glob("$dir/Rhost/*.pm")) {
  open my $fh, '<', $f or die; local $/; my $src = <$fh>; close $fh;
  my ($mod) = $f =~ m{(\w+/\w+)\.pm\z};
  while ($src =~ m{state\s+\$(\w+)\s*=\s*}g) {
    my $name = $1; my $rest = substr($src, pos($src)); my ($val, $ok);
    while ($rest =~ m{;\s*$}mg) {
      (my $code = substr($rest, 0, pos($rest))) =~ s/;\s*$//;
      my $v = eval $code;
      if (!$@ && defined $v) { $val = $v; $ok = 1; last }
    }
    next unless $ok;
    my $plain = sub { ref $_[0] eq 'Regexp' ? {regex => "$_[0]"} : $_[0] };
    if (ref $val eq 'Regexp') { $val = $plain->($val) }
    elsif (ref $val eq 'HASH') {
      for my $k (keys %$val) {
        if (ref $val->{$k} eq 'ARRAY') { $_ = $plain->($_) for @{$val->{$k}} } else { $val->{$k} = $plain->($val->{$k}) }
      }
    }
    $out->{$mod}{$name} = $val;
  }
}
print JSON::PP->new->canonical->encode($out);
"""

ORACLE_PL = r"""
use strict; use warnings; use JSON::PP; use Sisimai; use Sisimai::Reason;
local $/; my $rows = decode_json(<STDIN>); my $i = 0;
for my $r (@$rows) {
  $i++;
  my $st = $r->{status} // ($r->{code} && $r->{code} =~ /^4/ ? '4.0.0' : '5.0.0');
  my $host = $r->{host} // 'mx.example.jp';
  my $diag = $r->{diagnostic};
  my $mail = <<"M";
From MAILER-DAEMON Tue Dec  1 05:00:00 2026
Return-Path: <>
From: Mail Delivery Subsystem <MAILER-DAEMON\@relay.example.org>
To: sender\@example.org
Subject: Delivery Status Notification (Failure)
Date: Tue, 1 Dec 2026 05:00:00 +0000
Message-ID: <dsn$i\@relay.example.org>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"

--BOUNDARY
Content-Type: text/plain; charset=us-ascii

Your message could not be delivered.

--BOUNDARY
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example.org

Final-Recipient: rfc822; kijitora\@example.jp
Action: failed
Status: $st
Remote-MTA: dns; $host
Diagnostic-Code: smtp; $diag

--BOUNDARY
Content-Type: message/rfc822

From: sender\@example.org
To: kijitora\@example.jp
Subject: hello
Message-ID: <orig$i\@example.org>

hello

--BOUNDARY--
M
  my $v = eval { Sisimai->make(\$mail) };
  my $d = ($v && @$v) ? $v->[0] : undef;
  if ($d && $r->{command} && !$d->smtpcommand) {
    $d->smtpcommand($r->{command}); $d->reason(''); $d->reason(Sisimai::Reason->get($d));
  }
  $r->{reason} = $d ? $d->reason : undef;
  $r->{status} = $st;
}
binmode STDOUT, ':utf8';
print JSON::PP->new->canonical->encode($rows);
"""


def perl(script: str, *args: str, stdin: str = "", seed: int = 0) -> str:
    env = dict(os.environ, PERL_HASH_SEED=str(seed), PERL_PERTURB_KEYS="0")
    with tempfile.NamedTemporaryFile("w", suffix=".pl") as f:
        f.write(script)
        f.flush()
        done = subprocess.run(["perl", f.name, *args], input=stdin, capture_output=True, text=True, check=True, env=env)
    return done.stdout


# -- pattern branches -> sample texts -------------------------------------------------------


def expand(nodes: list, cap: int = 400) -> list[str]:
    outs = [""]
    for op, av in nodes:
        alts = expand_one(op, av, cap)
        outs = [a + b for a in outs for b in alts][:cap]
    return outs


def _category(av: object) -> str:
    return "1" if "DIGIT" in str(av) else " " if "SPACE" in str(av) else "a"


def expand_one(op: object, av: object, cap: int) -> list[str]:
    if op is C.LITERAL:
        return [chr(av)]  # type: ignore[arg-type]
    if op in (C.NOT_LITERAL, C.ANY):
        return ["x"]
    if op in (C.AT, C.GROUPREF, C.ASSERT, C.ASSERT_NOT):
        return [""]
    if op is C.IN:
        if av and av[0][0] is C.NEGATE:  # type: ignore[index]
            return ["x"]
        for o, v in av:  # type: ignore[attr-defined]
            if o is C.LITERAL:
                return [chr(v)]
            if o is C.RANGE:
                return [chr(v[0])]
            if o is C.CATEGORY:
                return [_category(v)]
        return ["x"]
    if op is C.CATEGORY:
        return [_category(av)]
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)):
        lo, hi, sub = av  # type: ignore[misc]
        sub = list(sub)
        if len(sub) == 1 and (sub[0][0] is C.NOT_LITERAL or (sub[0][0] is C.IN and sub[0][1][0][0] is C.NEGATE)):
            return [WORD]  # [^ ]+: a word
        n = max(lo, 1)
        base = expand(sub, cap)
        if len(sub) == 1 and sub[0][0] in (C.IN, C.CATEGORY) and n == 1 and hi > 1:
            return [b * 3 for b in base]  # a run of digits or letters: a few
        return [b * n for b in base]
    if op is C.SUBPATTERN:
        return expand(list(av[3]), cap)  # type: ignore[index]
    if op is getattr(C, "ATOMIC_GROUP", None):
        return expand(list(av), cap)  # type: ignore[call-overload]
    if op is C.BRANCH:
        out: list[str] = []
        for branch in av[1]:  # type: ignore[index]
            out += expand(list(branch), cap)
        return out[:cap]
    raise ValueError(op)


def phrases_of_regex(perl_regex: str) -> list[str]:
    m = re.match(r"\(\?\^(\w*):(.*)\)\Z", perl_regex, re.S)
    flags, body = (m.group(1), m.group(2)) if m else ("", perl_regex)
    tree = P.parse(body.replace(r"\z", r"\Z"), re.X if "x" in flags else 0)
    return [t for t in expand(list(tree)) if t.strip()]


def mta_comment(source: list[str], phrase: str) -> str | None:
    """The MTA that Sisimai's comment names for a phrase (above it or after it), if short."""
    key = phrase.strip()[:25].lower()
    for i, text in enumerate(source):
        if not key or key not in text.lower() or not text.lstrip().startswith(("'", '"', "|", "[")):
            continue
        m = re.search(r"#\s*([^#]+)$", text)
        found = m.group(1).strip() if m else None
        if not found and i and source[i - 1].strip().startswith("#"):
            found = source[i - 1].strip().lstrip("# ").strip()
        if found and len(found) <= 40 and not re.search(r"[:;<>@'\d]|\bthe\b", found):
            return found
        return None
    return None


def reason_rows(tables: dict, sisimai: Path) -> list[dict]:
    rows: list[dict] = []
    for mod, table in sorted(tables.items()):
        if not mod.startswith("Reason/") or mod == "Reason/Vacation":
            continue
        reason = mod.split("/")[1].lower()
        source = (sisimai / f"{mod}.pm").read_text(encoding="utf-8").split("__END__")[0].split("\n")
        phrases = list(table.get("index", []))
        if "regex" in table:
            phrases += phrases_of_regex(table["regex"]["regex"])
        for phrase in phrases:
            text = phrase.strip()
            if phrase != phrase.rstrip() or text.endswith((":", "-", "\u2013", ",")):
                text += " example.net"  # the phrase continues with a name or an address
            elif re.search(r"\b(for|to|by|from|of|using|with|see)$", text):
                text += " example.net"
            if phrase != phrase.lstrip():
                text = "Mail " + text
            code, status = (451, "4.0.0") if reason in SOFT else (550, "5.0.0")
            mta = mta_comment(source, phrase)
            row = {
                "diagnostic": f"{code} {status} <kijitora@example.jp>... {text}",
                "status": status,
                "code": code,
                "command": None,
                "host": None,
                "family": reason,
                "source": f"Sisimai 4.25 {mod}.pm" + (f" ({mta})" if mta else ""),
            }
            if reason == "userunknown":
                rows.append(dict(row, command="RCPT"))
                if len(rows) % 5 == 0:
                    rows.append(row)
            else:
                rows.append(row)
    return rows


def _comments(path: Path) -> dict[str, str]:
    out = {}
    for text in path.read_text(encoding="utf-8").split("\n"):
        m = re.match(r"\s*'(\w+)'\s*=>\s*(?:'\w+'|undef),\s*#\s*(.*)", text)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def rhost_rows(t: dict, sisimai: Path) -> list[dict]:
    rows: list[dict] = []

    def add(
        diag: str, status: str | None, code: int | None, family: str, mod: str, host: str, command: str | None = None
    ) -> None:
        rows.append(
            {"diagnostic": diag, "status": status, "code": code, "command": command, "host": host,
             "family": family, "source": f"Sisimai 4.25 Rhost/{mod}.pm"}
        )  # fmt: skip

    for reason, entries in t["Rhost/GoogleApps"]["messagesof"].items():
        for code, st, text in entries:
            add(
                f"{code} {st} {text[0].upper() + text[1:]}",
                st,
                int(code),
                reason,
                "GoogleApps",
                "gmail-smtp-in.l.google.com",
            )
    for reason, entries in t["Rhost/ExchangeOnline"]["messagesof"].items():
        for st, lo, hi, text in entries:
            st = st + str(lo) if lo != hi else st
            code = 550 if st.startswith("5") else 451
            add(f"{code} {st} {text}", st, code, reason, "ExchangeOnline", "example-jp.mail.protection.outlook.com")
    for reason, entries in t["Rhost/Mimecast"]["messagesof"].items():
        for code, text in entries:
            add(f"{code} {text}", None, int(code), reason, "Mimecast", "eu-smtp-inbound-1.mimecast.com")
    for text, reason in t["Rhost/TencentQQ"]["messagesof"].items():
        add(f"550 {text[0].upper() + text[1:]}", None, 550, reason, "TencentQQ", "mx3.qq.com")
    add("550 : User unknown", None, 550, "filtered", "KDDI", "lsean.ezweb.ne.jp")
    add("550 <kijitora@ezweb.ne.jp>: User unknown", None, 550, "userunknown", "KDDI", "lsean.ezweb.ne.jp")

    def aup(mod: str, host: str) -> None:  # "... AUP#CODE": the code in the reply decides
        said = _comments(sisimai / f"Rhost/{mod}.pm")
        for key, reason in t[f"Rhost/{mod}"]["errorcodes"].items():
            add(f"554 5.7.1 {said.get(key, 'Rejected').rstrip('.')}. AUP#{key}", "5.7.1", 554, reason, mod, host)

    aup("Cox", "mx.east.cox.net")
    for reason, texts in t["Rhost/Cox"]["messagesof"].items():
        for text in texts:
            add(f"550 {text}", None, 550, reason, "Cox", "mx.east.cox.net")
    said = _comments(sisimai / "Rhost/GoDaddy.pm")
    for key, reason in t["Rhost/GoDaddy"]["errorcodes"].items():
        text = said.get(key) or f"554 Rejected. {key}"
        text = text if key in text else f"{text} {key}"
        m = re.match(r"(\d{3}) ", text)
        add(text, None, int(m.group(1)) if m else None, reason, "GoDaddy", "smtp.secureserver.net")
    for reason, texts in t["Rhost/GoDaddy"]["messagesof"].items():
        for text in texts:
            text = text if re.match(r"\d{3} ", text) else "554 " + text
            add(text, None, int(text[:3]), reason, "GoDaddy", "smtp.secureserver.net")
    source = (sisimai / "Rhost/FrancePTT.pm").read_text(encoding="utf-8")
    for key, reason in t["Rhost/FrancePTT"]["errorcodes"].items():
        example = None  # the reply that Sisimai's comment quotes for the code
        m = re.search(r"((?:\s*#[^\n]*\n)+)\s*'" + re.escape(key) + r"'\s*=>", source)
        for text in m.group(1).strip().split("\n") if m else ():
            text = text.strip().lstrip("#").strip()
            if re.search(r"(LPN|OFR|OUK)\w*_?" + re.escape(key), text):
                example = text
                break
        example = example or f"550 5.0.0 Message refused. OFR004_{key}"
        m = re.match(r"(\d{3}) (\d\.\d\.\d+)? ?", example)
        status = m.group(2) if m and m.group(2) else None
        add(example, status, int(m.group(1)) if m else None, reason or "undefined", "FrancePTT", "smtp-in.orange.fr")
    said = _comments(sisimai / "Rhost/IUA.pm")
    for key, reason in t["Rhost/IUA"]["errorcodes"].items():
        add(
            f"550 {said.get(key, 'Rejected').rstrip('.')}. https://mail.i.ua/err/{key}/",
            None,
            550,
            reason,
            "IUA",
            "mx.email.ua",
        )
    aup("Spectrum", "dkim.charter.net")
    for lo, _hi, reason in t["Rhost/Spectrum"]["coderanges"]:
        add(f"554 5.7.1 Message rejected. AUP#{lo}", "5.7.1", 554, reason, "Spectrum", "dkim.charter.net")
    for diag, status, reason, command in [  # NTTDOCOMO's table is inside its get(): by hand
        ("552 too much mail data", None, "mailboxfull", "DATA"),
        ("552 too many recipients", None, "toomanyconn", "RCPT"),
        ("503 bad sequence of commands", None, "syntaxerror", "RCPT"),
        ("504 command parameter not implemented", None, "syntaxerror", "MAIL"),
        ("550 Unknown user kijitora@docomo.ne.jp", "5.1.1", "userunknown", "RCPT"),
        ("550 Unknown user kijitora@docomo.ne.jp", "5.2.0", "filtered", "RCPT"),
        ("550 Unknown user kijitora@docomo.ne.jp", "5.0.0", "userunknown", "RCPT"),
        ("550 Unknown user kijitora@docomo.ne.jp", "5.0.0", "rejected", "DATA"),
    ]:
        add(diag, status, int(diag[:3]), reason, "NTTDOCOMO", "mfsmax.docomo.ne.jp", command)
    return rows


ABOUT = (
    "Reason wordings from Sisimai 4.25.15's phrase lists (Sisimai/Reason/*.pm) and per-receiving-host tables "
    "(Sisimai/Rhost/*.pm), one realistic diagnostic line or more per phrase or pattern branch, for issue 9; "
    "written by bench/make_reason_phrases.py. `reason` is Sisimai 4.25.15's own answer for the line: each row was "
    "wrapped in a minimal RFC 3464 report (Status = `status`, Remote-MTA = `host` or mx.example.jp, "
    "Diagnostic-Code = `diagnostic`) and parsed with Sisimai->make (Debian's libsisimai-perl); where `command` is "
    "set, Sisimai::Reason->get was asked again with that SMTP command, since the report carries none. `family` is "
    "the Sisimai module the phrase came from; `source` names the module and the MTA that Sisimai's comment gives. "
    "Lines whose Sisimai answer was onhold (a pattern branch not rendered faithfully), or changed with Perl's hash "
    "seed (two entries of a per-host table match them, and Sisimai takes whichever comes first), were left out. The phrases "
    "are Sisimai's: Copyright 2014-2022 azumakuniyuki <akxlix@cpan.org>, distributed under the BSD 2-Clause "
    "License (redistribution and use in source and binary forms, with or without modification, are permitted "
    "provided that its conditions are met; https://opensource.org/licenses/BSD-2-Clause)."
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sisimai", type=Path, default=Path("/usr/share/perl5/Sisimai"))
    args = parser.parse_args()
    tables = json.loads(perl(DUMP_PL, str(args.sisimai)))
    rows = reason_rows(tables, args.sisimai) + rhost_rows(tables, args.sisimai)
    # Sisimai walks its per-host tables in Perl's hash order, which differs from run to run:
    # a line that two entries match gets either answer. Asked under several hash seeds, such
    # lines answer differently and are left out with the onhold ones.
    known = {m.stem.lower() for m in (args.sisimai / "Reason").glob("*.pm")} | {"undefined"}
    runs = [json.loads(perl(ORACLE_PL, stdin=json.dumps(rows), seed=seed)) for seed in SEEDS]
    kept, ambiguous = [], 0
    for answers in zip(*runs, strict=True):
        reasons = {r["reason"] for r in answers}
        ambiguous += len(reasons) > 1
        r = answers[0]
        # ("blokced": Sisimai's Spectrum table misspells blocked for AUP#1220-1250)
        if len(reasons) == 1 and r["reason"] in known and r["reason"] != "onhold":
            kept.append(
                {k: r[k] for k in ("diagnostic", "status", "code", "command", "host", "reason", "family", "source")}
            )
    TABLE.write_text(json.dumps({"about": ABOUT, "rows": kept}, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(
        f"{len(kept)} rows ({len(rows) - len(kept)} left out, {ambiguous} of them ambiguous) -> {TABLE.relative_to(ROOT)}"
    )
    for reason, n in sorted(Counter(r["reason"] for r in kept).items()):
        print(f"  {reason:16} {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
