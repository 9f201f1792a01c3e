"""What a mail server's failure or delay notice looks like, whoever wrote it.

The vocabulary shared by the readers that must tell a server's notice from a person's mail:
`autoreply` (a notice is no auto-reply, even when it carries `Auto-Submitted: auto-replied`)
and the generic notice layer (`lhost/generic.py`, which reads the notices no per-software
detector knows). Signs only, no decisions:

- `from_daemon(mail)`: written by a mail system — a null or MAILER-DAEMON return path, a
  sender such as MAILER-DAEMON@, postmaster@, or a display name such as "Mail Delivery
  Subsystem", "System Administrator" (Exchange 5.5), "Mail Administrator";
- `FAILURE_SUBJECT`, `WARNING_SUBJECT`: the subjects servers give their notices, in the
  languages our senders meet (Exchange translates "Undeliverable:" into each language of its
  installation; Lotus, GroupWise, qmail and the rest have theirs);
- `FAILURE_TEXT`, `WARNING_TEXT`, `PERMANENT_TEXT`, `SUCCESS_TEXT`: sentences of the notices
  themselves ("could not be delivered", "has not yet been delivered", "I've given up", "was
  delivered successfully");
- `split_copy(text)`: where a notice's own words end and the returned copy pasted after them
  begins (a marker line, or a run of the copy's header lines) — for the generic layer and for
  the recipient evidence alike.
"""

from __future__ import annotations

import re

from . import regex
from .mail import Mail, clean_address

# Local parts of the addresses mail systems send notices from.
DAEMON_LOCAL = regex.compile(
    r"^(?:mailer-?daemon|mail-?daemon|postmaster|mdaemon|mail\.?delivery|maildelivery|"
    r"mail\.?admin|mailadmin|mail-?router|smtp-?gateway|"
    r"microsoftexchange[0-9a-f]*|internet-?mail-?service|mailsystem|mail-?system|"
    r"postoffice|post-?office|mail-?notify|notify-?mail|returned-?mail|daemon|"
    r"messaging-?service|symantec_antivirus_for_smtp_gateways)(?:[+.=-][^@]*)?@",
    re.IGNORECASE,
)
# Display names of the same ("Mail Delivery Subsystem", "System Administrator", ...).
DAEMON_NAME = regex.compile(
    r"mailer[- ]?daemon|mail delivery (?:system|subsystem|service|agent)|postmaster|"
    r"system administrator|mail administrator|mail system|mail router|post office|"
    r"internet mail (?:service|delivery)|microsoft exchange|mdaemon|mail server|returned mail|"
    r"e-?mail (?:gateway|system)|"
    r"mail transport|smtp (?:server|gateway|service)|messaging (?:service|system)",
    re.IGNORECASE,
)

# Subjects of failure notices. Searched anywhere in the subject, but a subject that starts
# with a reply prefix ("Re:", "AW:") is a person answering, never a server.
FAILURE_SUBJECT = regex.compile(
    r"undeliver|undelivered|not delivered|non[- ]?deliver|nondeliver|could not be delivered|"
    r"couldn't be delivered|cannot be delivered|can't be delivered|unable to deliver|"
    r"delivery (?:fail|error|status notification|has failed|incomplete)|"
    r"failed delivery|failure notice|failure notification|delivery failure|"
    r"mail delivery (?:fail|error|problem|subsystem|system)|"
    r"returned mail|returned message|return(?:ed)? to sender|mail system error|"
    r"message (?:not delivered|delivery failed|delivery has failed|rejected|bounced|could not be)|"
    r"bounced? (?:mail|message|notification|notice)|mail (?:could not|failure|error|bounce)|"
    r"e-?mail bounce|error sending|sending failed|failed mail|error in (?:mail )?delivery|"
    r"^\s*(?:ndn|ndr|rejected|returned|failed|undeliverable|undelivered)\s*:|"
    r"recipient (?:unknown|rejected|address rejected)|user unknown|permanent (?:error|failure)|"
    # German, French, Spanish, Italian, Dutch, Portuguese
    r"unzustellbar|nicht zustellbar|zustellung fehlgeschlagen|fehlgeschlagen|unzustellbare|"
    r"non remis|non distribuable|[ée]chec de (?:la )?(?:remise|livraison|distribution)|"
    r"message non d[ée]livr[ée]|distribution impossible|"
    r"no se puede entregar|no entregad|no se pudo entregar|error de entrega|"
    r"impossibile recapitare|mancato recapito|non recapitabile|recapito fallito|"
    r"onbestelbaar|niet bezorgd|kan niet worden bezorgd|bezorging mislukt|"
    r"n[ãa]o (?:foi poss[íi]vel )?entreg|falha n[ao] entrega|n[ãa]o entregue|"
    # Scandinavian, Finnish, Polish, Czech, Hungarian, Turkish, Russian
    r"olevererbar|kunde inte levereras|ikke levert|kan ikke leveres|kunne ikke leveres|"
    r"uanbringelig|toimittamaton|ei voitu toimittaa|nie mo[żz]na dostarczy[ćc]|niedostarczon|"
    r"nedoru[čc]iteln|nedoru[čc]en|k[ée]zbes[íi]thetetlen|teslim edilemedi|iletilemedi|"
    r"недоставлен|не доставлен|не удается доставить|невозможно доставить|не удалось доставить|"
    r"ошибка доставки|"
    # the regional ISPs' and localised servers' own subjects (blind batch 28): Outlook/Exchange's
    # "Undeliverable:" in tr-TR "Teslim Edilemiyor:", el-GR "Δεν είναι δυνατή η παράδοση:",
    # ro-RO "Nelivrabil:", ar "تعذر التسليم:" / "غير قابل للتسليم:", he-IL "לא ניתן למסירה:",
    # fa-IR "قابل تحویل نیست:"; Polish and Czech webmail "Wiadomość nie została dostarczona",
    # "Zpráva nebyla doručena" (Gmail's cs-CZ heading too; the message, not a courier's parcel,
    # "przesyłka", "zásilka"); Ukrainian "Лист не доставлено" and
    # "не вдалося доставити"; Indonesian/Malay "tidak terkirim", "tidak dapat dihantar", Greek
    # "Αδυναμία παράδοσης" (the Outlook strings as the localised clients show them, the ISPs'
    # from their notices; from memory, the set's notices written blind)
    r"teslim edilemiyor|teslim edilemeyen|wiadomo[śs][ćc] nie zosta[łl]a dostarczon|zpr[áa]va nebyla doru[čc]ena|"
    r"не вдалося доставити|не може бути доставлен|"
    r"δεν είναι δυνατή η παράδοση|αδυναμία παράδοσης|δεν παραδόθηκε|nelivrabil|nu a putut fi livrat|"
    r"تعذر التسليم|تعذر تسليم|غير قابل للتسليم|לא ניתן למסירה|לא נמסר|قابل تحویل نیست|تحویل داده نشد|"
    r"tidak terkirim|gagal terkirim|tidak dapat dikirim|tidak dapat dihantar|gagal dihantar|"
    # Japanese, Chinese, Korean
    r"配信不能|配信エラー|配信できません|送信できません|送信エラー|不達|エラーメール|"
    r"退信|系统退信|退回|无法投递|無法投遞|无法传递|無法傳遞|未送达|未送達|投递失败|投遞失敗|"
    r"发送失败|傳送失敗|递送失败|전달되지 않음|배달 실패|전송 실패",
    re.IGNORECASE,
)
WARNING_SUBJECT = regex.compile(
    r"delivery (?:status notification \(delay\)|delayed|delay)|delayed (?:mail|delivery|message)|"
    r"message delayed|\(delay\)|not (?:yet )?been delivered|not yet delivered|still (?:being )?retried|"
    r"delivery warning|warning: (?:could not send|message|delayed)|temporary (?:delivery )?(?:failure|error)|"
    r"zustellung verz[öo]gert|verz[öo]gerte zustellung|remise diff[ée]r[ée]e|remise retard[ée]e|"
    r"distribution retard[ée]e|entrega retrasada|retraso en la entrega|consegna ritardata|"
    r"recapito ritardato|bezorging vertraagd|vertraagde bezorging|entrega atrasada|"
    r"leverans f[öo]rsenad|levering forsinket|dostarczenie opó[źz]nione|задержка доставки|"
    r"доставка задерживается|配信遅延|配信が遅延|投递延迟|延迟投递|延遲投遞|전달 지연|"
    # Italian "non ancora recapitato", Japanese 配送 (delivery) beside 配信, Korean 전송/발송
    # (sending) beside 전달: the other standard words of each language for the same warning
    r"non ancora (?:recapitat|consegnat)|配送遅延|配送が遅延|(?:전송|발송|배달) 지연|"
    # Postfix's delay_template subject "Delayed Mail (still being retried)" as ISPs translate
    # it: pt "Mensagem atrasada", es "Mensaje retrasado", ru "Письмо задерживается", ar "رسالة
    # متأخرة", tr "Gecikmiş ileti" (translations from memory, blind batch 28)
    r"mensagem atrasada|mensaje retrasado|(?:письмо|сообщение) задерживается|رسالة متأخرة|"
    r"gecikmi[şs] (?:ileti|posta)",
    re.IGNORECASE,
)
REPLY_PREFIX = regex.compile(r"^\s*(?:re|aw|sv|vs|antw|odp|r|ref|rif)\s*(?:\[\d+\])?\s*:", re.IGNORECASE)

# Sentences of failure notices (the notice's own words and the remote servers' replies).
FAILURE_TEXT = regex.compile(
    # (MMDF: "After 7 days (168 hours), your message could not be fully delivered.")
    r"could not be (?:fully |completely )?delivered|couldn't be delivered|cannot be delivered|can't be delivered|"
    r"was not delivered|were not delivered|has not been delivered|wasn't able to deliver|"
    r"unable to deliver|not able to deliver|could not deliver|failed to deliver|"
    r"couldn't deliver|cannot deliver|"
    r"undeliverable|undelivered|non-?delivery|delivery (?:has )?failed|delivery failure|"
    r"delivery to the following (?:recipient|address)|did not reach|failed permanently|"
    r"did not receive (?:a copy of )?(?:your|this|the) (?:message|mail)|"
    r"permanent (?:error|failure|fatal)|fatal error|following address(?:es|\(es\))? failed|"
    r"address(?:es)? failed|recipients? failed|failed recipient|message (?:was )?(?:rejected|bounced|refused)|"
    r"(?:was|were|been) rejected|returned to (?:the )?sender|is being returned|has been returned|"
    r"user unknown|unknown user|user not known|no such (?:user|mailbox|recipient|address)|"
    # "user unknown" as German, French, Italian, Spanish, Portuguese and Dutch notices say it
    # (freenet's "(Benutzer unbekannt)", La Poste's "Destinataire inconnu", Libero's "utente
    # inesistente"): a notice's line that says it is its error text
    r"(?:benutzer|empf[äa]nger) unbekannt|unbekannte[rs]? (?:benutzer|empf[äa]nger)|destinataire inconnu|"
    r"utente (?:inesistente|sconosciuto)|usuario (?:desconocido|inexistente)|"
    r"usu[áa]rio (?:desconhecido|inexistente)|onbekende (?:ontvanger|gebruiker)|"
    r"(?:had|encountered) delivery problems|mailbox (?:is )?(?:full|unavailable|"
    r"not found|does not exist|disabled|inactive)|over ?quota|quota exceeded|does not exist|"
    r"not (?:a )?(?:valid|known) (?:user|recipient|address|mailbox)|invalid (?:recipient|address|mailbox)|"
    r"recipient (?:address )?rejected|address rejected|no mailbox|host not found|"
    r"not listed in|account (?:is )?(?:disabled|closed|inactive|suspended|expired)|"
    r"(?:name|address|recipient) (?:is |was )?not recogni[sz]ed|"
    # German, French, Spanish, Italian, Dutch, Portuguese
    r"konnte nicht zugestellt|nicht zugestellt|unzustellbar|nicht zustellbar|fehlgeschlagen|"
    r"n'a pas pu [êe]tre (?:remis|distribu|d[ée]livr)|non remis|[ée]chec|n'existe pas|introuvable|"
    r"no se (?:ha )?(?:pudo|puede) entregar|no existe|no entregad|"
    r"non [èe] stato (?:possibile )?(?:recapitat|consegnat)|impossibile recapitare|non esiste|"
    r"kon niet worden (?:bezorgd|afgeleverd)|onbestelbaar|bestaat niet|"
    r"n[ãa]o (?:pôde|pode|foi poss[íi]vel) (?:ser )?entreg|n[ãa]o existe|"
    # Nordic, Polish, Czech, Russian, Japanese, Chinese, Korean
    r"kunde inte levereras|kunne ikke leveres|ikke levert|kon ei|nie mo[żz]na dostarczy[ćc]|"
    r"nie zosta[łl]a dostarczon|nelze doru[čc]it|не (?:может быть|удалось|удается) доставить|"
    r"не доставлен|не существует|配信できませんでした|送信できませんでした|届きませんでした|"
    r"存在しません|无法投递|無法投遞|无法送达|無法送達|不存在|投递失败|退信|전달되지 않|배달되지 않|"
    # the regional providers' and localised servers' sentence for "could not be delivered" in
    # each of its common forms (blind batch 28, notices written from memory): Russian "не может
    # быть доставлено" (Mail.ru's "Ваше письмо не может быть доставлено"), Ukrainian "не може
    # бути доставлено", "не вдалося доставити"; Turkish "teslim edilemedi" and Exchange tr-TR's
    # "teslim başarısız oldu"; Czech "nepodařilo doručit", "nemohla být doručena", "nebyla
    # doručena"; Hungarian "nem sikerült kézbesíteni"; Greek "δεν ήταν δυνατό να παραδοθεί" and
    # Exchange el-GR's "Η παράδοση ... απέτυχε"; Exchange ro-RO "Livrarea a eșuat", ar "فشل
    # التسليم", he-IL "המסירה ... נכשלה", fa-IR "تحویل ... انجام نشد"; Indonesian "tidak dapat
    # dikirim(kan)", Malay "tidak dapat dihantar"; the English "user not found" (Mail.ru's
    # gloss, GroupWise's "user not found")
    r"не (?:может|могло|могут) быть доставлен|не може бути доставлен|не вдалося доставити|"
    r"teslim edilemedi|teslim ba[şs]ar[ıi]s[ıi]z|nepoda[řr]ilo doru[čc]it|nemohla b[ýy]t doru[čc]ena|"
    r"nebyla doru[čc]ena|nem siker[üu]lt k[ée]zbes[íi]teni|δεν ήταν δυνατ[όή] να παραδοθ|"
    r"παράδοση σε αυτούς τους παραλήπτες|livrarea a e[șşs]uat|nu a putut fi livrat|فشل التسليم|تعذر تسليم|"
    r"המסירה לנמענים|לא ניתן למסור|تحویل به این گیرندگان|تحویل داده نشد|"
    r"tidak dapat (?:di)?kirim|gagal (?:di)?kirim|tidak dapat dihantar|gagal dihantar|user not found",
    re.IGNORECASE,
)
# Sentences of delay warnings: the server keeps the message and tries again.
WARNING_TEXT = regex.compile(
    # "fully" as MMDF's warning has it ("After 2 days (51 hours), your message has not yet been
    # fully delivered. Attempts to deliver the message will continue for 5 more days.")
    r"ha(?:s|ve) not yet been (?:fully |completely )?delivered|(?:has not|hasn't|have not|haven't) been delivered yet|"
    r"will continue to be attempted|(?:has|have) been postponed|"
    r"(?:delivery|message) (?:to the following recipients? )?(?:has been|is|was) delayed|delivery delayed|"
    r"will (?:continue to try|keep trying|retry|be retried|try again)(?: to deliver| for| until| at)|"
    r"still (?:trying to deliver|being retried)|warning message only|do not need to resend|"
    r"(?:delivery )?attempts (?:to deliver (?:the|your|this) message )?will continue|retry(?:ing)? until|will be returned to you (?:after|if)|"
    r"noch nicht zugestellt|wird (?:weiterhin|erneut) versucht|zustellung (?:ist |wurde )?verz[öo]gert|"
    r"n'a pas encore (?:pu )?[êe]tre (?:remis|distribu|d[ée]livr)|remise (?:a [ée]t[ée] |est )?retard[ée]e|"
    r"no se ha (?:podido )?entregar? todav[íi]a|entrega (?:ha sido |est[áa] )?retrasada|"
    r"non [èe] ancora stato (?:recapitat|consegnat)|consegna ritardata|nog niet (?:bezorgd|afgeleverd)|"
    r"ainda n[ãa]o foi entregue|entrega atrasada|ещё не доставлен|еще не доставлен|доставка задерживается|"
    r"まだ配信されていません|配信が遅延|尚未投递|尚未送达|尚未投遞|投递延迟|延迟投递|"
    # the same sentences in their other common forms: Italian's usual word order "non è stato
    # ancora recapitato" and "continuerà a tentare"; Japanese "まだ(以下の宛先に)配送されていません"
    # and "引き続き試みます"; Korean "아직 전달되지 않았습니다" (not yet delivered) and "계속 전송을
    # 시도합니다" (keeps trying), as ISP and webmail delay warnings word them
    r"non [èe] stato ancora (?:recapitat|consegnat)|continuer[àa] a tentare|"
    # Spanish and Portuguese in the usual order of Exchange's "This message hasn't been delivered
    # yet. Delivery will continue to be attempted." and of ordinary prose: "aún/todavía no se ha
    # entregado", "la entrega se ha retrasado", "se seguirá intentando (entregar)", "continuará
    # tentando / sendo tentada"
    r"(?:a[úu]n|todav[íi]a) no se ha entregado|(?:la )?entrega se ha retrasado|se seguir[áa] intentando|"
    r"continuar[áa] (?:tentando|sendo tentad)|"
    r"まだ.{0,20}?(?:配信|配送)されていません|(?:配信|配送)(?:は|を)引き続き試み|"
    r"아직 (?:전달|전송|발송|배달)되지 않았|계속 (?:전달|전송|발송|배달)(?:을|를)? 시도|"
    # Postfix's delay_template ("THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR
    # MESSAGE.", "It will be retried until it is 5 day(s) old") as ISPs translate it (blind
    # batch 28, from memory): pt "ISTO É APENAS UM AVISO", "Novas tentativas serão feitas";
    # es "ESTO ES SOLO UNA ADVERTENCIA"; ru "Это только предупреждение", "Попытки доставки
    # будут продолжаться"; ar "هذا تحذير فقط"; tr "Bu yalnızca bir uyarıdır"
    r"(?:isto|este) [ée] apenas um aviso|novas tentativas ser[ãa]o feitas|"
    r"esto es s[óo]lo una advertencia|это только предупреждение|попытки доставки будут продолжаться|"
    r"هذا تحذير فقط|yaln[ıi]zca bir uyar[ıi]d[ıi]r",
    re.IGNORECASE,
)
# What only a final failure says: a warning that says one of these is a failure after all.
PERMANENT_TEXT = regex.compile(
    r"permanent(?:ly)?\b|i've given up|i have given up|giving up|gave up|will not (?:be )?retr|"
    r"no (?:further|more) (?:attempts|retries)|could not be delivered|failed permanently|"
    r"undeliverable|unzustellbar|non remis|definitiv|d[ée]finitive",
    re.IGNORECASE,
)
# ... except that "could not be delivered" (and its like) is also how some warnings begin,
# when they go on to say in so many words that the attempts go on: Symantec AntiVirus for
# SMTP Gateways' "could not be delivered to the following recipients: ... Delivery attempts
# will continue to be made for 5 day(s)" (flufl.bounce's simplewarning list, its simple_22).
_NOT_YET_FINAL = regex.compile(r"could not be delivered|undeliverable|unzustellbar|non remis", re.IGNORECASE)
STILL_TRYING_TEXT = regex.compile(
    r"(?:delivery )?attempts will continue to be made|will continue to (?:try|attempt) (?:to deliver|delivery)",
    re.IGNORECASE,
)
# Delivery and read receipts, relays: a notice about a message that arrived.
SUCCESS_TEXT = regex.compile(
    r"(?:was|were|has been|have been) (?:successfully )?(?:delivered|relayed) to|delivered successfully|"
    r"successfully delivered|delivery (?:to the following recipients? )?(?:was )?succe|was read on|"
    r"delivery to these recipients or groups is complete|your message has been delivered|"
    r"has been (?:read|displayed)|read receipt|return receipt|erfolgreich zugestellt|"
    r"a bien [ée]t[ée] (?:remis|distribu)|ha sido entregado|[èe] stato (?:consegnato|recapitato)",
    re.IGNORECASE,
)


# Where the notice's own words end and the returned copy begins.
COPY_START = regex.compile(
    r"^[ \t>|]*(?:[-=*_|]{2,}[ \t]*)?(?:possibly truncated |partial |the |a )?(?:"
    r"below this line is a copy|this is a copy of|(?:a )?copy of (?:the |your )?(?:original )?message|"
    r"(?:the )?original message(?: headers?)?(?: follows| is attached| below| included|:|[ \t]*[-=*]|$)|"
    r"-*original message-*|(?:the )?(?:original |returned |undelivered |unsent )(?:message|mail) (?:follows|below)|"
    r"(?:undelivered|unsent|returned) message[ \t]*[-=*:]*[ \t]*$|message (?:text|headers?) follows|"
    r"(?:the )?headers? of the (?:original )?message|original (?:message )?headers|"
    r"ursprüngliche nachricht|originalnachricht|message d'origine|message original|"
    r"mensaje original|messaggio originale|oorspronkelijk bericht|mensagem original|"
    r"原始邮件|原始郵件|元のメッセージ|원본 메시지)",
    re.IGNORECASE | re.MULTILINE,
)
# A header line of a returned message pasted inline.
HEADER_LINE = regex.compile(r"^([A-Za-z][A-Za-z0-9-]{1,40}):[ \t]")
# (Not Date, From, To, Subject alone: notices summarise the message in those lines.)
COPY_HEADERS = frozenset({"return-path", "received", "message-id", "mime-version", "dkim-signature", "x-mailer"})


def return_path_null(mail: Mail) -> bool:
    """A null return path (`Return-Path: <>`): how RFC 5321 says notices must be sent."""
    value = mail.header("return-path")
    return bool(value) and not clean_address(value) and "<" in value


def from_daemon(mail: Mail, null_return_path: bool = True) -> bool:
    """The notice comes from a mail system rather than a person (see the module docstring).

    `null_return_path=False` leaves the return path out: auto-responders use the null one too
    (RFC 3834), so it tells a server's notice from a person's only among reports."""
    sender = mail.sender
    if sender and DAEMON_LOCAL.match(sender):
        return True
    name = mail.header("from").split("<", 1)[0]
    if name and DAEMON_NAME.search(name):
        return True
    if not null_return_path:
        return False
    return return_path_null(mail) or "mailer-daemon" in mail.header("return-path").lower()


def failure_subject(subject: str) -> bool:
    """A subject a server gives its failure notice (not a person's "Re: ..." about one)."""
    return bool(subject) and not REPLY_PREFIX.match(subject) and bool(FAILURE_SUBJECT.search(subject))


def warning_subject(subject: str) -> bool:
    return bool(subject) and not REPLY_PREFIX.match(subject) and bool(WARNING_SUBJECT.search(subject))


def is_warning(subject: str, own: str) -> bool:
    """A delay warning: its subject or its own words say the message is still being tried,
    and nothing in them says the server gave up."""
    if not (warning_subject(subject) or WARNING_TEXT.search(own)):
        return False
    final = PERMANENT_TEXT.search(_NOT_YET_FINAL.sub(" ", own) if STILL_TRYING_TEXT.search(own) else own)
    return final is None


def split_copy(body: str) -> tuple[str, str]:
    """(the notice's own words, the returned copy pasted after them, "" if none)."""
    end = len(body)
    for m in COPY_START.finditer(body):
        if body[: m.start()].strip():  # not a notice that opens with "Undelivered message ..."
            end = m.start()
            break
    lines = body[:end].split("\n")
    at = 0
    for i, line in enumerate(lines):
        h = HEADER_LINE.match(line)
        if h and h.group(1).lower() in COPY_HEADERS:
            run = [ln for ln in lines[i : i + 4] if HEADER_LINE.match(ln) or ln[:1] in (" ", "\t")]
            if len(run) >= 3 or h.group(1).lower() in ("return-path", "received"):
                # back up over header lines just before it (From:, To:, Subject: first)
                j = i
                while j > 0 and HEADER_LINE.match(lines[j - 1]):
                    j -= 1
                end = at - sum(len(ln) + 1 for ln in lines[j:i])
                break
        at += len(line) + 1
    return body[:end], body[end:]
