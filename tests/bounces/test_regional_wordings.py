"""The wordings of regional mailbox providers and localised servers (blind batch 28): the same
cause as Latin American, Russian/Ukrainian, Turkish, Polish, Czech, Hungarian, Greek, Romanian,
Indonesian/Malay and Middle Eastern servers write it, in their own language and in the ASCII
spelling many of them use in SMTP replies.

Each table row is one wording of a family in reasons.toml or in the notice vocabulary
(bounces/notice.py, lhost/generic.py); a family is right when several wordings of it in one
language land on the same answer, not when one notice does. The wordings are the providers'
and Exchange's localised texts as far as the author knows them (from memory: see the comments
in reasons.toml), not copies of the notices in tests/bounces/notices/.
"""

from __future__ import annotations

import re

import pytest

from returnpath.bounces import Kind, recognise
from returnpath.bounces.reasons import RULES, classify

# (language, reply text) -> reason, read as a refusal at RCPT with no status of its own
REPLIES = [
    # ---- the mailbox is full
    ("pt", "552 Caixa postal cheia", "mailboxfull"),
    ("pt", "552 A caixa de correio do destinatario esta cheia", "mailboxfull"),
    ("pt", "452 caixa de entrada lotada", "mailboxfull"),
    ("es", "552 El buzón del destinatario está lleno", "mailboxfull"),
    ("es", "552 La casilla de correo esta llena", "mailboxfull"),
    ("ru", "552 Почтовый ящик получателя переполнен", "mailboxfull"),
    ("ru", "452 Ящик адресата заполнен", "mailboxfull"),
    ("uk", "552 Поштова скринька одержувача переповнена", "mailboxfull"),
    ("uk", "552 Переповнення поштової скриньки", "mailboxfull"),
    ("tr", "552 Posta kutusu dolu", "mailboxfull"),
    ("tr", "552 Alicinin posta kutusunun kotasi asildi", "mailboxfull"),
    ("pl", "552 Skrzynka odbiorcy jest pełna", "mailboxfull"),
    ("pl", "552 Skrzynka pocztowa adresata jest przepelniona", "mailboxfull"),
    ("cs", "552 Schránka adresáta je plná", "mailboxfull"),
    ("cs", "552 schranka prijemce je preplnena", "mailboxfull"),
    ("hu", "552 A címzett postafiókja megtelt", "mailboxfull"),
    ("hu", "552 a postafiok tele van", "mailboxfull"),
    ("el", "552 Το γραμματοκιβώτιο του παραλήπτη είναι πλήρες", "mailboxfull"),
    ("el", "552 Γραμματοκιβώτιο γεμάτο", "mailboxfull"),
    ("ro", "552 Cutia poștală a destinatarului este plină", "mailboxfull"),
    ("ro", "552 casuta postala este plina", "mailboxfull"),
    ("id", "552 Kotak surat penerima sudah penuh", "mailboxfull"),
    ("ms", "552 Kotak mel penuh", "mailboxfull"),
    ("ar", "552 صندوق بريد المستلم ممتلئ", "mailboxfull"),
    ("he", "552 תיבת הדואר של הנמען מלאה", "mailboxfull"),
    ("fa", "552 صندوق پستی گیرنده پر است", "mailboxfull"),
    # ---- the mailbox does not exist
    ("pt", "550 Endereço de e-mail inexistente", "userunknown"),
    ("pt", "550 endereco de destino nao existe", "userunknown"),
    ("es", "550 Dirección de correo inexistente", "userunknown"),
    ("es", "550 La direccion del destinatario no existe", "userunknown"),
    ("ru", "550 Адресат не существует", "userunknown"),
    ("ru", "550 Неизвестный получатель", "userunknown"),
    ("uk", "550 Адресат не існує", "userunknown"),
    ("uk", "550 Такої поштової скриньки немає", "userunknown"),
    ("tr", "550 Alıcı bulunamadı", "userunknown"),
    ("tr", "550 Boyle bir kullanici yok", "userunknown"),
    ("pl", "550 Użytkownik nie istnieje", "userunknown"),
    ("pl", "550 Adres odbiorcy nie istnieje", "userunknown"),
    ("pl", "550 Nieznany odbiorca", "userunknown"),
    ("cs", "550 Adresát neexistuje", "userunknown"),
    ("cs", "550 neznamy uzivatel", "userunknown"),
    ("hu", "550 A címzett nem létezik", "userunknown"),
    ("hu", "550 Nem letezo felhasznalo", "userunknown"),
    ("el", "550 Ο παραλήπτης δεν υπάρχει", "userunknown"),
    ("el", "550 Άγνωστος χρήστης", "userunknown"),
    ("ro", "550 Utilizator necunoscut", "userunknown"),
    ("ro", "550 Adresa de e-mail pe care ați introdus-o nu a putut fi găsită", "userunknown"),
    ("id", "550 Pengguna tidak dikenal", "userunknown"),
    ("ms", "550 Alamat penerima tidak wujud", "userunknown"),
    ("ar", "550 تعذر العثور على عنوان البريد الإلكتروني الذي أدخلته", "userunknown"),
    ("he", "550 הנמען לא נמצא", "userunknown"),
    ("fa", "550 گیرنده وجود ندارد", "userunknown"),
    # ---- the domain does not exist
    ("es", "550 El dominio de destino no existe", "hostunknown"),
    ("pt", "550 Domínio inexistente", "hostunknown"),
    ("ru", "550 Домен получателя не найден", "hostunknown"),
    ("pl", "550 Domena nie istnieje", "hostunknown"),
    ("cs", "550 Doména neexistuje", "hostunknown"),
    ("tr", "550 Alan adi bulunamadi", "hostunknown"),
    # ---- the account is disabled
    ("pt", "550 Conta do destinatário bloqueada", "suspend"),
    ("ru", "550 Аккаунт получателя заблокирован", "suspend"),
    ("pl", "550 Konto odbiorcy jest nieaktywne", "suspend"),
    ("pl", "550 Konto zostało zablokowane", "suspend"),
    ("tr", "550 Kullanıcı hesabı askıya alındı", "suspend"),
    ("cs", "550 Schránka je zablokovaná", "suspend"),
    ("hu", "550 A fiók le van tiltva", "suspend"),
    # ---- the message is too big
    ("pt", "552 Mensagem muito grande", "mesgtoobig"),
    ("pt", "552 A mensagem excede o tamanho maximo", "mesgtoobig"),
    ("ru", "552 Превышен максимальный размер письма", "mesgtoobig"),
    ("ru", "552 Письмо слишком большое", "mesgtoobig"),
    ("uk", "552 Лист завеликий", "mesgtoobig"),
    ("tr", "552 İleti çok büyük", "mesgtoobig"),
    ("tr", "552 Mesaj boyutu siniri asildi", "mesgtoobig"),
    ("pl", "552 Wiadomość jest zbyt duża", "mesgtoobig"),
    ("pl", "552 Przekroczono maksymalny rozmiar wiadomosci", "mesgtoobig"),
    ("cs", "552 Zpráva je příliš velká", "mesgtoobig"),
    ("hu", "552 A levél túl nagy", "mesgtoobig"),
    ("el", "552 Το μήνυμα είναι πολύ μεγάλο", "mesgtoobig"),
    ("ro", "552 Mesajul este prea mare", "mesgtoobig"),
    ("id", "552 Pesan terlalu besar", "mesgtoobig"),
    ("fa", "552 این پیام برای ارسال بیش از حد بزرگ است", "mesgtoobig"),
    # ---- judged spam
    ("pl", "554 Wiadomosc odrzucona przez filtr antyspamowy", "spamdetected"),
    ("pl", "554 Wiadomość oznaczona jako spam", "spamdetected"),
    ("cs", "554 Zprava byla odmitnuta antispamovym filtrem", "spamdetected"),
    ("tr", "554 Mesajınız spam olarak değerlendirildi", "spamdetected"),
    ("ro", "554 Mesajul a fost respins ca spam", "spamdetected"),
    ("id", "554 Pesan ditolak sebagai spam", "spamdetected"),
    ("es", "554 Mensaje rechazado por ser spam", "spamdetected"),
    ("ru", "554 Сообщение отклонено как спам", "spamdetected"),
    # ---- the recipient's mailbox receives too fast (not the sender's rate)
    ("en", "451 Ratelimit exceeded for mailbox someone@mail.example. Try again later.", "speeding"),
    ("en", "450 4.2.1 Too many messages for this recipient, try again later", "speeding"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("language", "text", "reason"), REPLIES, ids=[f"{r[2]}-{r[0]}-{i}" for i, r in enumerate(REPLIES)]
)
def test_a_regional_wording_gets_its_reason(language: str, text: str, reason: str) -> None:
    decided = classify(None, None, text, "RCPT")
    assert decided.reason == reason, decided.rule


def test_the_words_win_over_a_catch_all_5_1_1() -> None:
    # servers that answer every refusal with 5.1.1: the words say the mailbox exists and is full
    assert classify("5.1.1", 550, "550 5.1.1 Skrzynka odbiorcy jest pelna", "RCPT").reason == "mailboxfull"


def test_the_senders_rate_is_still_toomanyconn() -> None:
    # the same words about the sending host, not the mailbox, stay the sender's rate
    decided = classify(None, 451, "451 Ratelimit exceeded for IP 198.51.100.7. Try again later.", "RCPT")
    assert decided.reason == "toomanyconn", decided.rule


def test_every_match_contains_one_of_its_strings() -> None:
    # the rules' index skips a pattern whose strings are not in the text: never a real match
    texts = [text.lower() for _, text, _ in REPLIES]
    for rule in RULES.text:
        for pattern in rule.patterns:
            compiled = re.compile(pattern.source)
            for text in texts:
                if compiled.search(text):
                    assert any(s in text for s in (pattern.literal, *pattern.more)), (pattern.source, text)


TRACKING = "b0123abcd@bounces.example.net"


def _notice(subject: str, text: str, charset: str = "utf-8") -> bytes:
    """A regional provider's notice: a mail system's sender, its own subject and words, the
    recipient on a line of its own and no English, no reply code."""
    return (
        f"From: MAILER-DAEMON@mx.provider.example\nTo: {TRACKING}\nSubject: {subject}\n"
        "Date: Mon, 7 Dec 2026 10:00:00 +0000\nMIME-Version: 1.0\n"
        f"Content-Type: text/plain; charset={charset}\nContent-Transfer-Encoding: 8bit\n\n{text}"
    ).encode(charset)


# language -> (subject, the notice's sentence above the address, the cause below it)
NOTICES = {
    "ru": ("Сообщение не доставлено", "Ваше письмо не может быть доставлено получателю:", "Ящик получателя переполнен."),
    "uk": ("Лист не доставлено", "Ваш лист не вдалося доставити за адресою:", "Поштова скринька переповнена."),
    "tr": ("Teslim Edilemiyor: Sipariş", "İletiniz aşağıdaki alıcıya teslim edilemedi:", "Posta kutusu dolu."),
    "pl": ("Wiadomość nie została dostarczona", "Nie można dostarczyć wiadomości do odbiorcy:", "Skrzynka odbiorcy jest pełna."),
    "cs": ("Zpráva nebyla doručena", "Vaši zprávu se nepodařilo doručit adresátovi:", "Schránka adresáta je plná."),
    "hu": ("Kézbesíthetetlen levél", "A levelet nem sikerült kézbesíteni a címzettnek:", "A címzett postafiókja megtelt."),
    "el": ("Αδυναμία παράδοσης μηνύματος", "Το μήνυμά σας δεν ήταν δυνατό να παραδοθεί στον παραλήπτη:", "Το γραμματοκιβώτιο είναι πλήρες."),
    "ro": ("Nelivrabil: Comanda", "Livrarea a eșuat către acești destinatari:", "Cutia poștală a destinatarului este plină."),
    "id": ("Pesan tidak terkirim", "Pesan Anda tidak dapat dikirim ke penerima berikut:", "Kotak surat penerima penuh."),
    "ms": ("Mesej tidak dapat dihantar", "Mesej anda tidak dapat dihantar kepada penerima:", "Kotak mel penuh."),
    "ar": ("تعذر التسليم: الطلب", "فشل التسليم إلى هؤلاء المستلمين أو المجموعات:", "صندوق بريد المستلم ممتلئ."),
    "he": ("לא ניתן למסירה: הזמנה", "המסירה לנמענים או לקבוצות אלה נכשלה:", "תיבת הדואר של הנמען מלאה."),
    "fa": ("قابل تحویل نیست: سفارش", "تحویل به این گیرندگان یا گروه‌ها انجام نشد:", "صندوق پستی گیرنده پر است."),
}  # fmt: skip


@pytest.mark.parametrize("language", sorted(NOTICES))
def test_a_notice_in_the_providers_language_gives_the_recipient_and_cause(language: str) -> None:
    subject, sentence, cause = NOTICES[language]
    verdict = recognise(_notice(subject, f"{sentence}\n\n  anna@provider.example\n{cause}\n"))
    assert verdict.kind in (Kind.BOUNCE, Kind.DSN), verdict
    (row,) = verdict.recipients
    assert (row.address, row.action, row.reason) == ("anna@provider.example", "failed", "mailboxfull"), row


@pytest.mark.parametrize(
    ("subject", "warning"),
    [
        ("Mensagem atrasada (novas tentativas em andamento)", "ISTO É APENAS UM AVISO. Novas tentativas serão feitas."),
        ("Mensaje retrasado", "ESTO ES SOLO UNA ADVERTENCIA. No necesita reenviar su mensaje."),
        ("Письмо задерживается", "Это только предупреждение. Попытки доставки будут продолжаться."),
        ("رسالة متأخرة", "هذا تحذير فقط."),
    ],
    ids=["pt", "es", "ru", "ar"],
)
def test_a_translated_delay_warning_is_delayed(subject: str, warning: str) -> None:
    text = f"{warning}\n\n<anna@provider.example>: connect to mx.provider.example[192.0.2.1]:25: Connection timed out\n"
    (row,) = recognise(_notice(subject, text)).recipients
    assert (row.address, row.action) == ("anna@provider.example", "delayed"), row


def test_a_couriers_parcel_notice_is_no_bounce() -> None:
    # "your parcel was not delivered to the recipient": a shop's mail, not a mail system's
    raw = (
        f"From: Kurier Przykład <powiadomienia@kurier.example>\nTo: {TRACKING}\n"
        "Subject: Przesyłka nie została dostarczona\nDate: Mon, 7 Dec 2026 10:00:00 +0000\n"
        "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
        "Przesyłka nie została dostarczona do odbiorcy anna@provider.example.\n"
        "Kurier spróbuje ponownie jutro.\n"
    ).encode()
    verdict = recognise(raw)
    assert not any(r.action == "failed" for r in verdict.recipients), verdict
