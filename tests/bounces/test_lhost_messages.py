"""The sending software's own fixed phrases decide the reason (Sisimai 4.25's Lhost `messagesof`).

Each case is a minimal notice in that software's layout whose explanation is one of its own
phrases; the verdict's reason must be the phrase table's. A weak reason (Sisimai's "retry"
set: userunknown, hostunknown, networkerror, systemerror, ...) gives way to a specific one
that the same recipient's words show.
"""

from __future__ import annotations

import pytest

from returnpath.bounces import recognise

TRACKING = "b0123abcd@bounces.example.net"


def _mail(sender: str, subject: str, body: str) -> bytes:
    return (
        f"From: {sender}\nTo: {TRACKING}\nSubject: {subject}\n"
        f"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}"
    ).encode()


def _qmail(block: str) -> bytes:
    return _mail(
        "MAILER-DAEMON@mx.example.jp",
        "failure notice",
        "Hi. This is the qmail-send program at mx.example.jp.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        f"<kijitora@example.org>:\n{block}\n\n"
        "--- Below this line is a copy of the message.\n\nSubject: hello\n",
    )


def _exim(explanation: str) -> bytes:
    return _mail(
        "Mail Delivery System <Mailer-Daemon@mx.example.net>",
        "Mail delivery failed: returning message to sender",
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        f"  kijitora@example.org\n    {explanation}\n\n"
        "------ This is a copy of the message, including all the headers. ------\n\nSubject: hello\n",
    )


def _gmail(details: str) -> bytes:
    return _mail(
        "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        "Delivery Status Notification (Failure)",
        "Delivery to the following recipient failed permanently:\n\n"
        "     kijitora@example.org\n\n"
        f"Technical details of permanent failure:\n{details}\n\n"
        "----- Original message -----\n\nSubject: hello\n",
    )


def _gsuite(because: str, said: str) -> bytes:
    return _mail(
        "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        "Delivery Status Notification (Failure)",
        "** Address not found **\n\n"
        f"Your message wasn't delivered to kijitora@example.org because {because}\n\n"
        f"The response was:\n{said}\n\n",
    )


def _domino(because: str) -> bytes:
    return _mail(
        "Postmaster@example.org",
        "DELIVERY FAILURE",
        "Your message\n\n  Subject: hello\n\nwas not delivered to:\n\n  kijitora@example.org\n\n"
        f"because:\n\n  {because}\n\n",
    )


def _notes(reason: str) -> bytes:
    return _mail(
        "Postmaster@example.org",
        "Undeliverable message",
        f"------- Failure Reasons  --------\n\n{reason}\nkijitora@example.org\n\n------- Returned Message --------\n",
    )


def _courier(block: str) -> bytes:
    return _mail(
        "Courier mail server at mx.example.net <@>",
        "NOTICE: mail delivery status.",
        "This is a delivery status notification from mx.example.net,\n"
        "running the Courier mail server, version 0.65.2.\n\n"
        "The original message was received on Mon, 30 Nov 2026 10:15:06 +0000\n\n"
        "---------------------------------------------------------------------------\n\n"
        "                           UNDELIVERABLE MAIL\n\n"
        f"<kijitora@example.org>:\n{block}\n",
    )


def _opensmtpd(reply: str) -> bytes:
    return _mail(
        "MAILER-DAEMON@mx.example.net",
        "Delivery status notification: error",
        "    Hi!\n\n    This is the MAILER-DAEMON, please DO NOT REPLY to this e-mail.\n\n"
        "    An error has occurred while attempting to deliver a message for\n"
        f"    the following list of recipients:\n\nkijitora@example.org: {reply}\n\n"
        "    Below is a copy of the original message:\n\nSubject: hello\n",
    )


def _kddi(reason: str) -> bytes:
    return _mail(
        "no-reply@mx.dion.ne.jp",
        "Returned mail: User unknown",
        "Your mail sent on: Thu, 29 Apr 2026 00:00:00 +0900\n"
        f"     Could not be delivered to: <kijitora@example.org>\n     {reason}\n",
    )


def _imail(line: str) -> bytes:
    # IMail marks its notices with its mailer's name, not with the wording
    return b"X-Mailer: <SMTP32 v12.5.7>\n" + _mail(
        "Postmaster <postmaster@example.org>", "Undeliverable Mail", f"{line}\n\n\nOriginal message follows.\n"
    )


def _amavis(reply: str) -> bytes:
    return _mail(
        '"Content-filter at mx.example.net" <postmaster@mx.example.net>',
        "Undeliverable mail, BANNED (.exe)",
        f"The message WAS NOT relayed to:\n  <kijitora@example.org>:\n   {reply}\n\n"
        "This nondelivery report was generated by the program amavisd-new at host\nmx.example.net.\n",
    )


def _james(error: str) -> bytes:
    return _mail(
        "postmaster@mx.example.net",
        "Re:hello",
        "Hi. This is the James mail server at mx.example.net.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.  Below\n"
        "I include the list of recipients and the reason why I was unable to deliver\n"
        f"your message.\n\nFailed recipient(s):\nkijitora@example.org\n\nError message:\n{error}\n\n",
    )


CASES = {
    # Lhost/qmail.pm
    "qmail networkerror": (
        _qmail("Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)"),
        "networkerror",
    ),
    "qmail mailboxfull": (_qmail("disk quota exceeded (#5.2.2)"), "mailboxfull"),
    "qmail hostunknown": (_qmail("Sorry, I couldn't find any host named example.org. (#5.1.2)"), "hostunknown"),
    "qmail-ldap suspend": (_qmail("Mailaddress is administratively disabled. (#5.2.1)"), "suspend"),
    # the queue sentence that the diagnostic leaves out still says "expired"
    "qmail expired": (
        _qmail(
            "Connected to 192.0.2.1 but connection died. (#4.4.2)\n"
            "I'm not going to try again; this message has been in the queue too long."
        ),
        "expired",
    ),
    # Lhost/Exim.pm
    "exim hostunknown": (_exim("Unrouteable address"), "hostunknown"),
    "exim mailboxfull": (_exim("mailbox is full (quota exceeded while writing to file /var/mail/k)"), "mailboxfull"),
    "exim syntaxerror": (_exim("malformed address: @ may not follow kijitora"), "syntaxerror"),
    "exim contenterror": (_exim('Too many "Received" headers - suspected mail loop'), "contenterror"),
    # Lhost/Gmail.pm
    "gmail hostunknown": (_gmail("DNS Error: Domain name not found"), "hostunknown"),
    "gmail expired": (_gmail("The recipient server did not accept our requests to connect."), "expired"),
    "gmail state 13": (
        _gmail("The error that the other server returned was:\n550 Access denied (state 13)."),
        "blocked",
    ),
    # Lhost/GSuite.pm (Gmail's layout since 2015)
    "gsuite networkerror": (
        _gsuite(
            "the domain example.org couldn't be found.",
            "DNS Error: 2304 DNS type 'mx' lookup of example.org responded with code NXDOMAIN",
        ),
        "networkerror",
    ),
    "gsuite notaccept": (
        _gsuite("the domain example.org doesn't receive email.", "DNS Error: Null MX"),
        "notaccept",
    ),
    # Lhost/Domino.pm, Lhost/Notes.pm
    "domino userunknown": (
        _domino("User Kijitora (kijitora@example.org) not listed in Domino Directory"),
        "userunknown",
    ),
    "domino filtered": (_domino("Cannot route mail to user (kijitora@example.org)"), "filtered"),
    "notes userunknown": (_notes("User not listed in public Name & Address Book"), "userunknown"),
    "notes networkerror": (_notes("Message has exceeded maximum hop count"), "networkerror"),
    "notes hostunknown": (
        _notes(
            "No route found to domain example.org from server GW/Example. Check Server, Connection and Domain documents"
        ),
        "hostunknown",
    ),
    "domino hostunknown": (_domino("No route found to domain example.org from server GW/Example."), "hostunknown"),
    # Lhost/IMailServer.pm
    "imail userunknown": (_imail("Unknown user: kijitora@example.org"), "userunknown"),
    "imail final delivery userid": (_imail("Invalid final delivery userid: kijitora@example.org"), "userunknown"),
    "imail mailboxfull": (_imail("User mailbox exceeds allowed size: kijitora@example.org"), "mailboxfull"),
    # Lhost/Amavis.pm and amavisd %smtp_reason_by_ccat
    "amavis policyviolation": (_amavis("554 5.7.0 Reject, id=31337-07 - BANNED: invoice.exe"), "policyviolation"),
    "amavis virusdetected": (_amavis("554 5.7.0 Reject, id=31337-07 - INFECTED: Eicar-Signature"), "virusdetected"),
    # Apache James RemoteDelivery (its own sentence for a domain without DNS records)
    "james hostunknown": (
        _james(
            "There are no DNS entries for the hostname example.org.  I cannot determine where to send this message."
        ),
        "hostunknown",
    ),
    # Lhost/OpenSMTPD.pm
    "opensmtpd networkerror": (_opensmtpd("No MX found for domain"), "networkerror"),
    "opensmtpd notaccept": (_opensmtpd("Destination seem to reject all mails"), "notaccept"),
    "opensmtpd expired": (_opensmtpd("Envelope expired"), "expired"),
    # Lhost/KDDI.pm
    "kddi mailboxfull": (_kddi("As their mailbox is full."), "mailboxfull"),
    "kddi hostunknown": (_kddi("As the remote domain doesnt exist."), "hostunknown"),
    # Lhost/Courier.pm
    "courier hostunknown": (_courier("No such domain."), "hostunknown"),
}


@pytest.mark.parametrize("name", CASES)
def test_the_softwares_own_phrase_decides(name: str) -> None:
    raw, reason = CASES[name]
    verdict = recognise(raw)
    assert [(r.address, r.reason) for r in verdict.recipients] == [("kijitora@example.org", reason)]


def test_a_weak_phrase_gives_way_to_a_specific_reason_in_the_same_words() -> None:
    # qmail's "does not like recipient." is userunknown, but the remote said mailbox full
    raw = _qmail(
        "192.0.2.1 does not like recipient.\n"
        "Remote host said: 550 5.2.2 <kijitora@example.org>... Mailbox full\nGiving up on 192.0.2.1."
    )
    (r,) = recognise(raw).recipients
    assert r.reason == "mailboxfull"
    assert "does not like recipient" in r.rule


def test_a_weak_phrase_stands_when_the_words_say_nothing_more() -> None:
    raw = _qmail("192.0.2.1 does not like recipient.\nRemote host said: 550 no\nGiving up on 192.0.2.1.")
    (r,) = recognise(raw).recipients
    assert r.reason == "userunknown"


def _exim_delay(explanation: str) -> bytes:
    return _mail(
        "Mail Delivery System <Mailer-Daemon@mx.example.net>",
        "Warning: message 1vR0Zy-000Jp9-7c delayed 24 hours",
        "This message was created automatically by mail delivery software.\n"
        "A message that you sent has not yet been delivered to one or more of its\n"
        "recipients after more than 24 hours on the queue on mx.example.net.\n\n"
        "The address to which the message has not yet been delivered is:\n\n"
        f"  kijitora@example.org\n    {explanation}\n\n"
        "No action is required on your part. Delivery attempts will continue for\n"
        "some time, and this warning may be repeated at intervals if the message\n"
        "remains undelivered.\n",
    )


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        # Dovecot LMTP with quota_full_tempfail: its quota_exceeded_message
        ("452 4.2.2 <kijitora@example.org> Quota exceeded (mailbox for user is full)", "mailboxfull"),
        # Cyrus lmtpd's over-quota reply (imap/lmtpengine.c)
        ("452 4.2.2 Over quota", "mailboxfull"),
        # a server short of spool space (Sendmail's srvrsmtp.c wording)
        ("452 4.4.5 Insufficient disk space; try again later", "systemfull"),
    ],
)
def test_a_delays_weak_phrase_gives_way_to_the_quoted_servers_words(reply: str, reason: str) -> None:
    # Exim's lmtp transport quotes the LMTP server: "LMTP error after RCPT TO:<a>: <reply>";
    # the phrase is Sisimai's systemerror, the reply says more, in a delay as in a failure
    raw = _exim_delay(f"LMTP error after RCPT TO:<kijitora@example.org>: {reply}")
    (r,) = recognise(raw).recipients
    assert (r.action, r.reason) == ("delayed", reason)


@pytest.mark.parametrize(
    "reply",
    [
        # Dovecot LMTP's refusal of a user it does not have (src/lmtp)
        "550 5.1.1 <kijitora@example.org> User doesn't exist: kijitora@example.org",
        # Cyrus lmtpd's IMAP_MAILBOX_NONEXISTENT (imap/lmtpengine.c), its three lines joined
        "550-Mailbox unknown.  Either there is no mailbox associated with this 550-name or you do not have "
        "authorization to see it. 550 5.1.1 User unknown",
    ],
)
def test_a_weak_phrase_gives_way_to_a_decisive_status_of_the_quoted_reply(reply: str) -> None:
    # userunknown is itself weak, but the LMTP server's 5.1.1 says it, not Exim's wrapper
    (r,) = recognise(_exim(f"LMTP error after RCPT TO:<kijitora@example.org>: {reply}")).recipients
    assert (r.reason, r.hard) == ("userunknown", True)


def test_a_weak_phrase_stands_over_a_status_that_says_nothing() -> None:
    (r,) = recognise(_exim("LMTP error after end of data: 554 5.0.0 unable to deliver")).recipients
    assert r.reason == "systemerror"


def test_a_delays_weak_phrase_stands_when_the_words_say_nothing_more() -> None:
    # the delay's own fallback (expired) is no reading of the words: the phrase stands
    (r,) = recognise(_exim_delay("LMTP error after end of data: 451 4.0.0 try later")).recipients
    assert (r.action, r.reason) == ("delayed", "systemerror")


def test_the_phrase_itself_is_no_sign_of_another_reason() -> None:
    # "not listed in" is no block list: the phrase's userunknown stands
    (r,) = recognise(_notes("User not listed in public Name & Address Book")).recipients
    assert (r.reason, r.hard) == ("userunknown", True)


def test_a_specific_phrase_is_not_reconsidered() -> None:
    # mailboxfull is no weak reason: "access denied" elsewhere in the words does not change it
    (r,) = recognise(_qmail("disk quota exceeded; access denied (#5.2.2)")).recipients
    assert r.reason == "mailboxfull"


def test_exims_text_generated_during_the_delivery_attempt_is_its_addresses_diagnostic() -> None:
    # deliver.c: a local transport's output (return_fail_output: dovecot-lda -e's rejection)
    # after the blocks, one "------ <address> ------" section per address; the program's
    # words say more than Exim's "Child process of ... transport returned 77"
    raw = _exim(
        "Child process of dovecot_delivery transport returned 77 from command:\n    /usr/lib/dovecot/dovecot-lda"
    ).replace(
        b"\n\n------ This is a copy",
        b"\n\nThe following text was generated during the delivery attempt:\n\n"
        b"------ kijitora@example.org ------\n\nQuota exceeded (mailbox for user is full)\n\n------ This is a copy",
    )
    (r,) = recognise(raw).recipients
    assert (r.address, r.reason) == ("kijitora@example.org", "mailboxfull")
    assert "Quota exceeded (mailbox for user is full)" in r.diagnostic
    # without the section the transport's failure is all there is
    (r,) = recognise(
        _exim("Child process of dovecot_delivery transport returned 77 from command:\n    /usr/lib/dovecot/dovecot-lda")
    ).recipients
    assert r.reason == "mailererror"


def test_mdaemons_transcript_arrow_marks_the_servers_reply() -> None:
    # MDaemon's session transcript writes the server's lines after "<--": a reply code there
    # is the remote's, and the line with it is the recipient's error text
    body = (
        "The attached message had PERMANENT fatal delivery errors!\n\n"
        "The following addresses did NOT receive a copy of your message:\n\n"
        ">    kijitora@mail.ru\n\n"
        "--- Session Transcript ---\n"
        " Thu 2026-12-10 10:05:05.281: Parsing message <mail.example.org\\pd50001000871.msg>\n"
        " Thu 2026-12-10 10:05:05.328: Attempting SMTP connection to [94.100.180.31:25]\n"
        " Thu 2026-12-10 10:05:05.609: --> RCPT To:<kijitora@mail.ru>\n"
        " Thu 2026-12-10 10:05:05.671: <-- 550 Message was not accepted -- invalid mailbox.  Local mailbox "
        "kijitora@mail.ru is unavailable: account is disabled\n"
        " Thu 2026-12-10 10:05:05.671: --> QUIT\n"
        "--- End Transcript ---\n"
    )
    (r,) = recognise(_mail("MDaemon@mail.example.org", "Permanent Delivery Failure", body)).recipients
    assert (r.address, r.reason) == ("kijitora@mail.ru", "suspend")
    assert r.code == 550


def test_james_gives_its_one_error_to_every_failed_recipient() -> None:
    raw = _james("550 5.1.1 <kijitora@example.org>... User unknown").replace(
        b"kijitora@example.org\n\nError", b"kijitora@example.org\nshironeko@example.org\n\nError"
    )
    got = [(r.address, r.reason, r.status) for r in recognise(raw).recipients]
    assert got == [("kijitora@example.org", "userunknown", "5.1.1"), ("shironeko@example.org", "userunknown", "5.1.1")]


def test_one_and_one_gives_the_reason_after_a_list_to_each_address_in_it() -> None:
    raw = _mail(
        '"Mail Delivery System" <mailer-daemon@kundenserver.de>',
        "Mail delivery failed: returning message to sender",
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of\n"
        "its recipients. This is a permanent error.\n\nThe following addresses failed:\n\n"
        "kijitora@example.org\nshironeko@example.org\n\nFor the following reason:\n\n"
        "Mail size limit exceeded. For explanation visit\nhttp://postmaster.1and1.com/en/error-messages\n\n"
        "--- The header of the original message is following. ---\n\nSubject: hello\n",
    )
    got = [(r.address, r.reason) for r in recognise(raw).recipients]
    assert got == [("kijitora@example.org", "mesgtoobig"), ("shironeko@example.org", "mesgtoobig")]


def test_fml_in_japanese_names_the_list_its_subject_names() -> None:
    body = "あなたは <neko-nyaan@ml.example.jp> のメンバーではありません。\n\nTo: neko-nyaan@ml.example.jp\n"
    raw = b"X-MLServer: fml [fml 4.0.3 release (20011202/4.0.3)]\n" + _mail(
        "neko-nyaan-admin@ml.example.jp", f"You {TRACKING} are not member (neko-nyaan ML)", body
    )
    got = [(r.address, r.reason) for r in recognise(raw).recipients]
    assert got == [("neko-nyaan@ml.example.jp", "rejected")]
    # without fml's own header, the subject alone claims nothing in another language
    assert not recognise(raw.split(b"\n", 1)[1]).recipients
