"""The receiving providers' own codes (reasons.toml `[[host]]`): read as the provider documents
them when the remote MTA or the recipient's domain is that provider's, and everywhere for
codes no one else writes (issue 9, "per-receiving-host tables as data").

The same refusal gets the same reason whichever way it reaches us: a DSN's Remote-MTA, the
"host X said" of a non-standard bounce, or our own delivery's refusal (`refusal_fields`)."""

from __future__ import annotations

import pytest

from returnpath.bounces import recognise
from returnpath.bounces.reasons import classify, host_names
from returnpath.core.events import refusal_fields
from returnpath.core.model import Outcome, Step, Verdict

from .test_reason_families import report

# GMX and WEB.DE refuse a sending IP of poor reputation with a text that, from another server,
# could be any policy: only the host says what it means.
GMX = (
    "554-Transaction failed 554-Reject due to policy restrictions. 554 For explanation visit "
    "https://postmaster.gmx.net/en/case?c=hi&i=ip&v=192.0.2.1&r=1AbCdE"
)


@pytest.mark.parametrize(
    "hosts",
    [
        ("mx00.emig.gmx.net",),  # the remote MTA
        ("mx01.emig.gmx.net[212.227.17.5]:25",),  # as our delivery names the host it spoke to
        ("dns; mx-ha03.web.de",),  # a DSN's Remote-MTA, type and all
        ("", "gmx.de"),  # no remote MTA, but the recipient's domain
        ("MX00.EMIG.GMX.NET.",),  # case and a trailing dot
    ],
)
def test_a_providers_code_is_read_as_the_provider_documents_it(hosts: tuple[str, ...]) -> None:
    decided = classify("5.0.0", 554, GMX, "DATA", hosts=hosts)
    assert (decided.reason, decided.rule) == ("blocked", "host gmx blocked: 'reject due to policy restrictions'")


@pytest.mark.parametrize("hosts", [(), ("mx.example.org", "example.org"), ("[192.0.2.1]",), ("notgmx.net",)])
def test_the_same_words_from_another_host_are_not_that_providers_code(hosts: tuple[str, ...]) -> None:
    assert not classify("5.0.0", 554, GMX, "DATA", hosts=hosts).rule.startswith("host")


@pytest.mark.parametrize(
    ("text", "reason", "provider"),
    [
        # codes only their provider writes decide without the host
        ("451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited due to IP reputation.", "badreputation", "microsoft"),
        ("550 5.7.606 Access denied, banned sending IP [192.0.2.1]. To request removal from this list please visit https://sender.office.com/", "blocked", "microsoft"),
        ("550 5.7.512 Access denied, message must be RFC 5322 section 3.6.2 compliant", "notcompliantrfc", "microsoft"),
        ("550 5.7.133 RESOLVER.RST.SenderNotAuthenticatedForGroup; authentication required; Delivery restriction check failed as sender not authenticated for group", "rejected", "microsoft"),
        ("550 5.7.134 RESOLVER.RST.SenderNotAuthenticatedForMailbox; authentication required; Delivery restriction check failed as sender not authenticated for mailbox", "rejected", "microsoft"),
        ("421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1", "badreputation", "yahoo"),
        ("421 4.7.0 [TS03] All messages from 192.0.2.1 will be permanently deferred; Retrying will NOT succeed.", "blocked", "yahoo"),
        ("550 5.1.0 <s@example.com> sender rejected. Refer to Error Codes section at https://www.cox.com/residential/support/email-error-codes.html for more information. AUP#CXDNS", "requireptr", "cox"),
        ("550 5.1.0 <s@example.com> sender rejected. Please see https://www.spectrum.net/support/internet/understanding-email-error-codes for more information. AUP#In-1310", "toomanyconn", "spectrum"),
        ("554 resimta-ch2-18v.sys.comcast.net comcast 192.0.2.1 Comcast block for spam. Please see http://postmaster.comcast.net/smtp-error-codes.php#RL000001", "toomanyconn", "comcast"),
        ("421 resimta-po-33v.sys.comcast.net comcast 192.0.2.1 Comcast requires that all mail servers must have a PTR record with a valid Reverse DNS entry. Currently your mail server does not fit this criteria. For more information, please visit https://postmaster.comcast.net/smtp-error-codes.php#RL000001", "requireptr", "comcast"),
        ("554 IP=192.0.2.1 - A problem occurred. (Ask your postmaster for help or to contact tosa@rx.t-online.de to clarify.) (BL)", "blocked", "tonline"),
        ("550 RP:TRC 163 mx3,bMCowAB3X8Kx: recipients of this sender exceed the limit today", "toomanyconn", "netease"),
        ("553 DT:SUM envelope sender does not match the header From", "policyviolation", "netease"),
        ("550 5.2.0 Mail rejete. Mail rejected. ofr_506 [506]", "spamdetected", "orange"),
        ("550 5.0.0 Mail rejete. Mail rejected. OFR004_514 [514]", "mesgtoobig", "orange"),
        ("550 5.5.3 Mail from not owned by user. LPN105_421", "rejected", "orange"),
        ("554 5.7.1 Email sending limited due to suspicious account activity. AUP#CXTHRT", "securityerror", "cox"),
        ("550 Mailbox was not used for more than 3 months. https://mail.i.ua/err/3/", "suspend", "iua"),
        ("550 Letter sending limit is exceeded. https://mail.i.ua/err/5/", "toomanyconn", "iua"),
        # X.400 gateways' delivery reports: the X.411 diagnostic names, however the gateway
        # spells them (ISODE PP's text and its administrator block, a gateway's one line)
        ("Unable to transfer Unrecognised O/R name", "userunknown", "x400"),
        ("FAILURE reason Unable-To-Transfer (0); diagnostic Unrecognised-ORName (0);", "userunknown", "x400"),
        ("Diagnostic was Unable to transfer, Ambiguous O/R name", "userunknown", "x400"),
        ("Unable to transfer Maximum time expired", "expired", "x400"),
        ("FAILURE reason Unable-To-Transfer (0); diagnostic Maximum-Time-Expired (5);", "expired", "x400"),
        # OpenVMS condition codes quoted by VMS MAIL, PMDF and MX
        ("%MAIL-E-NOSUCHUSR, no such user JSMITH at node VAX1", "userunknown", "openvms"),
        ("%MAIL-E-OPENOUT, error opening DKA300:[USERS.KLEIN]MAIL.MAI; as output -RMS-E-EXT, ACP file extend failed -SYSTEM-F-EXDISKQUOTA, disk quota exceeded", "mailboxfull", "openvms"),
        ("%MAIL-E-OPENOUT, error opening MAIL.MAI as output -RMS-E-CRE, ACP file create failed -SYSTEM-W-EXDISKQUOTA, disk quota exceeded", "mailboxfull", "openvms"),
    ],
)  # fmt: skip
def test_codes_that_only_one_provider_writes(text: str, reason: str, provider: str) -> None:
    decided = classify(None, None, text)
    assert decided.reason == reason, decided.rule
    assert decided.rule.startswith(f"host {provider} ")


@pytest.mark.parametrize(
    ("host", "status", "text", "reason"),
    [
        # Sisimai 4.25 Rhost/*.pm (BSD-2-Clause): codes and texts read so only from these hosts
        ("dkim.charter.net", "5.7.1", "554 5.7.1 Your email was rejected because it's larger than the maximum size of 20MB. AUP#1530", "mesgtoobig"),
        ("dkim.charter.net", "5.7.1", "554 5.7.1 Your emails were deferred for attempting to send too many in a single session. AUP#1540", "toomanyconn"),
        ("dkim.charter.net", "5.7.1", "554 5.7.1 Message rejected. AUP#1160", "policyviolation"),
        ("smtp.secureserver.net", None, "554 This IP has been blocked for the day, for attempting to mail too many invalid recipients. IB113", "blocked"),
        ("smtp.secureserver.net", None, "550 This IP has sent too many messages this hour. IB504", "toomanyconn"),
        ("example-jp.mail.protection.outlook.com", "5.7.136", "550 5.7.136 Sender was not authenticated", "rejected"),
        ("example-jp.mail.protection.outlook.com", "5.7.700", "550 5.7.700 Access denied, tenant has exceeded threshold", "toomanyconn"),
        ("eu-smtp-inbound-1.mimecast.com", None, "451 Account inbounds disabled", "notaccept"),
        # Mimecast DOC-1369 writes its greylisting reply in the singular, Sisimai's table in the plural
        ("eu-smtp-inbound-2.mimecast.com", None, "451 Internal resource temporarily unavailable - https://community.mimecast.com/docs/DOC-1369#451", "blocked"),
        ("us-smtp-inbound-1.mimecast.com", None, "451 Internal resources are temporarily unavailable", "blocked"),
        # and its Blocked Senders policy refusal with and without the hyphen
        ("us-smtp-inbound-2.mimecast.com", None, "550 Rejected by header based Blocked Senders - block policy for Header From - https://community.mimecast.com/docs/DOC-1369#550", "rejected"),
        ("eu-smtp-inbound-1.mimecast.com", None, "550 Rejected by header-based manually Blocked Senders - block for manual block", "rejected"),
        ("us-smtp-inbound-2.mimecast.com", None, "550 Rejected by Inbound Sender Policy - https://community.mimecast.com/docs/DOC-1369#550", "rejected"),
        ("mx3.qq.com", None, "550 Connection denied", "toomanyconn"),
        ("mx.east.cox.net", None, "550 recipient rejected", "userunknown"),
        ("gmail-smtp-in.l.google.com", "5.7.0", "530 5.7.0 Must issue a STARTTLS command first. x1si123456qkb.12 - gsmtp", "syntaxerror"),
        ("aspmx.l.google.com", "5.6.0", "554 5.6.0 Message exceeded 50 hops, this may indicate a mail loop. - gsmtp", "networkerror"),
        ("aspmx.l.google.com", "4.7.0", "421 4.7.0 Try again later, closing connection. (EHLO) - gsmtp", "blocked"),
        ("aspmx.l.google.com", "4.7.0", "421-4.7.0 [192.0.2.1      15] Your IP address isn't in the allowlist for the 421-4.7.0 RCPT domain, closing connection. - gsmtp", "blocked"),
        # AOL's own refusal codes of the 2000s (postmaster.info.aol.com 'SMTP error codes')
        ("mailin-01.mx.aol.com", None, "554- (RTR:BL) http://postmaster.info.aol.com/errors/554rtrbl.html 554 Connecting IP: 192.0.2.1", "blocked"),
        ("mailin-03.mx.aol.com", None, "554- (RLY:B1) http://postmaster.info.aol.com/errors/554rlyb1.html", "blocked"),
        ("mailin-02.mx.aol.com", None, "421 (DYN:T1) http://postmaster.info.aol.com/errors/421dynt1.html", "blocked"),
    ],
)  # fmt: skip
def test_sisimais_per_host_tables(host: str, status: str | None, text: str, reason: str) -> None:
    decided = classify(status, None, text, hosts=(host,))
    assert decided.reason == reason, decided.rule
    assert decided.rule.startswith("host ")
    assert not classify(status, None, text, hosts=("mx.example.org",)).rule.startswith("host ")


@pytest.mark.parametrize(
    ("host", "status", "command", "text"),
    [
        # Yahoo accepts RCPT and refuses an address it does not have after DATA
        ("mta6.am0.yahoodns.net", "5.0.0", "DATA", "554 delivery error: dd This user doesn't have a yahoo.com account (x@yahoo.com) [0] - mta4011.mail.gq1.yahoo.com"),
        ("mx-aol.mail.gm0.yahoodns.net", "5.0.0", "DATA", "554 delivery error: dd Requested mail action aborted, mailbox not found - mta1030.mail.bf1.yahoo.com"),
        # Yandex says so with 5.7.1
        ("mx.yandex.ru", "5.7.1", None, "550 5.7.1 No such user!"),
    ],
)  # fmt: skip
def test_a_providers_unknown_mailbox_is_not_a_filters_refusal(
    host: str, status: str, command: str | None, text: str
) -> None:
    # From any other server, "no such user" after DATA or with 5.7.1 is a filter's refusal of
    # an existing mailbox (Sisimai's reading); these providers say it of addresses they lack.
    assert classify(status, None, text, command, hosts=(host,)).reason == "userunknown"
    assert classify(status, None, text, command, hosts=("mx.example.org",)).reason == "filtered"


def test_an_spf_refusal_under_the_null_mx_status_is_authfailure() -> None:
    # X.7.27 is a sender domain's null MX (RFC 7505); Gmail writes it for an SPF hard fail
    gmail = (
        "550-5.7.27 The MAIL FROM domain [mail.example.com] has an SPF record with a hard fail policy (-all) but "
        "it fails to pass SPF checks with the ip: [192.0.2.24]. To best protect our users from spam and "
        "phishing, the message has been blocked. - gsmtp"
    )
    assert classify("5.7.27", 550, gmail, "DATA").reason == "authfailure"
    assert classify("5.7.27", 550, "550 5.7.27 Sender address has null MX", "MAIL").reason == "notaccept"


def test_a_providers_code_wins_over_a_generic_status_and_wording() -> None:
    # Cox writes "sender rejected" with 5.1.0 for every AUP code; the code is the reason
    text = "550 5.1.0 <s@example.com> sender rejected. AUP#CDRBL"
    assert classify("5.1.0", 550, text, "RCPT").reason == "blocked"


def test_host_names_are_cleaned() -> None:
    assert host_names(
        ["dns; MX.Example.ORG.", "mx.example.net[192.0.2.1]:25", "[192.0.2.7]", "", "mx (192.0.2.1)"]
    ) == (
        "mx.example.org",
        "mx.example.net",
    )


# ---- wiring: DSN, non-standard bounce and our own delivery give the same answer ----------


def _dsn(recipient: str, remote_mta: str | None) -> bytes:
    return report(recipient, "5.0.0", GMX, remote_mta)


def _exim_bounce(recipient: str, host: str) -> bytes:
    return (
        "From: Mail Delivery System <Mailer-Daemon@relay.example.org>\r\nTo: me@example.net\r\n"
        "Subject: Mail delivery failed: returning message to sender\r\nContent-Type: text/plain\r\n\r\n"
        "This message was created automatically by mail delivery software.\r\n\r\n"
        "A message that you sent could not be delivered to one or more of its\r\n"
        "recipients. This is a permanent error. The following address(es) failed:\r\n\r\n"
        f"  {recipient}\r\n    host {host} [212.227.15.9]\r\n"
        f"    SMTP error from remote mail server after end of data:\r\n    {GMX}\r\n\r\n"
        "------ This is a copy of the message, including all the headers. ------\r\n"
        f"To: {recipient}\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (_dsn("a@example.org", "mx00.emig.gmx.net"), "blocked"),  # by Remote-MTA
        (_dsn("a@gmx.de", None), "blocked"),  # by the recipient's domain
        (_dsn("a@example.org", "mx.example.org"), "onhold"),  # neither: the words alone say nothing
        (_exim_bounce("a@example.org", "mx00.emig.gmx.net"), "blocked"),  # the bounce's "host X"
        (_exim_bounce("a@example.org", "mx.example.org"), "onhold"),
    ],
    ids=["dsn-remote-mta", "dsn-domain", "dsn-other", "exim-host", "exim-other"],
)
def test_recognise_passes_the_receiving_host(raw: bytes, reason: str) -> None:
    [row] = recognise(raw).recipients
    assert row.reason == reason, row.rule


@pytest.mark.parametrize(
    ("remote", "recipient", "reason"),
    [
        ("mx00.emig.gmx.net[212.227.15.9]:25", "a@example.org", "blocked"),
        (None, "a@web.de", "blocked"),
        ("mx.example.org[192.0.2.9]:25", "a@example.org", "onhold"),
    ],
)
def test_a_refusal_during_our_own_delivery_reads_the_host_too(remote: str | None, recipient: str, reason: str) -> None:
    outcome = Outcome(Verdict.PERMANENT, Step.EOM, 554, "5.0.0", GMX, remote)
    sync = refusal_fields(outcome, recipient=recipient)
    assert sync["reason"] == reason, sync["rule"]
    [row] = recognise(_dsn(recipient, remote.split("[")[0] if remote else None)).recipients
    assert row.reason == sync["reason"]


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("DATA", "rejected"),  # the address exists: the recipient's reception settings refused us
        ("RCPT", "userunknown"),  # refused as an address: there is no such mailbox
        (None, "userunknown"),  # the step unknown: the words, read as anywhere else
    ],
)
def test_a_providers_code_that_names_a_step_holds_only_at_that_step(command: str | None, reason: str) -> None:
    # NTT DOCOMO answers "550 Unknown user" both at RCPT (no such address) and at DATA (the
    # recipient's domain or address filter refused the sender); Sisimai's Rhost/NTTDOCOMO.pm
    decided = classify("5.0.0", 550, "550 Unknown user kijitora@docomo.ne.jp", command, hosts=("mfsmax.docomo.ne.jp",))
    assert decided.reason == reason
    assert decided.rule.startswith("host docomo") == (command == "DATA")


@pytest.mark.parametrize(
    ("diagnostic", "command", "hosts", "reason"),
    [
        # no address in the reply: au's answer for a sender the recipient's reception settings
        # refuse (Sisimai's Rhost/KDDI.pm), at whatever step the report names
        ("550 : User unknown", None, ("lsean.ezweb.ne.jp",), "filtered"),
        ("550 : User unknown", "RCPT", ("au.com",), "filtered"),
        ("smtp;550 : User unknown", "DATA", ("lsean.ezweb.ne.jp", "ezweb.ne.jp"), "filtered"),
        # the reply names the address: there is no such mailbox, even with no step named
        ("550 <taro@ezweb.ne.jp>: User unknown", None, ("ezweb.ne.jp",), "userunknown"),
        ("550: <hanako@au.com>: User unknown", "DATA", ("au.com",), "userunknown"),
        # another server's bare "550 : User unknown" is read by its words
        ("550 : User unknown", "RCPT", ("mx.example.org",), "userunknown"),
    ],
)
def test_au_kddi_tells_a_refused_sender_from_a_missing_mailbox_by_the_address_in_its_reply(
    diagnostic: str, command: str | None, hosts: tuple[str, ...], reason: str
) -> None:
    decided = classify("5.0.0", 550, diagnostic, command, hosts=hosts)
    assert decided.reason == reason, decided.rule
