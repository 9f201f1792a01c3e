"""The last detector: failure and delay notices of any software, read by their structure.

Many servers never wrote RFC 3464 reports and have no detector of their own here: qmail's
ISP rebrands, Novell GroupWise, old AOL, MSN and Yahoo, Exchange 5.5/2000, Netscape/iPlanet,
MDaemon, Kerio, IceWarp/Merak, CommuniGate, Mercury, hMailServer, SmarterMail, Zimbra,
Axigen, XMail, PMDF, Lotus... Their notices differ in wording but share a shape: a mail
system sends them, under a subject of a few well-known families, about an address next to
an error text, often with a reply code and a copy of the returned message. This detector
reads that shape, not the words of one product, so it runs after every per-software one.

Evidence, counted in points (see `notice.py` for the vocabularies):

- the sender is a mail system (MAILER-DAEMON, postmaster, "Mail Delivery Subsystem", a
  null return path): 2;
- the subject is a failure or delay notice's, in any of the common languages (not a reply
  prefixed "Re:"): 2;
- the notice's text has a failure or delay sentence ("could not be delivered", "has not yet
  been delivered", "Unzustellbar", "退信"...): 1; a mail-system term (mailbox, user unknown,
  SMTP, quota...): 1; an SMTP reply code or enhanced status: 1;
- a returned copy of the message (attached, or inline after "Original message follows",
  or as a block of its header lines): 1; an address next to an error text: 1.

A notice is claimed with 5 points, one of which is the sender or the subject, and some
failure sentence, term or code. A person's "sorry, I could not deliver the parcel" has
neither a mail-system sender nor a notice's subject; a newsletter that borrows the subject
lacks the rest. A delivery or read receipt ("was delivered to", "was read on") is not
claimed. Challenge/response messages are set apart before any detector (`challenge.py`).

The recipient is the address that failed, by the surest sign there is: X-Failed-Recipients;
else the addresses of the notice's own text (before the returned copy) next to an error text
(on their line, below, or as the heading of their list), never the notice's sender, its To
(our tracking address), the returned message's sender or Message-ID, a sender named in the
prose ("not accepting mail from <a>"), nor a postmaster, MAILER-DAEMON or abuse mailbox, nor
the help desk the reader is asked to contact ("please contact support@..."); else
an address in the subject; else the one address of the notice's "To:" summary (Exchange's
"Your message To: ... did not reach the following recipient(s): Bob Smith") or of a help
desk; else the returned message's only To. Each row's diagnostic is its own error text, with
the notice's error paragraphs after it when that has no reply code. A mail system's notice
that names no address, or several of which it cannot tell the failed one, gives one row
without address and with the error text: `recognise` attaches it to the delivery's own
recipient when the caller knows it.

The notice sometimes comes as an attachment (a help desk or a filter forwards it, or a server
puts its report in an attached message): an attached message written by a mail system is
offered to every detector, this one last.
"""

from __future__ import annotations

import re

from .. import notice, regex
from ..mail import Mail, clean_address
from ..rules import Found
from ._text import ADDRESS, detector, found, reply

NAME = "generic"
CLAIM = 5  # points a notice needs (see the module docstring)
MAX_TEXT = 16 * 1024  # characters of the text read: a notice says what went wrong first
MAX_LINES = 8  # lines of error text kept after an address
MAX_DIAGNOSTIC = 500  # characters of a row's error text
MAX_LINE = 1000  # characters of a line read: a notice's lines are short; the rest is payload
MAX_CANDIDATES = 100  # addresses weighed: a notice is about one delivery, rarely many
MAX_MENTIONS = 10  # mentions of one address weighed (its list line, transcript, reply...)
# the structural signs of rows whose address the notice's own text names
NAMED_IN_TEXT = ("address + error paragraph", "address + notice text")

# Terms only mail systems use in an error text.
MAIL_TERMS = regex.compile(
    r"mailbox|mail ?box|user ?unknown|unknown (?:user|recipient)|no such (?:user|recipient|address)|"
    r"recipient address|e-?mail (?:address|account)|\bsmtp\b|\bmx\b|mail ?server|mail exchanger|"
    r"remote (?:host|server|system)|over ?quota|quota|relay(?:ing)? (?:denied|not permitted)|"
    r"\bdns\b|domain|postfach|empf[äa]nger|destinataire|bo[îi]te aux lettres|buz[óo]n|destinatario|"
    r"casella|ontvanger|postvak|caixa postal|почтов|адресат|メールボックス|宛先|邮箱|信箱|收件人|"
    # "mailbox" and "recipient" in the languages of the regional providers' notices (blind
    # batch 28): Russian/Ukrainian ящик, получатель, скринька, одержувач; Turkish posta kutusu,
    # alıcı; Polish skrzynka, odbiorca; Czech schránka, adresát/příjemce; Hungarian postafiók,
    # címzett; Greek γραμματοκιβώτιο, παραλήπτης; Romanian cutia/căsuța poștală, destinatar;
    # Indonesian/Malay kotak surat/mel, penerima; Arabic صندوق البريد, المستلم; Hebrew תיבת
    # הדואר, נמען; Persian صندوق پستی, گیرنده
    r"ящик|получател|скриньк|одержувач|posta kutusu|\bal[ıi]c[ıi](?:n[ıi]n)?\b|skrzynk|odbiorc|schr[áa]nk|"
    r"adres[áa]t|p[řr][íi]jemc|postafi[óo]k|c[íi]mzett|γραμματοκιβ|παραλήπτ|po[șşs]tal[ăa]|destinatar|"
    r"kotak (?:surat|mel)|penerima|صندوق البريد|المستلم|תיבת הדואר|נמען|صندوق پستی|گیرنده",
    re.IGNORECASE,
)
# Lines whose addresses are no recipients: Message-IDs, trace lines.
_NOT_RECIPIENT_LINE = regex.compile(
    r"message[- ]?id|msg-?id|in-reply-to|references:|queue[- ]id|^\s*(?:id|received|by|from)\b\s*[:<]?",
    re.IGNORECASE,
)
# "To:" lines of the notice's summary of the message: weak (the list of all recipients).
_TO_LINE = regex.compile(r"(?:^|\*)\s*(?:to|cc|bcc|an|à|a|para|aan|til|till|kopie|destinataire)s?\s*:", re.IGNORECASE)
# "From:" lines of the same summary: the sender, never a recipient.
_FROM_LINE = regex.compile(
    r"(?:^|\*)\s*(?:from|von|de|da|van|sender|sent by|reply-to|return-path|envelope-from|mail from|absender)\s*:",
    re.IGNORECASE,
)
# Mailboxes of mail systems, never the failed recipient ("please contact postmaster@...").
_SYSTEM = regex.compile(r"^(?:postmaster|mailer-?daemon|hostmaster|abuse|noc|root|bounces?)@", re.IGNORECASE)
# Help desks named in notices: a recipient only when no other address is there.
_ROLE = regex.compile(
    r"^(?:webmaster|helpdesk|help-?desk|support|help|security|mail-?admin|administrator|no-?reply|do-?not-?reply)@",
    re.IGNORECASE,
)
_OWN_HEADERS = (
    "to",
    "cc",
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "x-envelope-to",
    "apparently-to",
    "return-path",
    "reply-to",
    "sender",
    "errors-to",
)
_COPY_SENDERS = regex.compile(r"^(?:from|sender|return-path|reply-to|errors-to|message-id):[ \t]*(.*)$", re.I | re.M)
_COPY_TO = regex.compile(r"^to:[ \t]*(.*(?:\n[ \t]+.*)*)$", re.IGNORECASE | re.MULTILINE)


def _points(own: str, daemon: bool, titled: bool, copied: bool) -> tuple[int, bool]:
    """(points of evidence, is there any failure/delay sentence, term or code)."""
    sentence = bool(notice.FAILURE_TEXT.search(own) or notice.WARNING_TEXT.search(own))
    term = bool(MAIL_TERMS.search(own))
    coded = _coded(own)
    points = 2 * daemon + 2 * titled + sentence + term + coded + copied
    return points, sentence or term or coded


def _excluded(mail: Mail, copy_head: str) -> set[str]:
    """Addresses that are not the failed recipient: ours, the notice's, the copy's sender."""
    out = {mail.sender}
    for name in _OWN_HEADERS:
        value = mail.header(name)
        if value:
            out.update(a.lower() for a in ADDRESS.findall(value))
    for m in _COPY_SENDERS.finditer(copy_head):
        out.update(a.lower() for a in ADDRESS.findall(m.group(1)))
    out.discard("")
    return out


def _copy_head(mail: Mail, inline_copy: str) -> str:
    """The header block of the returned message, attached or pasted inline."""
    head = mail.original or inline_copy.lstrip()
    if not mail.original:
        # an inline copy starts with a marker line, then its header lines
        lines = head.split("\n")
        start = next((i for i, ln in enumerate(lines) if notice.HEADER_LINE.match(ln)), len(lines))
        head = "\n".join(lines[start:])
    return head.split("\n\n", 1)[0]


def _coded(text: str) -> bool:
    """`text` has an SMTP reply code or enhanced status of a failure or delay."""
    code, status = reply(text)
    return bool((code and code >= 400) or (status and status[0] in "45"))


def _errorish(text: str) -> bool:
    return bool(
        notice.FAILURE_TEXT.search(text) or notice.WARNING_TEXT.search(text) or MAIL_TERMS.search(text) or _coded(text)
    )


def _says_failure(text: str) -> bool:
    return bool(notice.FAILURE_TEXT.search(text) or notice.WARNING_TEXT.search(text))


def _others(line: str, stop: set[str], address: str) -> bool:
    """`line` names another candidate: the next recipient's paragraph begins."""
    return any(a.lower() in stop and a.lower() != address for a in ADDRESS.findall(line))


def _paragraph(lines: list[str], j: int, step: int, stop: set[str], address: str) -> tuple[str, int]:
    """The lines from `j` on (backwards when `step` is -1) up to a blank line or another
    candidate's line, joined; and where it stopped."""
    chunk: list[str] = []
    while 0 <= j < len(lines) and lines[j].strip() and len(chunk) < MAX_LINES:
        if _others(lines[j], stop, address):
            break
        chunk.append(lines[j].strip())
        j += step
    return " ".join(chunk if step > 0 else reversed(chunk)), j


def _skip_blank(lines: list[str], j: int, step: int) -> int:
    while 0 <= j < len(lines) and not lines[j].strip():
        j += step
    return j


def _after(lines: list[str], i: int, stop: set[str], address: str) -> str:
    """The error text below the address on line `i`: the lines that follow it, and the next
    paragraph too when they give no reply code and it does (the address on a line of its own,
    the reason or the remote server's reply below)."""
    text, j = _paragraph(lines, i + 1, 1, stop, address)
    if _coded(text) or j >= len(lines) or lines[j].strip():
        return text
    extra, _ = _paragraph(lines, _skip_blank(lines, j, 1), 1, stop, address)
    if _coded(extra) or (not _errorish(text) and _says_failure(extra)):
        return (text + " " + extra).strip()
    return text


def _before(lines: list[str], i: int, stop: set[str], address: str) -> tuple[str, bool]:
    """The error text above the address on line `i`: (text, is it on the line just above)."""
    if i and lines[i - 1].strip():
        return _paragraph(lines, i - 1, -1, stop, address)[0], True
    return _paragraph(lines, _skip_blank(lines, i - 1, -1), -1, stop, address)[0], False


def _error_paragraph(own: str) -> str:
    """The notice's paragraphs that say what went wrong (for a row without its own text):
    those with a reply code first, then those with a failure sentence or a mail term."""
    coded: list[str] = []
    worded: list[str] = []
    for para in re.split(r"\n[ \t]*\n", own):
        lines = para.split("\n")
        para = " ".join(para.split())
        if para and _coded(para):
            if len(para) > MAX_DIAGNOSTIC:
                # a long paragraph with reply codes is a session transcript or a log (MDaemon's
                # "--- Session Transcript ---", one timestamped line per step): what went wrong
                # is in its lines with a failure reply ("<-- 552 5.3.4 ..."), not in its head
                para = " ".join(" ".join(ln.split()) for ln in lines if _coded(ln)) or para
            coded.append(para)
        elif para and _errorish(para):
            worded.append(para)
    return " ".join((coded + worded)[:3])[:MAX_DIAGNOSTIC]


# A sender named in the notice's prose ("not accepting mail from <news@...>"), or a
# Message-ID ("the message <2026...@relay.example.com> could not be delivered").
_SENT_FROM = regex.compile(
    r"(?:\bfrom|\bsender|\babsender|\bvon|exp[ée]diteur|remitente|\bmessage(?:[- ]?id)?|msg-?id)"
    r"\s*[:=]?\s*[<'\"(\[]*$",
    re.IGNORECASE,
)

# A help desk the notice sends the reader to ("For further assistance please contact
# support@example.io", Postal's BounceMessage; "please contact us at help@..."): whoever
# it is, it is not the address that failed.
_CONTACT = regex.compile(r"\bplease\s+contact(?:\s+us)?(?:\s+(?:at|on|via))?\s*[:<'\"(\[]*$", re.IGNORECASE)


def _candidates(own: str, excluded: set[str]) -> list[tuple[int, str, str]]:
    """(rank, address, error text) for each address of the notice's text; lower rank is
    better: 0 with an error text on its line, below it or on the line above; 1 with one in
    the paragraph above; 2 alone; 3 to 5 the same for an address in a "To:" line or a help
    desk's. Mail systems' own mailboxes (postmaster@, MAILER-DAEMON@) are left out."""
    lines = [line[:MAX_LINE] for line in own.split("\n")]
    found_at: dict[str, tuple[tuple[int, bool], str]] = {}
    per_line: list[list[str]] = []
    seen: set[str] = set()
    for line in lines:
        named: dict[str, None] = {}
        if len(seen) < MAX_CANDIDATES and not (_NOT_RECIPIENT_LINE.search(line) or _FROM_LINE.match(line)):
            for m in ADDRESS.finditer(line):
                address = clean_address(m.group(0))
                if (
                    address
                    and address not in excluded
                    and not _SYSTEM.match(address)
                    and not _SENT_FROM.search(line[max(0, m.start() - 40) : m.start()])
                    and not _CONTACT.search(line[max(0, m.start() - 40) : m.start()])
                ):
                    named.setdefault(address, None)
            seen.update(named)
        per_line.append(list(named))
    stop = {a for addrs in per_line for a in addrs}
    mentions: dict[str, int] = {}
    listed: dict[int, tuple[int, str]] = {}  # lines that name one address and nothing else
    for i, addrs in enumerate(per_line):
        for address in addrs:
            mentions[address] = mentions.get(address, 0) + 1
            if mentions[address] > MAX_MENTIONS:
                continue
            weak = bool(_TO_LINE.match(lines[i]) or _ROLE.match(address))
            here = re.sub(re.escape(address), " ", lines[i], flags=re.IGNORECASE).strip()
            after = _after(lines, i, stop, address)
            if after.endswith(":") and not _coded(after):
                # a heading below the address introduces the next list ("The following
                # recipients did not receive your message:" once per recipient, Netscape)
                after = ""
            before, adjacent = _before(lines, i, stop, address)
            if _errorish(here + " " + after):
                rank, text = 0, (here + " " + after).strip()
            elif _errorish(before):
                rank, text = (0 if adjacent else 1), (before + " " + here).strip()
            else:
                rank, text = 2, ""
            alone = len(addrs) == 1 and not re.sub(r"[\W_]", "", here)
            above = _skip_blank(lines, i - 1, -1)
            if rank == 2 and alone and above in listed:
                # the next of a list of addresses, one per paragraph, under one heading
                # (qmail's "<address>:" blocks left without explanation, Sina's notices)
                rank, text = listed[above]
            if alone and not weak:
                listed[i] = (rank, text)
            if text and not _coded(text) and before and before not in text:
                # an address listed under its heading ("The following destination addresses
                # were unknown:"): the heading is part of its error text
                text = f"{before} {text}"
            rank += 3 if weak else 0
            # of several mentions, the best ranked; of those, one with the remote reply
            # (a transcript's "<<< 550 5.1.1 ..." below a bare list of the addresses)
            key = (rank, not _coded(text))
            if address not in found_at or key < found_at[address][0]:
                found_at[address] = (key, text)
    return [(key[0], address, text) for address, (key, text) in found_at.items()]


def _with(text: str, general: str) -> str:
    """A row's error text, with the notice's own error paragraphs after it when the row's
    has no reply code (the reason is then in the notice's prose)."""
    if not text:
        return general
    if _coded(text) or not general or general in text:
        return text
    if _coded(general):
        # the reply is in the notice's paragraphs: a long text of the row's own (the lines
        # around its address in a transcript) must not crowd it out of the diagnostic
        text = text[: max(MAX_DIAGNOSTIC // 2, MAX_DIAGNOSTIC - len(general) - 1)]
    return f"{text} {general}"[:MAX_DIAGNOSTIC]


def read(mail: Mail, where: str = "", declared: bool = False) -> list[Found] | None:
    """The rows of a failure or delay notice, or None when `mail` is not one.

    `declared`: the mail is a delivery-status report (RFC 3464) whose recipient blocks are
    missing; its being one counts as a notice's subject does."""
    subject = mail.subject
    daemon = notice.from_daemon(mail)
    titled = declared or notice.failure_subject(subject) or notice.warning_subject(subject)
    if not (daemon or titled):
        return None  # the cheap test that lets every other message through
    own, inline = notice.split_copy(mail.body[:MAX_TEXT])
    if not own.strip():
        return None
    if notice.SUCCESS_TEXT.search(own) and not notice.FAILURE_TEXT.search(own):
        return None  # a delivery or read receipt
    if _list_mail(mail):
        return None  # a newsletter or a list's mail, whatever its sender and subject say
    points, says_error = _points(own, daemon, titled, bool(mail.attached or inline.strip()))
    if not says_error or points < CLAIM - 1:
        return None
    head = _copy_head(mail, inline)
    excluded = _excluded(mail, head)
    candidates = sorted(_candidates(own, excluded), key=lambda c: c[0])
    if candidates and candidates[0][0] < 2:
        points += 1  # an address next to an error text
    if points < CLAIM:
        return None
    delayed = notice.is_warning(subject, own)
    general = _error_paragraph(own)
    rows = _rows(mail, candidates, excluded, head, general)
    if rows is None:
        if not daemon:
            return None  # naming no address, only a mail system's notice is believed
        rows = [("", general or " ".join(own.split())[:MAX_DIAGNOSTIC], "notice without recipient")]
    action = "delayed" if delayed else "failed"
    return [found(address, text, where + pattern, action=action) for address, text, pattern in rows]


def _list_mail(mail: Mail) -> bool:
    """A newsletter or a list's mail (RFC 2369 List-* headers), not a notice: unless it comes
    from a mail system's own mailbox (MAILER-DAEMON@, postmaster@), which no list sends its
    posts from. Mailing lists that pass their bounces on to their owners add their List-*
    headers to them (GNU Mailman 2.0 did, as flufl.bounce's test emails show: newmail.ru's,
    HotPOP's, usa.net's, Yale's notices with X-Mailman-Version: 2.0)."""
    if not (mail.has_header("list-unsubscribe") or mail.has_header("list-id")):
        return False
    return not notice.DAEMON_LOCAL.match(mail.sender)


def _rows(
    mail: Mail, candidates: list[tuple[int, str, str]], excluded: set[str], head: str, general: str
) -> list[tuple[str, str, str]] | None:
    """(address, error text, structural sign) of each failed recipient, by the strongest
    sign there is; None when the notice does not say which address failed."""
    texts = {address: text for _, address, text in candidates}
    failed = [a.lower() for a in ADDRESS.findall(mail.header("x-failed-recipients"))]
    if failed:  # Exim and others name them in a header: nothing is surer
        return [(a, _with(texts.get(a, ""), general), "X-Failed-Recipients") for a in dict.fromkeys(failed)]
    strong = [c for c in candidates if c[0] < 3]
    if strong:
        best = [c for c in strong if c[0] == strong[0][0]]
        pattern = NAMED_IN_TEXT[0] if best[0][0] < 2 else NAMED_IN_TEXT[1]
        return [(address, _with(text, general), pattern) for _, address, text in best]
    named = [a for a in (clean_address(x) for x in ADDRESS.findall(mail.subject)) if a and a not in excluded]
    if named and not _ROLE.match(named[0]):
        return [(named[0], general, "address in the subject")]
    # an address in the notice's "To:" summary, or a help desk's: only when it is the one
    # (of several, which failed is unknown: the row without address lets the caller decide)
    if len({c[1] for c in candidates}) == 1:
        (_, address, text), *_ = candidates
        return [(address, _with(text, general), "address in the notice's summary")]
    to = {clean_address(a) for m in _COPY_TO.finditer(head) for a in ADDRESS.findall(m.group(1))}
    if len(to) == 1:
        return [(to.pop(), general, "returned message's To")]
    return None


def _attached_notice(mail: Mail) -> list[Found] | None:
    """A notice that came as an attached message: every detector reads it, this one last."""
    from . import ORDER  # here: lhost/__init__ imports this module

    for inner in mail.attached_mails():
        if not (
            notice.from_daemon(inner) or notice.failure_subject(inner.subject) or notice.warning_subject(inner.subject)
        ):
            continue
        for other in ORDER:
            if other.name == NAME:
                continue
            rows = other.detect(inner)
            if rows:
                return list(rows)
        rows = read(inner, "notice in an attachment, ")
        if rows:
            return rows
    return None


def detect(mail: Mail) -> list[Found] | None:
    rows = read(mail)
    if rows and any(f.address for f in rows):
        return rows
    if mail.attached:
        inner = _attached_notice(mail)
        if inner:
            return inner
    return rows


DETECTOR = detector(NAME, detect)
