"""Challenge/response messages: "please confirm you are a person before I accept your mail".

Some recipients run a filter that holds every message from an unknown sender and mails the
sender a challenge (Boxbe, Spam Arrest, Mailinblack, ChoiceMail, Sendio, EarthLink's
spamBlocker, qconfirm and TMDA on Unix hosts, "sender verification" services of ISPs). The
message was not refused: it waits for an answer, and a marketing sender never gives one.
Such a challenge is no failure: `recognise` reads it as `Kind.OTHER`, without recipients —
also when it wraps a delivery-status part that says `Action: failed`, as some of these
services do to look like a bounce.

Only strong signs count, so that a real report is never taken for a challenge:

- the name of a challenge/response product in the header block or the text, with a word of
  verifying (verify, confirm, approve, guest list, whitelist...);
- a sentence that asks the sender to prove they are a person or to confirm their message
  ("confirm that you are a human", "your message is held until you verify your address",
  "add you to my guest list"), together with the way to do it (a link, "reply to this").

A remote server's "Sender verify failed" (a callout that failed) is a refusal, not a
challenge: it is none of these sentences.

A quarantine digest is the other side of the same hold: a filter's summary, to a mailbox or
its admin, of the messages it keeps for them until someone releases them (Proofpoint's "End
User Digest", Microsoft 365's "You have messages in quarantine", Barracuda's and SpamTitan's
"Quarantine Summary/Report", Cisco's "Spam Quarantine Notification", Mimecast's "Hold
Summary"). Its lines name other senders next to "blocked" and "not delivered", so it looks
like a notice; it is `Kind.OTHER` (`is_quarantine_digest`), known by its subject and its
offer to release. A filter's notice to the *sender* that his message was quarantined is a
refusal, and has neither.
"""

from __future__ import annotations

import re

from .mail import Mail

MAX_TEXT = 2048  # characters of the text searched: a challenge says what it wants first

# Products, as they name themselves in their sender, subject, software headers or text.
_PRODUCTS = (
    "boxbe",
    "spamarrest",
    "spam arrest",
    "mailinblack",
    "mail in black",
    "choicemail",
    "sendio",
    "spamblocker",
    "qconfirm",
    "tmda",
    "bluebottle",
    "mailwasher",
    "x-challenge",
)
# Headers where a product names itself (TMDA: "X-Delivery-Agent: TMDA/1.1.12").
_NAMING_HEADERS = ("from", "subject", "x-delivery-agent", "x-mailer", "user-agent")
_VERIFYING = re.compile(  # searched in the lower-cased text
    r"verif|confirm|approv|authenti|guest ?list|white ?list|allow ?list|human|humain|valider|"
    r"best[äa]tig|freigeben|consent|accept (?:your|mail)",
    re.IGNORECASE,
)
# Sentences that ask the sender to prove something, each with the words one of which it
# contains: the cheap test that spares the expression on ordinary mail.
_ASKS: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = tuple(
    (gates, re.compile(pattern))
    for gates, pattern in (
        (
            ("human", "person", "robot", "spammer"),
            r"(?:confirm|verify|prove|show)\s+(?:to us\s+)?(?:that\s+)?you(?:'re| are)\s+(?:a\s+)?"
            r"(?:human|real (?:person|human)|person|not an? (?:robot|spammer|machine|computer|program))",
        ),
        (("challenge",), r"challenge[- /]response"),
        (
            # (not "quarantined": a filter's quarantine is a refusal the DSN reader reads)
            ("held", "on hold", "pending"),
            r"(?:your|this|the) (?:message|e-?mail|mail)\b[^.\n]{0,60}\b(?:is|has been|was|will be) (?:being )?"
            r"(?:held|kept|placed on hold|pending|on hold)\b[\s\S]{0,160}?(?:verif|confirm|authenti|approv)",
        ),
        (
            ("verify your", "confirm your", "authenticate your", "validate your", "verify that", "confirm that"),
            r"(?:verify|confirm|authenticate|validate) (?:your (?:e-?mail )?address|your (?:e-?mail|message|identity)|"
            r"that you (?:sent|are the sender))",
        ),
        (
            ("guest", "whitelist", "white list", "allow", "approved", "trusted"),
            r"(?:add|added|adding) (?:you )?to (?:my|the|our) (?:guest|white|allow(?:ed)?|approved|trusted)[- ]?"
            r"(?:list|senders)",
        ),
        (("sender verification",), r"sender verification (?:request|required|needed|process|system)"),
        (
            ("requires you", "asks you", "needs you", "asking you", "requires senders"),
            r"(?:anti-?spam|spam[- ]?(?:filter|protection|blocker|control)) (?:system |service |software |program )?"
            r"(?:requires|asks|needs|is asking) (?:you|senders)",
        ),
        (
            ("humain", "robot", "valider votre", "confirmer votre", "authentifier votre"),
            r"confirmer que vous (?:[êe]tes|etes) (?:une? )?(?:humain|personne)|n'[êe]tes pas un robot|"
            r"(?:valider|confirmer|authentifier) votre (?:adresse|message|envoi|e-?mail)",
        ),
        (
            ("mensch", "bestätigen", "bestatigen"),
            r"best[äa]tigen sie,? dass sie (?:ein )?mensch|(?:absender|ihre (?:e-?mail-?)?adresse) (?:zu )?best[äa]tigen",
        ),
        (
            # the German of the held-until-you-confirm sentence above ('Ihre Nachricht an
            # <address> wurde zurückgehalten ... bitte bestätigen Sie'), and of 'confirm that
            # you sent it'
            ("zurückgehalten", "angehalten", "gesendet haben", "geschickt haben"),
            r"(?:ihre|diese|die) (?:nachricht|e-?mail|mail)\b[^\n]{0,80}?\b(?:wurde|wird|ist) (?:\w+ )?"
            r"(?:zur[üu]ckgehalten|angehalten)\b[\s\S]{0,160}?(?:best[äa]tig|freigeb)|"
            r"best[äa]tigen sie[^.\n]{0,40}, dass sie (?:die|diese) (?:nachricht|e-?mail|mail) "
            r"(?:gesendet|geschickt|verschickt) haben",
        ),
        (("humano", "verifica"), r"confirme que eres (?:un )?humano|verifica (?:tu|su) (?:direcci[óo]n|mensaje)"),
    )
)
_HOW = re.compile(
    r"click|klick|cliqu|haga clic|fare clic|reply to this|respond to this|simply reply|just reply|"
    r"follow (?:the|this) link|visit|https?://|r[ée]pondez|antworten sie|responda|"
    r"send an empty (?:message|e-?mail)|reply\W? (?:feature|button)",
    re.IGNORECASE,
)


# Stems one of which every challenge has (it asks to verify, confirm, approve...): the
# cheap test that lets ordinary mail through without the expressions.
_STEMS = (
    "verif",
    "confirm",
    "approv",
    "authenti",
    "human",
    "humain",
    "challenge",
    "valide",
    "validar",
    "bestätig",
    "guest list",
    "whitelist",
)


def sign(mail: Mail) -> str | None:
    """What marks `mail` as a challenge ("product", "request"), or None."""
    low = mail.body[:MAX_TEXT].lower()  # not mail.lower_body: a DSN's detectors never need it all lowered
    if not any(stem in low for stem in _STEMS):
        return None  # the usual case (the subject is not read: a DSN has no other need of it)
    low = mail.subject.lower() + "\n" + low
    head = " ".join(mail.header(name) for name in _NAMING_HEADERS).lower()
    named = any(p in low or p in head for p in _PRODUCTS)
    if named and _VERIFYING.search(low) and _HOW.search(low):
        return "product"
    for gates, pattern in _ASKS:
        if any(gate in low for gate in gates) and pattern.search(low) and _HOW.search(low):
            return "request"
    return None


def is_challenge(mail: Mail) -> bool:
    return sign(mail) is not None


# A digest's subject (after the product's name, if any): the families above.
_DIGEST_SUBJECT = re.compile(
    r"\b(?:(?:spam |e-?mail )?quarantine (?:report|summary|digest)|spam quarantine notification|"
    r"end user digest|hold (?:summary|digest)|you have (?:\d+ )?(?:new )?messages? (?:held )?in (?:your )?quarantine)",
    re.IGNORECASE,
)
# The offer every digest makes for each held message.
_RELEASE = re.compile(r"\brelease\b|\bdeliver\b|freigeben|lib[ée]rer|liberar|rilascia", re.IGNORECASE)


def is_quarantine_digest(mail: Mail) -> bool:
    """A quarantine filter's digest of the mail it holds for a mailbox (see the docstring)."""
    return bool(_DIGEST_SUBJECT.search(mail.subject)) and bool(_RELEASE.search(mail.body[:MAX_TEXT]))
