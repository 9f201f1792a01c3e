"""GNU Mailman: a mailing list that refused a post (the list's own notice, not an MTA's).

Mailman answers a refused post from the list's owner address, headed as every message it
sends is (X-Mailman-Version; X-BeenThere, the list's posting address, and List-Id), in one
of three wordings:

- the moderator refused it: Mailman 2.1 templates/en/refuse.txt and Mailman 3's
  list:user:notice:refuse ("Your request to the <list> mailing list / Posting of your
  message titled "..." / has been rejected by the list moderator."), subject "Request to
  mailing list <list> rejected";
- the list rejected it by itself, mostly a post from a non-member: Mailman 2.1
  Handlers/Moderate.py do_reject ("You are not allowed to post to this mailing list, and
  your message has been automatically rejected."), the post attached;
- Mailman 3's list:user:notice:rejected ("Your message to the <list> mailing-list was
  rejected for the following reasons:").

Like Google Groups' refusal of a non-member (lhost/googlegroups.py) it is the list refusing
this sender, Sisimai's "rejected". A held post (postheld.txt, "Is being held until the list
moderator can review it") has not failed and is not claimed.
"""

from __future__ import annotations

import re

from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, addresses, clean, cut, detector, found, has, header, squash, text

NAME = "mailman"
# Each: the phrases that must all be there. refuse.txt also refuses (un)subscription
# requests ("Subscription request" in place of the post's title, Mailman 2.1
# ListAdmin.py): only a refused post is a failed delivery.
_REFUSED = (
    ("has been rejected by the list moderator", "posting of your message titled"),
    ("your message has been automatically rejected",),
    ("mailing-list was rejected for the following reasons",),
)


def _list_address(mail: Mail) -> str:
    """The list's posting address: X-BeenThere, List-Post, or the returned post's To/Cc
    address that List-Id ("<name.domain>") names."""
    for name in ("X-BeenThere", "List-Post"):
        address = clean(header(mail, name).replace("mailto:", " "))
        if address:
            return address
    list_id = re.search(r"<([^<>\s]+)>", header(mail, "List-Id"))
    for post in mail.attached_mails():
        for a in addresses(header(post, "To") + " " + header(post, "Cc")):
            if list_id and a.replace("@", ".").lower() == list_id.group(1).lower():
                return a
    return ""


def detect(mail: Mail) -> list[Found] | None:
    if not mail.has_header("X-Mailman-Version"):
        return None
    body = text(mail)
    flat = squash(body)  # the templates are wrapped at different words
    if not any(all(has(flat, p) for p in phrases) for phrases in _REFUSED):
        return None
    address = _list_address(mail)
    if not ADDRESS.fullmatch(address):
        return None
    said = squash(cut(body, "Any questions or comments", "The original message"))[:500]
    return [found(address, said, "Mailman's refusal of a post", reason="rejected")]


DETECTOR = detector(NAME, detect)
