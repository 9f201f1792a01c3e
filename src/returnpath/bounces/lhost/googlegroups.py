"""Google Groups: a post to a group that does not exist or does not accept the sender.

Google's mail servers send it in the sender's language, from mailer-daemon@googlemail.com,
with the group's address in X-Failed-Recipients and a link to groups.google.com/support in
every language ("We're writing to let you know that the group you tried to contact (name)
may not exist, or you may not have permission to post messages to the group."). The text
never says which of the two it was; it is a refusal of this sender by the list, which
Sisimai's vocabulary calls "rejected".

A group of a Google Workspace organisation has the organisation's own address
(announcements@example.org, Google Workspace Admin Help "Create a group"), not one at
googlegroups.com: coming from Google's mailer-daemon with the groups.google.com/support link
is then what makes it the same notice, as Sisimai's lhost GoogleGroups also asks only for
Google's mailer-daemon and X-Failed-Recipients, not for the group's domain.
"""

from __future__ import annotations

from ..mail import Mail
from ..rules import Found
from ._text import addresses, cut, detector, found, has, header, squash, text

NAME = "googlegroups"


def detect(mail: Mail) -> list[Found] | None:
    failed = addresses(header(mail, "X-Failed-Recipients"))
    if not mail.sender.endswith(("@googlemail.com", "@google.com")):
        failed = [a for a in failed if a.lower().endswith("@googlegroups.com")]
    body = text(mail)
    if not failed or not has(body, "groups.google.com/support"):
        return None
    explanation = squash(cut(body, "----- Original message -----"))[:500]
    return [found(a, explanation, "groups.google.com/support notice", reason="rejected") for a in failed]


DETECTOR = detector(NAME, detect)
