"""Challenge/response messages (bounces/challenge.py): "confirm you are a person and your
message will be delivered". Not a failure, not an auto-reply: `Kind.OTHER` without
recipients, also when one wraps a delivery-status part that says `Action: failed`. Real
reports that mention a sender verification are still read as the failures they are."""

from __future__ import annotations

import pytest

from returnpath.bounces import Kind, recognise
from returnpath.bounces.challenge import sign
from returnpath.bounces.mail import Mail

TRACKING = "b7xq4k2m9c3v8a5s6d2f4g7h1j@bounces.example.com"


def _mail(sender: str, subject: str, body: str, headers: str = "") -> bytes:
    return (
        f"From: {sender}\nTo: {TRACKING}\nSubject: {subject}\n{headers}"
        f"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}"
    ).encode()


CHALLENGES = {
    "boxbe": _mail(
        "Boxbe <notify@boxbe.com>",
        "Bob Smith requests your approval: Our December offers",
        """Hello,

Your message to bob@example.org about "Our December offers" has been placed on hold.
Bob Smith uses Boxbe to screen incoming mail. To get your message delivered, please click
the link below to be added to Bob's Guest List:

https://www.boxbe.com/anno?tc=12345_67890&c=1
""",
    ),
    "spamarrest": _mail(
        "Bob Smith <bob@example.org>",
        "Please verify your email address",
        """Hello,

I am protecting myself from receiving junk mail. Please click the link below to complete
the verification process. You have to do this only once.

http://www.spamarrest.com/a2?ABCDEF0123456789

Spam Arrest - Take control of your inbox!
""",
        "Auto-Submitted: auto-replied\n",
    ),
    "mailinblack": _mail(
        "bob@example.fr <noreply@mailinblack.com>",
        "Votre message est en attente de validation",
        """Bonjour,

Votre message pour bob@example.fr a bien été reçu, mais il est en attente.
Je suis protégé par Mailinblack contre les spams. Pour valider votre message, cliquez
sur le lien suivant : https://www.mailinblack.com/validate?id=abc
""",
    ),
    "choicemail": _mail(
        "Bob Smith <bob@example.org>",
        "Re: Our December offers [ChoiceMail registration request]",
        """I apologize for this automatic reply to your email.

To control spam, I now allow incoming messages only from senders I have approved
beforehand. If you would like to be added to my list of approved senders, please fill out
the short request form (see link below). Once I approve you, I will receive your original
message in my inbox.

https://www.digiportal.com/choicemail/register?id=1234

This is a one-time request. ChoiceMail
""",
    ),
    "tmda": _mail(
        "Bob Smith <bob-confirm+1733050000.12345.abcdef@example.org>",
        "Please confirm your message",
        """This message was created automatically by mail delivery software (TMDA).

Your message attached below is being held because the address
<news@shop.example.com> has not been verified.

To release your message for delivery, please send an empty message
to the following address, or use your mailer's "Reply" feature.

   bob-confirm+1733050000.12345.abcdef@example.org
""",
        "X-Delivery-Agent: TMDA/1.1.12 (Ladyburn)\n",
    ),
    "qconfirm": _mail(
        "bob-qconfirm@example.org",
        "qconfirm: please confirm your message",
        """Hi. This is the qconfirm mail-delivery program at example.org.
Your message to bob@example.org is held until you confirm that you sent it.
To confirm, simply reply to this message; you will be asked only once.
""",
    ),
    "sender-verification-no-product": _mail(
        "Mail Filter <filter@mx.example.net>",
        "Action required: verify your message to bob@example.org",
        """Your email to bob@example.org is held pending verification.
Our anti-spam system requires you to confirm that you are a human before it is delivered.

Please click the link below:
https://verify.example.net/c/8f2a
""",
        "Auto-Submitted: auto-replied\n",
    ),
    "german-request": _mail(
        "Bob Müller <bob@example.de>",
        "Bitte bestätigen Sie Ihre Nachricht",
        """Guten Tag,

um Spam zu vermeiden, bitte ich Sie, Ihre E-Mail-Adresse zu bestätigen.
Klicken Sie dazu auf den folgenden Link: https://filter.example.de/v/123
""",
    ),
}

WRAPPED_DSN = f"""From: Mail Delivery System <MAILER-DAEMON@guard.example.net>
To: {TRACKING}
Subject: Undelivered Mail: please verify that you are a human
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="CR1"

--CR1
Content-Type: text/plain

Your message to bob@example.org has been held by our challenge/response anti-spam system.
Please confirm that you are a human by clicking the link below, and it will be delivered:
https://guard.example.net/confirm?id=55aa

--CR1
Content-Type: message/delivery-status

Reporting-MTA: dns; guard.example.net

Final-Recipient: rfc822; bob@example.org
Action: failed
Status: 5.7.1
Diagnostic-Code: smtp; 550 5.7.1 Message held for sender verification

--CR1--
""".encode()


CHALLENGES["german-held"] = _mail(
    "Spamschutz <spamschutz@example.de>",
    "Bestätigung erforderlich: Our December offers",
    """Ihre Nachricht an bob@example.de wurde vorläufig zurückgehalten und noch nicht zugestellt.
Bitte bestätigen Sie einmalig Ihre Nachricht über diesen Link:
https://mx.example.de/bestaetigen/81f0c2
""",
)
CHALLENGES["german-sent"] = _mail(
    "Bob Beispiel <bob@example.de>",
    "Re: Our December offers",
    """Zum Schutz vor Spam: bitte bestätigen Sie kurz, dass Sie die Nachricht gesendet haben.
Antworten Sie einfach auf diese E-Mail.
""",
)


@pytest.mark.parametrize("name", sorted(CHALLENGES))
def test_a_challenge_is_other_without_recipients(name: str) -> None:
    raw = CHALLENGES[name]
    assert sign(Mail.parse(raw)) is not None
    verdict = recognise(raw)
    assert verdict.kind is Kind.OTHER
    assert verdict.recipients == ()


def test_a_challenge_that_wraps_a_failed_dsn_records_no_failure() -> None:
    verdict = recognise(WRAPPED_DSN)
    assert verdict.kind is Kind.OTHER
    assert not verdict.failed


def test_line_endings_do_not_change_a_challenge() -> None:
    assert recognise(WRAPPED_DSN.replace(b"\n", b"\r\n")).kind is Kind.OTHER


# ---- real reports that only mention a verification stay failures -------------------------

SENDER_VERIFY_DSN = f"""From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: {TRACKING}
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="SV"

--SV
Content-Type: text/plain

<bob@example.org>: host mx.example.org[192.0.2.1] said: 550 5.7.1 Sender verify
    failed: please verify your DNS records, see https://help.example.org/verify
    (in reply to RCPT TO command)

--SV
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; bob@example.org
Action: failed
Status: 5.7.1
Diagnostic-Code: smtp; 550 5.7.1 Sender verify failed

--SV--
""".encode()

CHECK_THE_ADDRESS = _mail(
    "Mail Delivery Subsystem <MAILER-DAEMON@mx.example.net>",
    "Undeliverable mail",
    """Your message could not be delivered to bob@example.org: 550 5.1.1 user unknown.

Please verify the recipient's address and try again, or see
https://help.example.net/bounces for more help.
""",
)


QUARANTINE_NOTICE = _mail(
    "Mail Delivery System <MAILER-DAEMON@gw.example.net>",
    "Undeliverable: Our December offers",
    """Your message to bob@example.org was quarantined and will not be delivered.
Reason: 554 5.7.1 Message content rejected as spam. To report an error, reply to this
message or visit https://gw.example.net/help.
""",
)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [(SENDER_VERIFY_DSN, Kind.DSN), (CHECK_THE_ADDRESS, Kind.BOUNCE), (QUARANTINE_NOTICE, Kind.BOUNCE)],
    ids=["dsn-sender-verify-failed", "notice-asks-to-verify-the-address", "quarantine-notice"],
)
def test_a_report_that_mentions_verifying_is_still_a_failure(raw: bytes, kind: Kind) -> None:
    assert sign(Mail.parse(raw)) is None
    verdict = recognise(raw)
    assert verdict.kind is kind
    assert [r.address for r in verdict.failed] == ["bob@example.org"]


# ---- quarantine digests: other senders' held mail, listed for the mailbox or its admin --

DIGESTS = {
    "spamtitan": (
        "Quarantine Report for app@example.com",
        "These have not been delivered. Click Release or Blacklist.",
    ),
    "barracuda": (
        "Barracuda Email Security Service - Quarantine Summary for admin@example.com",
        "2 messages were quarantined and were not delivered: Deliver, Whitelist or Delete.",
    ),
    "proofpoint": ("End User Digest: 3 New Messages", "Blocked by the spam filter. Release | Release and Allow Sender"),
    "m365": ("Microsoft 365 security: You have messages in quarantine", "Review them: Release, Block sender"),
    "cisco": ("Spam Quarantine Notification", "The message(s) below have been blocked. Release"),
    "mimecast": ("Mimecast Hold Summary: 2 messages on hold", "Release, Block or Permit the sender."),
}


@pytest.mark.parametrize("name", sorted(DIGESTS))
def test_a_quarantine_digest_is_other(name: str) -> None:
    subject, text = DIGESTS[name]
    body = f"{text}\n\nFrom: promo@spammer.example\nSubject: Undelivered Mail Returned to Sender\nScore: 18.2\n"
    verdict = recognise(_mail("Quarantine <quarantine@filter.example.net>", subject, body, "Return-Path: <>\n"))
    assert verdict.kind is Kind.OTHER
    assert not verdict.failed


def test_a_notice_that_the_senders_message_was_quarantined_is_no_digest() -> None:
    # to the sender, about his own message: a refusal (QUARANTINE_NOTICE above, with a digest's word)
    raw = QUARANTINE_NOTICE.replace(b"reply to this", b"ask us to release it, reply to this")
    verdict = recognise(raw)
    assert verdict.kind is Kind.BOUNCE
    assert [r.address for r in verdict.failed] == ["bob@example.org"]
