"""The generic notice layer (bounces/lhost/generic.py): failure and delay notices of servers
that have no detector of their own, read by their shape.

One table per structure family, each sample written the way the servers write them; the
recipient is the address that failed (never the notice's sender, our tracking address, the
returned message's sender or a postmaster), the action says failed or delayed, and where the
text says why, the reason is the one it says. Then what must not be claimed: human replies,
newsletters, receipts.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from returnpath.bounces import Kind, recognise
from returnpath.bounces.lhost import generic
from returnpath.bounces.mail import Mail

TRACKING = "b7xq4k2m9c3v8a5s6d2f4g7h1j@bounces.example.com"
ORIGINAL = f"""Return-Path: <{TRACKING}>
Received: from relay.example.com (relay.example.com [198.51.100.4])
	by mx.example.org with ESMTP id 4AbC1; Tue, 1 Dec 2026 10:00:00 +0100
From: Shop News <news@shop.example.com>
To: bob@example.org
Subject: Our December offers
Message-ID: <20261201090000.12345@relay.example.com>
Date: Tue, 1 Dec 2026 10:00:00 +0100

Hello Bob, our offers.
"""


def notice(sender: str, subject: str, body: str, *, headers: str = "", attach: str | None = None) -> bytes:
    """A notice as servers send it: plain text, or text plus the returned message attached."""
    head = f"From: {sender}\nTo: {TRACKING}\nSubject: {subject}\nDate: Tue, 1 Dec 2026 10:05:00 +0100\n{headers}"
    if attach is None:
        return f"{head}MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}".encode()
    return (
        f'{head}MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="XyZ"\n\n'
        f"--XyZ\nContent-Type: text/plain; charset=utf-8\n\n{body}\n"
        f"--XyZ\nContent-Type: {attach}\n\n{ORIGINAL}\n--XyZ--\n"
    ).encode()


@dataclass(frozen=True)
class Case:
    raw: bytes
    address: str
    action: str = "failed"
    reason: str | None = None  # when the text says why
    status: str | None = None


def check(case: Case) -> None:
    verdict = recognise(case.raw)
    assert verdict.kind is Kind.BOUNCE, verdict
    addresses = [r.address for r in verdict.recipients]
    assert case.address in addresses, addresses
    for wrong in (TRACKING, "news@shop.example.com"):
        assert wrong not in addresses
    assert not any(a.startswith(("postmaster@", "mailer-daemon@")) for a in addresses), addresses
    r = next(r for r in verdict.recipients if r.address == case.address)
    assert r.action == case.action, r
    if case.reason:
        assert r.reason == case.reason, r
    if case.status:
        assert r.status == case.status, r
    assert r.rule.startswith("lhost/"), r.rule


# ---- qmail's layout under other greetings (ISP rebrands, vpopmail, Yahoo's old servers) ----

QMAIL_LIKE = {
    "rebrand-transport": Case(
        notice(
            "MAILER-DAEMON@mail.isp.example.net",
            "failure notice",
            """Hi. This is the mail transport system at mail.isp.example.net.
Your message could not be delivered to the following recipients:

<bob@example.org>:
198.51.100.20 does not like recipient.
Remote host said: 550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown
Giving up on 198.51.100.20.

--- Below this line is a copy of the message.

"""
            + ORIGINAL,
        ),
        "bob@example.org",
        reason="userunknown",
        status="5.1.1",
    ),
    "sorry-we-were-unable": Case(
        notice(
            "MAILER-DAEMON@mta.example.net",
            "failure delivery",
            """Message from example.net.
Sorry, we were unable to deliver your message to the following address.

<carol@example.org>:
Remote host said: 552 mailbox is full [RCPT_TO]

--- Original message follows.

"""
            + ORIGINAL,
        ),
        "carol@example.org",
        reason="mailboxfull",
    ),
    "vpopmail-local": Case(
        notice(
            "MAILER-DAEMON@host.example.org",
            "failure notice",
            """This is the mail delivery agent at host.example.org.
I could not deliver your message to these addresses:

<dave@example.org>:
Sorry, no mailbox here by that name. vpopmail (#5.1.1)
""",
        ),
        "dave@example.org",
        reason="userunknown",
        status="5.1.1",
    ),
}


# ---- "the following address failed": plain notices of many small servers ------------------

ADDRESS_FAILED = {
    "address-failed-next-line": Case(
        notice(
            "Mail Delivery System <postmaster@mx.example.net>",
            "Delivery failure",
            """Your message could not be delivered.

The following address failed:

    bob@example.org

Reason: 550 5.1.1 No such user here
""",
        ),
        "bob@example.org",
        reason="userunknown",
        status="5.1.1",
    ),
    "address-failed-same-line": Case(
        notice(
            "postmaster@mail.example.net",
            "Undeliverable mail",
            """The following address failed: <bob@example.org>
Error: 552 5.2.2 Mailbox quota exceeded
""",
        ),
        "bob@example.org",
        reason="mailboxfull",
        status="5.2.2",
    ),
    "recipient-reason-fields": Case(
        notice(
            "Mail Administrator <mailadmin@relay.example.net>",
            "Mail delivery failed",
            """This message was generated by the mail system at relay.example.net.

Delivery to the following recipient failed permanently:
  Recipient: bob@example.org
  Reason:    host mx.example.org said: 550 Mailbox unavailable
""",
            attach="message/rfc822",
        ),
        "bob@example.org",
    ),
    "user-unknown-one-sentence": Case(
        notice(
            "MAILER-DAEMON@example.com",
            "Returned mail: Nyaan",
            "User's mailbox is full: <eve@example.jp>\nUnable to deliver mail.\n",
        ),
        "eve@example.jp",
        reason="mailboxfull",
    ),
}


# ---- the products, as their templates read -------------------------------------------------

PRODUCTS = {
    "groupwise": Case(
        notice(
            "Mail Delivery System <postmaster@gw.example.net>",
            "Message status - undeliverable",
            """The message that you sent was undeliverable to the following:
	bob@example.org (user not found)

Possibly truncated original message follows:

"""
            + ORIGINAL,
        ),
        "bob@example.org",
        # no reason asserted: "user not found" with neither status nor SMTP step is
        # reasons.classify's call (Sisimai's convention makes it "filtered")
    ),
    "exchange-2000": Case(
        notice(
            "System Administrator <postmaster@corp.example.net>",
            "Undeliverable: Our December offers",
            """Your message

  To:      bob@example.org; alice@example.org
  Subject: Our December offers
  Sent:    Tue, 1 Dec 2026 10:00:00 +0100

did not reach the following recipient(s):

bob@example.org on Tue, 1 Dec 2026 10:00:05 +0100
            The e-mail account does not exist at the organization this message was sent to.  Check the e-mail address, or contact the recipient directly to find out the correct address.
            <mx.corp.example.net #5.1.1>
""",
            attach="message/rfc822",
        ),
        "bob@example.org",
        status="5.1.1",
    ),
    # Exchange 5.5's Internet Mail Service names the recipient by its X.400 O/R address, the
    # Internet address a domain-defined attribute in it (flufl.bounce's microsoft_01)
    "exchange-5.5-x400": Case(
        notice(
            "System Administrator <postmaster@corp.example.net>",
            "Undeliverable: Our December offers",
            """Your message

  To:      bob@example.org
  Subject: Our December offers

did not reach the following recipient(s):

c=US;a= ;p=CORP;o=Exch1;dda:SMTP=bob@example.org; on Tue, 1 Dec 2026 10:00:05 +0100
    The recipient name is not recognized
    MSEXCH:IMS:CORP:Exch1:MAIL01 0 (000C05A6) Unknown Recipient
""",
            attach="message/rfc822",
        ),
        "bob@example.org",
    ),
    # usa.net: the recipient on an "Intended recipient:" line, the copy after "RETURNED MAIL
    # FOLLOWS" (flufl.bounce's simplematch patterns, simple_02)
    "usa-net-returned-mail-follows": Case(
        notice(
            "MAILER-DAEMON@usa.example.net",
            "Processing Error",
            """Intended recipient: bob@example.org

The following mail has been returned because it encountered an error
while being processed.  Please try to resend this message.

--------RETURNED MAIL FOLLOWS--------

From: Shop News <news@shop.example.com>
Subject: Our December offers

Hello Bob, our offers.
""",
        ),
        "bob@example.org",
    ),
    # "encountered delivery problems" (as Sendmail's "had delivery problems") and "User not
    # known" (flufl.bounce's simplematch pattern for dadoservice.it, simple_23)
    "delivery-problems-user-not-known": Case(
        notice(
            "postmaster@mx.example.it",
            "Delivery failure",
            """Your message has encountered delivery problems
to local user bob.
(Originally addressed to bob@example.org)

User not known

Your message reads (in part):
""",
        ),
        "bob@example.org",
    ),
    "hmailserver": Case(
        notice(
            "mailer-daemon@mail.example.net",
            "Message undeliverable: Our December offers",
            """Your message did not reach some or all of the intended recipients.

   Sent: Tue, 01 Dec 2026 10:00:00 +0100
   Subject: Our December offers

The following recipient(s) could not be reached:

        bob@example.org
                Error Type: SMTP
                Remote server (198.51.100.9) issued an error.
                hMailServer sent: RCPT TO:<bob@example.org>
                Remote server replied: 550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown in virtual mailbox table
""",
        ),
        "bob@example.org",
        reason="userunknown",
        status="5.1.1",
    ),
    "mdaemon": Case(
        notice(
            "MDaemon@mail.example.net",
            "Permanent Delivery Failure",
            """The attached message had PERMANENT fatal delivery errors!

After one or more unsuccessful delivery attempts the attached message has
been removed from the mail queue on this server.

--- Session Transcript ---
 Tue 2026-12-01 10:00:01: Parsing message <mail.example.net\\pd50000012345.msg>
 Tue 2026-12-01 10:00:01: *  From: news@shop.example.com
 Tue 2026-12-01 10:00:01: *  To: bob@example.org
 Tue 2026-12-01 10:00:02: Attempting SMTP connection to [mx.example.org]
 Tue 2026-12-01 10:00:02: --> RCPT To:<bob@example.org>
 Tue 2026-12-01 10:00:02: <-- 550 5.1.1 <bob@example.org>... User unknown
--- End Transcript ---
""",
            attach="message/rfc822",
        ),
        "bob@example.org",
        reason="userunknown",
    ),
    "kerio": Case(
        notice(
            "MAILER-DAEMON@kerio.example.net",
            "Undeliverable: Our December offers",
            """Your message did not reach some or all of the intended recipients.

   Subject: Our December offers
   Sent: 1.12.2026 10:00

The following recipient(s) could not be reached:

bob@example.org
   Error: 550 5.2.2 Mailbox is full
""",
            attach="message/rfc822",
        ),
        "bob@example.org",
        reason="mailboxfull",
    ),
    "icewarp": Case(
        notice(
            "postmaster@icewarp.example.net",
            "Undeliverable message",
            """Mail delivery failure.

Error Type: SMTP
Remote server: 198.51.100.33
Error description: 550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown
""",
            attach="message/rfc822",
        ),
        "bob@example.org",
        reason="userunknown",
    ),
    "communigate": Case(
        notice(
            "MAILER-DAEMON@cgp.example.net",
            "Undeliverable mail: Failed to deliver to '<bob@example.org>'",
            """Failed to deliver to '<bob@example.org>'
SMTP module(domain example.org) reports:
 host mx.example.org says:
 550 5.1.1 Mailbox unknown
""",
            attach="text/rfc822-headers",
        ),
        "bob@example.org",
        reason="userunknown",
    ),
    "mercury": Case(
        notice(
            "Mercury 32 Mail Server <MAILER-DAEMON@mercury.example.net>",
            "Delivery failure: Our December offers",
            """This message is a delivery status notification from the Mercury/32 mail server.

The following delivery problems were encountered:

  *** bob@example.org
  The mail system reported the following error:
  550 5.1.1 User unknown

---- Original message follows ----
"""
            + ORIGINAL,
        ),
        "bob@example.org",
        reason="userunknown",
    ),
    "smartermail": Case(
        notice(
            "postmaster@smarter.example.net",
            "Undeliverable: Our December offers",
            """Delivery has failed to these recipients or distribution lists:

bob@example.org
   An error occurred while trying to deliver this message to the recipient's e-mail address.

Technical details:
   550 5.1.1 <bob@example.org> does not exist
""",
        ),
        "bob@example.org",
        reason="userunknown",
    ),
    "xmail": Case(
        notice(
            "XMail bounce <postmaster@xmail.example.net>",
            "Undeliverable message",
            """[<00>] XMail bounce: Rcpt=[bob@example.org];Error=[Local user does not exist]

[<05>] Here is listed the initial part of the message:
"""
            + ORIGINAL,
        ),
        "bob@example.org",
    ),
    "pmdf": Case(
        notice(
            "PMDF e-Mail Interconnect <postmaster@pmdf.example.net>",
            "Delivery Notification: Delivery has failed",
            """This report relates to a message you sent with the following header fields:

  Message-id: <20261201090000.12345@relay.example.com>
  Date: Tue, 1 Dec 2026 10:00:00 +0100
  From: news@shop.example.com
  To: bob@example.org

Your message cannot be delivered to the following recipients:

  Recipient address: bob@example.org
  Reason: Illegal host/domain name found
""",
        ),
        "bob@example.org",
    ),
    "netscape": Case(
        notice(
            "Mail Delivery Subsystem <MAILER-DAEMON@ims.example.net>",
            "Mail System Error - Returned Mail",
            """This Message was undeliverable due to the following reason:

The user(s) account is temporarily over quota.

<bob@example.org>

Please reply to Postmaster@ims.example.net
if you feel this message to be in error.
""",
            attach="message/rfc822",
        ),
        "bob@example.org",
        reason="mailboxfull",
    ),
    "lotus": Case(
        notice(
            "Mail Router <postmaster@notes.example.net>",
            "DELIVERY FAILURE: User bob (bob@example.org) not listed in Domino Directory",
            """Your message

  Subject: Our December offers

was not delivered to:

  bob@example.org

because:

  User bob (bob@example.org) not listed in Domino Directory
""",
        ),
        "bob@example.org",  # read by lhost/domino; the reason is classify's call, as above
    ),
    "mdaemon-list-and-transcript": Case(
        notice(
            "MDaemon@mail.example.net",
            "Permanent Delivery Failure",
            """The attached message had PERMANENT fatal delivery errors!

The following addresses did NOT receive a copy of your message:

>    carol@example.org

--- Session Transcript ---
 Tue 2026-12-01 10:00:02: Attempting SMTP connection to [mx.example.org]
 Tue 2026-12-01 10:00:02: --> MAIL From:<news@shop.example.com> SIZE=1021
 Tue 2026-12-01 10:00:02: <-- 250 2.1.0 Ok
 Tue 2026-12-01 10:00:02: --> RCPT To:<carol@example.org>
 Tue 2026-12-01 10:00:03: <-- 552 5.2.2 <carol@example.org>: Mailbox full
--- End Transcript ---
""",
            attach="message/rfc822",
        ),
        "carol@example.org",
        reason="mailboxfull",
        status="5.2.2",
    ),
    "netscape-list-under-heading": Case(
        notice(
            "Mail Delivery Subsystem <MAILER-DAEMON@ims.example.net>",
            "Mail System Error - Returned Mail",
            """This Message was undeliverable due to the following reason:

The following destination addresses were over their quota (mailbox full):

SMTP <bob@example.org>

Please reply to Postmaster@ims.example.net
if you feel this message to be in error.
""",
            attach="message/rfc822",
        ),
        "bob@example.org",
        reason="mailboxfull",
    ),
    "mailenable": Case(
        notice(
            "POSTMASTER@mail.example.net",
            "Message Delivery Failure",
            """MailEnable: Message could not be delivered to some recipients.
The following recipient(s) could not be reached:

	Recipient: [SMTP:bob@example.org]
	Reason: Remote SMTP Server Returned: 550 5.1.1 User unknown
""",
        ),
        "bob@example.org",
        reason="userunknown",
        status="5.1.1",
    ),
    "openwave": Case(
        notice(
            "MAILER-DAEMON@mail.example.net",
            "Undeliverable Message",
            """Your message cannot be delivered to the following recipients:

  Recipient address: bob@example.org
  Reason: Over quota
""",
        ),
        "bob@example.org",
        reason="mailboxfull",
    ),
    "exchange-html-only": Case(
        b"From: postmaster@mail.example.net\nTo: " + TRACKING.encode() + b"\n"
        b"Subject: Undeliverable: Our December offers\nContent-Type: text/html\n\n"
        b"<html><body><p>Delivery has failed to these recipients or groups:</p>"
        b'<p><a href="mailto:bob@example.org">bob@example.org</a><br>'
        b"The email address you entered couldn't be found.</p>"
        b"<p>Diagnostic information for administrators:</p>"
        b"<p>Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; "
        b"Recipient not found by SMTP address lookup'</p></body></html>\n",
        "bob@example.org",
        reason="userunknown",
        status="5.1.10",
    ),
    "old-aol": Case(
        notice(
            "Mail Delivery Subsystem <MAILER-DAEMON@aol.com>",
            "Returned mail: see transcript for details",
            """Your mail to the following recipients could not be delivered because they are not accepting mail from news@shop.example.com:
	bobscreen@aol.com
""",
        ),
        "bobscreen@aol.com",
    ),
    "old-msn": Case(
        notice(
            "postmaster@hotmail.com",
            "Delivery Status Notification (Failure)",
            """This is an automatically generated Delivery Status Notification.

Delivery to the following recipients failed.

       bob@hotmail.com
""",
        ),
        "bob@hotmail.com",
    ),
    "zimbra": Case(
        notice(
            "Mail Delivery Subsystem <MAILER-DAEMON@zimbra.example.net>",
            "Delivery failed: Our December offers",
            """Your message could not be delivered to one or more recipients.

bob@example.org: 550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown in local recipient table
""",
            attach="message/rfc822",
        ),
        "bob@example.org",
        reason="userunknown",
    ),
    "axigen": Case(
        notice(
            "MAILER-DAEMON@axigen.example.net",
            "Delivery failure",
            """This is an automatically generated message from the mail server.

The following recipients could not be reached:
<bob@example.org> - 5.2.2 Mailbox full
""",
        ),
        "bob@example.org",
        reason="mailboxfull",
    ),
}


# ---- other languages ----------------------------------------------------------------------

LANGUAGES = {
    "german": Case(
        notice(
            "Mail Delivery System <MAILER-DAEMON@mail.example.de>",
            "Unzustellbar: Unsere Dezember-Angebote",
            """Ihre Nachricht konnte nicht zugestellt werden.

Empfänger: bob@example.de
Grund: 550 5.1.1 Benutzer unbekannt
""",
        ),
        "bob@example.de",
        reason="userunknown",
        status="5.1.1",
    ),
    "french": Case(
        notice(
            "postmaster@orange.example.fr",
            "Non remis : Nos offres de décembre",
            """Votre message n'a pas pu être remis aux destinataires suivants :

bob@example.fr
La boîte aux lettres du destinataire est pleine. 552 5.2.2
""",
        ),
        "bob@example.fr",
        reason="mailboxfull",
    ),
    "chinese": Case(
        notice(
            "=?utf-8?b?57O757uf6YCA5L+h?= <postmaster@mail.example.cn>",
            "=?utf-8?b?57O757uf6YCA5L+h?=",  # 系统退信
            """抱歉，您的邮件被退回来了……

收件人：bob@example.cn
退信原因：收件人不存在 550 5.1.1 User not found
""",
        ),
        "bob@example.cn",
        reason="userunknown",
    ),
    "spanish": Case(
        notice(
            "Mail Delivery System <MAILER-DAEMON@correo.example.es>",
            "No se puede entregar: Nuestras ofertas",
            """No se pudo entregar el mensaje a los siguientes destinatarios:

bob@example.es
550 5.1.1 El usuario no existe
""",
        ),
        "bob@example.es",
        status="5.1.1",
    ),
}


# ---- where the notice is: attached, or the recipient only in the returned message ----------


def _attached_notice() -> bytes:
    inner = notice(
        "Mail Delivery System <MAILER-DAEMON@mx.example.net>",
        "Undeliverable mail",
        "The following address failed:\n\n  bob@example.org\n\n550 5.1.1 User unknown\n",
    ).decode()
    return (
        f"From: Help Desk <helpdesk@corp.example.net>\nTo: {TRACKING}\nSubject: Fwd: returned mail\n"
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="OuT"\n\n'
        "--OuT\nContent-Type: text/plain\n\nSee the attached notice.\n"
        f"--OuT\nContent-Type: message/rfc822\n\n{inner}\n--OuT--\n"
    ).encode()


def _notice_in_text_attachment() -> bytes:
    return (
        f"From: MAILER-DAEMON@gateway.example.net\nTo: {TRACKING}\nSubject: Returned mail\n"
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="AtT"\n\n'
        "--AtT\nContent-Type: text/plain\n\nDelivery report attached.\n"
        '--AtT\nContent-Type: text/plain; name="details.txt"\nContent-Disposition: attachment; filename="details.txt"\n\n'
        "Could not deliver the message to <bob@example.org>: 550 5.1.1 User unknown\n"
        "--AtT--\n"
    ).encode()


WHERE = {
    "notice-attached-as-message": Case(_attached_notice(), "bob@example.org", reason="userunknown"),
    "notice-in-text-attachment": Case(_notice_in_text_attachment(), "bob@example.org", reason="userunknown"),
    "only-the-returned-copy-names-it": Case(
        notice(
            "MAILER-DAEMON@mx.example.net",
            "Undeliverable mail",
            "Your message could not be delivered: the mailbox is full.\n",
            attach="message/rfc822",
        ),
        "bob@example.org",
        reason="mailboxfull",
    ),
    "x-failed-recipients": Case(
        notice(
            "MAILER-DAEMON@mx.example.net",
            "Undeliverable mail",
            "Your message could not be delivered: 550 5.1.1 user unknown.\n",
            headers="X-Failed-Recipients: bob@example.org\n",
        ),
        "bob@example.org",
        reason="userunknown",
    ),
    # a list that passes bounces on to its owner adds its RFC 2369 List-* headers (GNU
    # Mailman 2.0 did: flufl.bounce's newmail.ru and HotPOP test emails); a mail system's
    # own mailbox still sent it, no newsletter does
    "notice-passed-on-by-a-list": Case(
        notice(
            "MAILER-DAEMON@mx.example.net",
            "failure notice",
            "Unfortunately, we were not able to deliver your message to the following address(es):\n\n"
            "<bob@example.org>:\nThis person's account is exceeding their quota.\n",
            headers="List-Id: Announce <announce.lists.example.org>\n"
            "List-Unsubscribe: <mailto:announce-request@lists.example.org?subject=unsubscribe>\n",
        ),
        "bob@example.org",
        reason="mailboxfull",
    ),
}


# ---- delay warnings: delayed, never failed, never an auto-reply ----------------------------

WARNINGS = {
    "not-yet-delivered": Case(
        notice(
            "Mail Delivery System <MAILER-DAEMON@mail.example.net>",
            "Warning: message delayed",
            """This is a warning message only; you do not need to resend your message.

Your message has not yet been delivered to the following recipient:

  bob@example.org
  421 4.4.1 Connection timed out

The server will continue to try to deliver it for 4 more days.
""",
            headers="Auto-Submitted: auto-replied\n",
        ),
        "bob@example.org",
        action="delayed",
    ),
    "dsn-delay-subject-plain": Case(
        notice(
            "postmaster@mail.example.net",
            "Delivery Status Notification (Delay)",
            """This is an automatically generated Delivery Status Notification.

Delivery to the following recipients has been delayed.

       bob@example.org
""",
            headers="Auto-Submitted: auto-replied\n",
        ),
        "bob@example.org",
        action="delayed",
    ),
    "delivery-delayed-german": Case(
        notice(
            "Mail Delivery System <MAILER-DAEMON@mail.example.de>",
            "Zustellung verzögert: Unsere Angebote",
            """Ihre Nachricht wurde noch nicht zugestellt. Es wird weiterhin versucht.

Empfänger: bob@example.de
Grund: 451 4.7.1 Greylisted, please try again later
""",
        ),
        "bob@example.de",
        action="delayed",
    ),
    # Exchange's delay notice in Spanish and Portuguese, and the same sentences as a webmail
    # provider words them: "not delivered yet", "delivery will continue to be attempted"
    "delivery-delayed-spanish": Case(
        notice(
            "Microsoft Outlook <postmaster@example.es>",
            "No se puede entregar: Pedido 4411",
            """La entrega se ha retrasado para estos destinatarios o grupos:

bob@example.es

Este mensaje aún no se ha entregado. Se seguirá intentando entregarlo.
""",
        ),
        "bob@example.es",
        action="delayed",
    ),
    "delivery-delayed-spanish-prose": Case(
        notice(
            "Mail Delivery System <MAILER-DAEMON@mail.example.com.ar>",
            "Mensaje no entregado: Pedido 4411",
            """Su mensaje para bob@example.com.ar todavía no se ha entregado: el servidor
de destino no responde. Se seguirá intentando durante 3 días.
""",
        ),
        "bob@example.com.ar",
        action="delayed",
    ),
    "delivery-delayed-portuguese": Case(
        notice(
            "Mail Delivery System <MAILER-DAEMON@mail.example.com.br>",
            "Mensagem não entregue: Pedido 4411",
            """Não foi possível entregar sua mensagem para bob@example.com.br por enquanto.
O servidor continuará tentando por mais 2 dias.
""",
        ),
        "bob@example.com.br",
        action="delayed",
    ),
    # Symantec AntiVirus for SMTP Gateways: "could not be delivered", then that the attempts
    # go on (flufl.bounce's simplewarning list, its simple_22)
    "symantec-attempts-will-continue": Case(
        notice(
            "Symantec_AntiVirus_for_SMTP_Gateways@mx.example.net",
            "Delivery failure notification",
            """Your message with Subject: Our December offers
could not be delivered to the following recipients:

bob@example.org

Please do not resend your original message.

Delivery attempts will continue to be made for 5  day(s).
""",
        ),
        "bob@example.org",
        action="delayed",
    ),
    # "This is an advisory-only email" ... "has been postponed" (flufl.bounce's simplewarning
    # list calls it Exchange's; its simple_35, whose sender is mangled as here)
    "advisory-only-postponed": Case(
        notice(
            "<Postmaster\\@example.net@mx.example.net>",
            "Mail Delivery Warning",
            """This is an advisory-only email.  Please do not reply to it.

Delivery of email to this address

"bob@example.org"

has been postponed due to a full mailbox.

We will continue to try to deliver your message over the next few days.
""",
        ),
        "bob@example.org",
        action="delayed",
    ),
    # the same warnings in their languages' other standard wordings (Italian's usual word
    # order, Japanese 配送 beside 配信, Korean 전송 beside 전달)
    "italian-not-yet-delivered": Case(
        notice(
            "Mail Delivery System <MAILER-DAEMON@mail.example.it>",
            "Avviso: messaggio non ancora recapitato",
            """Il messaggio non è stato ancora recapitato al destinatario:

  bob@example.it

Il server del destinatario non risponde. Il sistema continuerà a tentare la consegna per 5 giorni.
""",
        ),
        "bob@example.it",
        action="delayed",
    ),
    "japanese-not-yet-delivered": Case(
        notice(
            "MAILER-DAEMON@mail.example.jp",
            "【配送遅延】メールがまだ届いていません",
            """お送りいただいたメールは、まだ以下の宛先に配送されていません。

宛先: bob@example.jp

配送は引き続き試みます。再送の必要はありません。
""",
        ),
        "bob@example.jp",
        action="delayed",
    ),
    "korean-not-yet-delivered": Case(
        notice(
            "MAILER-DAEMON@mail.example.kr",
            "메일 전송 지연 안내",
            """보내신 메일이 아직 전달되지 않았습니다. 다시 보내실 필요는 없습니다.

받는 사람: bob@example.kr

시스템이 3일 동안 계속 전송을 시도합니다.
""",
        ),
        "bob@example.kr",
        action="delayed",
    ),
}


ALL = {**QMAIL_LIKE, **ADDRESS_FAILED, **PRODUCTS, **LANGUAGES, **WHERE, **WARNINGS}


@pytest.mark.parametrize("name", sorted(ALL))
def test_a_notice_gives_the_failed_recipient(name: str) -> None:
    check(ALL[name])


@pytest.mark.parametrize(
    ("failure", "unknown"),
    [
        ("Ihre E-Mail konnte nicht zugestellt werden.", "ist nicht bekannt (Benutzer unbekannt)."),
        ("Votre message n'a pas pu être remis.", "Destinataire inconnu."),
        ("Il messaggio non è stato recapitato.", "Motivo: utente inesistente."),
        ("No se ha podido entregar su mensaje.", "Motivo: usuario desconocido."),
        ("Sua mensagem não pôde ser entregue.", "Motivo: usuário inexistente."),
        ("Uw bericht kon niet worden afgeleverd.", "Reden: onbekende ontvanger."),
    ],
    ids=["de", "fr", "it", "es", "pt", "nl"],
)
def test_user_unknown_in_the_notices_language_is_the_rows_error_text(failure: str, unknown: str) -> None:
    """A line under the address that says "user unknown" in the notice's own language, with
    no reply code, is that recipient's error text (freenet's "(Benutzer unbekannt)")."""
    raw = notice(
        "MAILER-DAEMON@mail.example.net", "Mail delivery failed", f"{failure}\n\n  bob@example.org\n{unknown}\n"
    )
    (row,) = recognise(raw).recipients
    assert (row.address, row.action) == ("bob@example.org", "failed")
    assert unknown.rstrip(".").split(": ")[-1] in row.diagnostic, row


# ---- delivery-status reports without recipient blocks: the human-readable part names them ----


def blockless_report(sender: str, subject: str, text: str) -> bytes:
    """An RFC 3464 report whose delivery-status part has its per-message fields only."""
    head = f"From: {sender}\n" if sender else "Return-Path: <MAILER-DAEMON@mx.example.net>\n"
    head += f"Subject: {subject}\n" if subject else ""
    return (
        f"{head}To: {TRACKING}\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\n\n'
        f"--R\nContent-Type: text/plain\n\n{text}\n"
        "--R\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.net\nArrival-Date: Tue, 1 Dec 2026 10:00:00 +0100\n\n"
        f"--R\nContent-Type: message/rfc822\n\n{ORIGINAL}\n--R--\n"
    ).encode()


BLOCKLESS = {
    # Netscape Messaging Server: the heading once per recipient (flufl.bounce's netscape_01)
    "netscape-heading-per-recipient": (
        blockless_report(
            "Mail Administrator <Postmaster@mx.example.net>",
            "Mail System Error - Returned Mail",
            """This Message was undeliverable due to the following reason:

Your message was not delivered within 2 days.
Host example.org is not responding.

The following recipients did not receive your message:

     <bob@example.org>
The following recipients did not receive your message:

     <carol@example.org>
""",
        ),
        ["bob@example.org", "carol@example.org"],
    ),
    # MIMEsweeper: no From, no notice subject, the address under its heading (flufl's simple_13)
    "mimesweeper-no-subject": (
        blockless_report(
            "",
            "Utilisateur non recensé dans l'annuaire",
            "A message could not be delivered to:\nbob@example.org\n"
            "L'adresse de messagerie référencée ci-dessus n'existe pas.\n",
        ),
        ["bob@example.org"],
    ),
    # an "automatically generated Delivery Status Notification" (flufl's simple_31)
    "dsn-prose-list": (
        blockless_report(
            "Mail Delivery System <>",
            "Delivery status notification",
            "This is an automatically generated Delivery Status Notification.\n\n"
            "Delivery to the following recipients failed permanently:\n\n   * bob@example.org\n",
        ),
        ["bob@example.org"],
    ),
}


@pytest.mark.parametrize("name", sorted(BLOCKLESS))
def test_a_report_without_recipient_blocks_gives_those_its_text_names(name: str) -> None:
    raw, expected = BLOCKLESS[name]
    verdict = recognise(raw)
    assert verdict.kind is Kind.DSN
    assert sorted(r.address for r in verdict.failed) == expected


def test_a_report_without_recipient_blocks_naming_nobody_has_no_rows() -> None:
    raw = blockless_report("MAILER-DAEMON@mx.example.net", "Returned mail", "Your message could not be delivered.\n")
    verdict = recognise(raw.replace(b"To: bob@example.org\n", b""))
    assert verdict.kind is Kind.DSN
    assert not verdict.recipients


@pytest.mark.parametrize("newline", ["\r\n", "\r"], ids=["crlf", "cr"])
@pytest.mark.parametrize("name", ["hmailserver", "german", "address-failed-next-line"])
def test_line_endings_do_not_change_the_answer(name: str, newline: str) -> None:
    raw = ALL[name].raw
    assert recognise(raw.replace(b"\n", newline.encode())) == recognise(raw)


def test_a_notice_names_its_structural_sign() -> None:
    verdict = recognise(ADDRESS_FAILED["address-failed-next-line"].raw)
    (r,) = verdict.recipients
    assert r.rule.startswith("lhost/generic: address + error paragraph")


def test_several_failed_recipients_each_get_their_error() -> None:
    raw = notice(
        "MAILER-DAEMON@mx.example.net",
        "Undeliverable mail",
        """Delivery to the following recipients failed:

bob@example.org
   550 5.1.1 User unknown

carol@example.org
   552 5.2.2 Mailbox full
""",
    )
    rows = {r.address: r for r in recognise(raw).recipients}
    assert rows["bob@example.org"].reason == "userunknown"
    assert rows["carol@example.org"].reason == "mailboxfull"


def test_a_list_of_addresses_one_per_paragraph_are_all_failed() -> None:
    # qmail's "<address>:" blocks left without explanation under one heading (Sina's
    # notices, flufl.bounce's sina_01): each address of the list failed, not the first only
    raw = notice(
        "MAILER-DAEMON@mx.example.cn",
        "failure notice",
        """邮件无法发送到您指定的地址中。
在邮件传输过程中由于外部的无法避免的错误导致邮件无法送达。

<bob@example.org>:

<carol@example.org>:

--- 附件中的内容是原信件的一份拷贝
""",
        attach="message/rfc822",
    )
    assert sorted(r.address for r in recognise(raw).failed) == ["bob@example.org", "carol@example.org"]


def test_only_the_failed_recipient_of_a_to_line() -> None:
    verdict = recognise(PRODUCTS["exchange-2000"].raw)
    assert [r.address for r in verdict.recipients] == ["bob@example.org"]


def test_a_help_desk_address_is_no_recipient() -> None:
    raw = notice(
        "MAILER-DAEMON@mx.example.net",
        "Undeliverable mail",
        """Your message could not be delivered to bob@example.org: 550 5.1.1 user unknown.

For help, write to helpdesk@mx.example.net.
""",
    )
    assert [r.address for r in recognise(raw).recipients] == ["bob@example.org"]


@pytest.mark.parametrize(
    "contact",
    [
        # Postal's BounceMessage (its support address in place of the one below)
        "For further assistance please contact support@shop.example.com. Please include the details below.",
        "If you need help, please contact us at help@mx.example.net",
        "Please contact <postbox@mx.example.net> for assistance.",
    ],
)
def test_the_help_desk_a_notice_asks_you_to_contact_is_no_recipient(contact: str) -> None:
    # the notice names no failed address of its own: the returned message's To is the one
    raw = notice(
        "Mail Delivery Service <mailer-daemon@mx.example.net>",
        "Mail Delivery Failed (Our December offers)",
        f"""This is the mail delivery service responsible for delivering mail to example.org.

The message you've sent cannot be delivered. Your original message is attached to this message.

{contact}
""",
        attach="message/rfc822",
    )
    assert [r.address for r in recognise(raw).recipients] == ["bob@example.org"]


def test_the_address_in_the_subject_when_the_text_names_none() -> None:
    raw = notice(
        "MAILER-DAEMON@cgp.example.net",
        "Undeliverable mail: Failed to deliver to '<bob@example.org>'",
        "SMTP module(domain example.org) reports:\n host mx.example.org says:\n 550 5.1.1 Mailbox unknown\n",
    )
    (r,) = recognise(raw).recipients
    assert (r.address, r.action, r.status) == ("bob@example.org", "failed", "5.1.1")
    assert r.rule.startswith("lhost/generic: address in the subject")


def test_x_failed_recipients_comes_first() -> None:
    raw = notice(
        "MAILER-DAEMON@mx.example.net",
        "Undeliverable mail",
        "Delivery to carol@example.org was fine; bob@example.org failed: 550 5.1.1 user unknown\n",
        headers="X-Failed-Recipients: bob@example.org\n",
    )
    assert [r.address for r in recognise(raw).recipients] == ["bob@example.org"]


def test_a_summary_of_the_message_is_not_taken_for_the_returned_copy() -> None:
    # Date/From/To/Subject lines at the top summarise the message; the error comes after
    raw = notice(
        "MAILER-DAEMON@mx.example.net",
        "Undeliverable mail",
        """Date: Tue, 1 Dec 2026 10:00:00 +0100
From: news@shop.example.com
To: bob@example.org, carol@example.org
Subject: Our December offers

Undelivered message: delivery to carol@example.org failed.
Reason: 552 5.2.2 Mailbox full
""",
    )
    (r,) = recognise(raw).recipients
    assert (r.address, r.reason) == ("carol@example.org", "mailboxfull")


def test_a_message_id_in_the_prose_is_no_recipient() -> None:
    raw = notice(
        "MAILER-DAEMON@mx.example.net",
        "Undeliverable mail",
        "The message <20261201090000.12345@relay.example.com> could not be delivered to\n"
        "bob@example.org: 550 5.1.1 user unknown\n",
    )
    assert [r.address for r in recognise(raw).recipients] == ["bob@example.org"]


@pytest.mark.parametrize(
    "subject",
    [
        "Failed mail",
        "NDN: Our December offers",
        "Rejected: Our December offers",
        "Error in mail delivery",
        "Olevererbart: Our December offers",
        "=?utf-8?b?6YWN5L+h5LiN6IO9OiBPdXIgRGVjZW1iZXIgb2ZmZXJz?=",  # 配信不能: ...
    ],
)
def test_notice_subjects_of_other_servers(subject: str) -> None:
    # a sender that says nothing: the subject, the text and the code make the notice
    raw = notice(
        "Mail Gateway <gateway@corp.example.net>",
        subject,
        "Your message could not be delivered to bob@example.org: 550 5.1.1 user unknown\n",
    )
    (r,) = recognise(raw).recipients
    assert (r.address, r.action, r.status) == ("bob@example.org", "failed", "5.1.1")


def test_a_postmaster_is_never_the_recipient() -> None:
    # GroupWise names the failed user without domain; the only address is the postmaster's
    raw = notice(
        "Mail Delivery System <MAILER-DAEMON@gw.example.net>",
        "Message status - undeliverable",
        "The message that you sent was undeliverable to the following:\n\twbaker (user not found)\n\n"
        "Please contact postmaster@gw.example.net for help.\n",
    )
    mail = Mail.parse(raw)
    (row,) = generic.detect(mail) or []
    assert (row.address, row.pattern) == ("", "notice without recipient")
    assert "user not found" in row.diagnostic


def test_which_of_several_summary_recipients_failed_is_left_to_the_caller() -> None:
    # Exchange names the failed one by display name only; its summary lists both
    raw = notice(
        "System Administrator <postmaster@corp.example.net>",
        "Undeliverable: Our December offers",
        """Your message

  To:      bob@example.org; alice@example.org
  Subject: Our December offers

did not reach the following recipient(s):

Bob Smith on Tue, 1 Dec 2026 10:00:05 +0100
            The recipient name is not recognized
""",
    )
    (row,) = generic.detect(Mail.parse(raw)) or []
    assert row.address == ""
    assert "not recognized" in row.diagnostic


@pytest.mark.parametrize(
    "body",
    [
        " ".join(f"u{i}@example.org" for i in range(20000)),  # one endless line
        "bob@example.org\n" * 30000,  # one address, mentioned without end
        "".join(f"u{i}@example.org\n  550 5.1.1 user unknown\n\n" for i in range(3000)),
    ],
    ids=["long-line", "repeated-address", "thousands-of-rows"],
)
def test_a_hostile_notice_gives_a_bounded_answer(body: str) -> None:
    raw = notice("MAILER-DAEMON@mx.example.net", "Undeliverable mail", "could not be delivered 550\n" + body)
    verdict = recognise(raw)
    assert verdict.kind is Kind.BOUNCE
    assert 1 <= len(verdict.recipients) <= generic.MAX_CANDIDATES


def test_a_notice_without_recipient_gives_its_error_text() -> None:
    mail = Mail.parse(
        notice(
            "MAILER-DAEMON@mx.example.net",
            "Undeliverable mail",
            "Your message could not be delivered.\n\nReason: 552 5.2.2 mailbox quota exceeded\n",
        )
    )
    (row,) = generic.detect(mail) or []
    assert row.address == ""
    assert "quota exceeded" in row.diagnostic
    assert row.pattern == "notice without recipient"


def test_a_long_transcript_gives_its_failure_reply_not_its_head() -> None:
    # MDaemon's "--- Session Transcript ---", one timestamped line per step, refused at MAIL
    # FROM: the address is only in the transcript's echo of the headers, far above the reply
    steps = "".join(f" Tue 2026-12-01 10:02:16.{i:03d}: Resolving step {i} for [example.org]...\n" for i in range(12))
    raw = notice(
        "MDaemon@mail.example.net",
        "Permanent Delivery Failure",
        "The attached message had PERMANENT fatal delivery errors!\n\n"
        "--- Session Transcript ---\n"
        " Tue 2026-12-01 10:02:16.203: *  To: bob@example.org\n"
        f"{steps}"
        " Tue 2026-12-01 10:02:16.375: <-- 250 8BITMIME\n"
        " Tue 2026-12-01 10:02:16.375: --> MAIL From:<news@shop.example.com> SIZE=15897344\n"
        " Tue 2026-12-01 10:02:16.406: <-- 552 5.3.4 Message size exceeds fixed limit\n"
        " Tue 2026-12-01 10:02:16.406: --> QUIT\n"
        "--- End Transcript ---\n",
        attach=ORIGINAL,
    )
    (r,) = recognise(raw).recipients
    assert (r.address, r.status, r.reason) == ("bob@example.org", "5.3.4", "mesgtoobig")


# ---- what must not be claimed ---------------------------------------------------------------

NOT_NOTICES = {
    "human-parcel": f"""From: Kim Lee <kim@example.org>
To: {TRACKING}
Subject: Re: Our December offers

Sorry, I could not deliver the parcel to bob@example.org yesterday: nobody was home.
The delivery failed, I will try again on Monday.
""",
    "human-forwarding-prose": f"""From: Kim Lee <kim@example.org>
To: {TRACKING}
Subject: Re: Undeliverable: Our December offers

Hi, your mail to bob@example.org was rejected, his mailbox is full. Try carol@example.org.
""",
    "parcel-newsletter": f"""From: Parcel Service <noreply@parcels.example.com>
To: {TRACKING}
Subject: Delivery failed: we could not deliver your parcel

Dear customer, your parcel could not be delivered today.
Please contact support@parcels.example.com or book a new delivery date.
""",
    "delivery-receipt": f"""From: postmaster@mail.example.org
To: {TRACKING}
Subject: Delivery Status Notification (Success)

This is an automatically generated Delivery Status Notification.

Your message has been successfully delivered to the following recipients:

       bob@example.org
""",
    "relayed-receipt": f"""From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@corp.example.net>
To: {TRACKING}
Subject: Relayed: Our December offers

Delivery to these recipients or groups is complete, but no delivery notification was sent by
the destination server:

bob@example.org (bob@example.org)
""",
    "read-receipt": f"""From: Bob <bob@example.org>
To: {TRACKING}
Subject: Read: Our December offers

Your message was read on Tuesday, 1 December 2026 10:30:00.
""",
    "deliverability-newsletter": f"""From: Deliverability Weekly <news@news.example.com>
To: {TRACKING}
Subject: This week: why your mail bounces (550 5.1.1, mailbox full)
List-Unsubscribe: <https://news.example.com/u/1234>
List-Id: Deliverability Weekly <weekly.news.example.com>
Precedence: bulk

1. Undeliverable: what the NDR really says. "550 5.1.1 User unknown" means the address
   does not exist; "552 5.2.2 Mailbox full" is a soft bounce. Write to editor@news.example.com.
""",
    "newsletter-from-a-mailer-address": f"""From: Shop Mailer <mailer@shop.example.com>
To: {TRACKING}
Subject: Delivery failed? Check your address book
List-Unsubscribe: <https://shop.example.com/u/1>

Mail delivery failed for some customers last week (550 5.1.1 user unknown).
Check that the address you gave us, bob@example.org, is still valid.
""",
    "notice-words-without-address-from-a-person": f"""From: Kim Lee <kim@example.org>
To: {TRACKING}
Subject: Undeliverable mail

Your message could not be delivered: 550 5.1.1 user unknown. I do not know why.
""",
    "list-moderation": f"""From: announce-owner@lists.example.org
To: {TRACKING}
Subject: Your message to Announce awaits moderator approval

Your mail to 'Announce' with the subject Our December offers is being held
until the list moderator can review it for approval.
""",
}


@pytest.mark.parametrize("name", sorted(NOT_NOTICES))
def test_not_a_notice(name: str) -> None:
    raw = NOT_NOTICES[name].encode()
    assert generic.detect(Mail.parse(raw)) is None
    verdict = recognise(raw)
    assert verdict.kind is Kind.OTHER
    assert not verdict.failed


@pytest.mark.parametrize(
    ("subject", "sentence", "action"),
    [
        # MMDF's wording: "fully" delivered, and its attempts "to deliver the message" go on
        ("Waiting mail  (msg.aa01234)", "After 2 days (51 hours), your message has not yet been fully delivered.", "delayed"),
        ("Waiting mail  (msg.aa01234)", "Attempts to deliver the message will continue for 5 more days.", "delayed"),
        ("Failed mail  (msg.aa01234)", "After 7 days (168 hours), your message could not be fully delivered.", "failed"),
    ],
)  # fmt: skip
def test_a_notice_that_says_fully_delivered_or_not(subject: str, sentence: str, action: str) -> None:
    body = f"    {sentence}\n\n    The following address(es):\n\n        k@example.org (host: example.org) (queue: smtp)\n\n"
    verdict = recognise(notice("MMDF Mail System <mmdf@relay.example.edu>", subject, body, attach="message/rfc822"))
    assert [(r.address, r.action) for r in verdict.recipients] == [("k@example.org", action)]
