"""HCL (IBM, Lotus) Domino 6 and later: "DELIVERY FAILURE: <reason>".

Domino's report is three labelled paragraphs, with the reason in the server's language::

    Your message

      Subject: Nyaan

    was not delivered to:

      kijitora@example.com

    because:

      User kijitora (kijitora@example.com) not listed in Domino Directory

The subject line repeats the reason. Older Notes gateways wrote another layout (notes.py).

A server installed in another language translates the labels (German "wurde nicht zugestellt
an:" / "weil:", French "n'a pas été remis à :" / "car :", Spanish "no se entregó a:" /
"porque:"), and may print each value on its label's line after a tab rather than below it.
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, Phrases, by_phrase, detector, found, text

NAME = "domino"
# Sisimai 4.25 Lhost/Domino.pm messagesof (BSD-2-Clause): Domino's own reasons, translated.
MESSAGES: Phrases = (
    (
        "userunknown",
        (
            "not listed in domino directory",
            "not listed in public name & address book",
            "non répertorié dans l'annuaire domino",
            "domino ディレクトリには見つかりません",
            # the same reason in Domino's German, French ("n'est pas répertorié ...") and
            # Spanish language packs
            "nicht im domino-verzeichnis aufgeführt",
            "répertorié dans l'annuaire domino",
            "no figura en el directorio de domino",
            "no se encuentra en el directorio de domino",
        ),
    ),
    ("filtered", ("cannot route mail to user",)),
    ("systemerror", ("several matches found in domino directory",)),
)
# The two labels in English and the language packs seen in the field (module docstring); a
# value follows on the next lines or, in the tabbed layout, on the label's own line.
_NOT_DELIVERED = r"(?:was not delivered to|wurde nicht zugestellt an|n['’]a pas été remis à|no se (?:ha )?entregó a)"
_BECAUSE = r"(?:because|weil|car|porque)"
_REPORT = regex.compile(
    rf"{_NOT_DELIVERED}\s*:[ \t]*\n?(.*?)\n\s*{_BECAUSE}\s*:[ \t]*\n?(.*?)(?:\n[ \t]*\n|\Z)",
    re.DOTALL | re.IGNORECASE,
)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    m = _REPORT.search(body)
    if not m:
        return None
    return [
        by_phrase(found(a.group(0), m.group(2), "was not delivered to / because"), MESSAGES)
        for a in ADDRESS.finditer(m.group(1))
    ]


DETECTOR = detector(NAME, detect)
