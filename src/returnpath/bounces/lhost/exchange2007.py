"""Microsoft Exchange 2007 and later, Exchange Online (Office 365) and Outlook.com, as text.

These servers normally attach a delivery-status part; when it is missing (a relay dropped
it, or only the text was kept) the human-readable part still carries everything::

    Delivery has failed to these recipients or groups:

    kijitora@example.com<mailto:kijitora@example.com>
    The email address wasn't found at the destination domain. ...

    Diagnostic information for administrators:

    Generating server: FFFFFFFFFFFF.e0.prod.outlook.com

    kijitora@example.com
    Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found
    by SMTP address lookup'

    Original message headers:

Under "Diagnostic information for administrators" each recipient is an address on its own
line followed by the reply: "Remote Server returned '...'" (Exchange 2010+) or
"#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##" (Exchange 2007). The RESOLVER.* and
STOREDRV.* tokens are Exchange's own component codes; the status before them is the one to
report. The heading is translated with the rest of the report; the usual translations are
listed.

The delay notification ("Delivery delayed:") has the same section, its reply "400 4.4.7
Message delayed"; its text above says so ("Delivery is delayed to these recipients or
groups" in Exchange 2013/2016, "Delivery has been delayed to ..." in Exchange Online, "This
message hasn't been delivered yet. Delivery will continue to be attempted.", and their
translations: learn.microsoft.com "DSNs and NDRs in Exchange Server", "Fix NDR error 4.4.7"):
those recipients are delayed, not failed.
"""

from __future__ import annotations

import re

from .. import notice, regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, detector, found, sections, text

NAME = "exchange2007"
_DIAGNOSTIC = regex.compile(
    r"^[ \t]*(?:Diagnostic information for administrators|"
    r"Informations de diagnostic pour les administrateurs|"
    r"Diagnoseinformationen für Administratoren|"
    r"Información de diagnóstico para administradores|"
    r"Informazioni di diagnostica per gli amministratori|"
    r"Informações de diagnóstico para administradores|"
    r"Diagnostische gegevens voor beheerders|"
    r"管理者向けの診断情報|管理員診斷資訊|管理员的诊断信息)\s*[:：]",
    re.MULTILINE | re.IGNORECASE,
)
_END = regex.compile(
    r"^[ \t]*(?:Original message headers|En-têtes de message d'origine|"
    r"Ursprüngliche Nachrichtenkopfzeilen|Encabezados del mensaje original|"
    r"元のメッセージ ヘッダー|Received:|Return-Path:)",
    re.MULTILINE | re.IGNORECASE,
)
_RECIPIENT = regex.compile(r"^[ \t]*<?(" + ADDRESS.pattern + r")>?(?:<mailto:[^>]*>)?[ \t]*$", re.MULTILINE)
# The quoted reply ends at a quote closing its line: replies have apostrophes of their own
# ("550 5.1.90 Your message can't be sent because you've reached your daily limit ...",
# learn.microsoft.com "Fix NDR error 5.1.90"; "weren't sent", "doesn't meet")
_REPLY = regex.compile(
    r"Remote Server returned '(.*?)'[ \t]*$|#([245]\d\d .*?)\s*##|"
    r"^[ \t]*([245]\.\d+\.\d+ [^\n]*)$",
    re.DOTALL | re.IGNORECASE | re.MULTILINE,
)
_SERVER = regex.compile(r"Generating server:\s*([\w.-]+)", re.IGNORECASE)


_COULDNT = regex.compile(
    r"Your message to (" + ADDRESS.pattern + r") couldn't be delivered\.\s*\n"
    r"\s*(.*)"
)
# The same layout's "More Info for Email Admins" ends with the reply itself under "Error
# Details": "Reported error: 550 5.1.10 RESOLVER.ADR.RecipientNotFound; ..." (Exchange Online's
# own) or "Error: 550 5.7.1 ..." above "Message rejected by: <the remote host>"
# (learn.microsoft.com, "Fix NDR error 550 5.1.10", "Fix NDR error 5.2.2 in Exchange Online")
_REPORTED = regex.compile(r"^[ \t]*(?:Reported error|Error):[ \t]*([245]\d\d\b[^\n]*)$", re.MULTILINE)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    start = _DIAGNOSTIC.search(body)
    if not start:
        # Office 365's layout since 2017 opens "Your message to a@b couldn't be delivered." and
        # says why on the next line ("a wasn't found at b."), the reply under "Error Details"
        # (one recipient to a report: the reply is that recipient's)
        rows = [(m.group(1), m.group(2)) for m in _COULDNT.finditer(body)]
        reported = _REPORTED.search(body)
        if len(rows) == 1 and reported:
            return [found(rows[0][0], reported.group(1), "Your message to ... couldn't be delivered; Error Details")]
        return [found(a, said, "Your message to ... couldn't be delivered") for a, said in rows] or None
    action = "delayed" if notice.is_warning(mail.subject, body[: start.start()]) else "failed"
    section = body[start.end() :]
    end = _END.search(section)
    section = section[: end.start()] if end else section
    out = []
    for h, block in sections(_RECIPIENT, section):
        said = _REPLY.search(block)
        if not said:
            continue
        words = next(g for g in said.groups() if g)
        out.append(
            found(
                h.group(1),
                words,
                "Remote Server returned" if said.group(1) else "#reply##" if said.group(2) else "status line",
                action=action,
            )
        )
    return out


DETECTOR = detector(NAME, detect)
