"""Google Groups: a post to a group that does not exist or does not accept the sender.

Google's mail servers send it in the sender's language, from mailer-daemon@googlemail.com,
with the group's address in X-Failed-Recipients and a link to groups.google.com/support in
every language ("We're writing to let you know that the group you tried to contact (name)
may not exist, or you may not have permission to post messages to the group."). The text
never says which of the two it was; it is a refusal of this sender by the list, which
Sisimai's vocabulary calls "rejected".
"""

from __future__ import annotations

from ..mail import Mail
from ..rules import Found
from ._text import addresses, cut, detector, found, has, header, squash, text

NAME = "googlegroups"


def detect(mail: Mail) -> list[Found] | None:
    failed = [a for a in addresses(header(mail, "X-Failed-Recipients")) if a.lower().endswith("@googlegroups.com")]
    body = text(mail)
    if not failed or not has(body, "groups.google.com/support"):
        return None
    explanation = squash(cut(body, "----- Original message -----"))[:500]
    return [found(a, explanation, "groups.google.com/support notice", reason="rejected") for a in failed]


DETECTOR = detector(NAME, detect)
