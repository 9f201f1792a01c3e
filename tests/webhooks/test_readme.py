"""The README's signature check, run as written on real posts in both formats."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from returnpath.core.feedback import Format

from .conftest import Start, eventually
from .memory import MemoryOutbox
from .receiver import Receiver
from .samples import every_kind, mime_of
from .test_dispatcher import register

README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")


def readme_check() -> str:
    """The Python block of the README that verifies a post with `standardwebhooks`."""
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", README, re.S) if "standardwebhooks" in b]
    return block


@pytest.mark.parametrize("fmt", list(Format))
async def test_the_readmes_signature_check_passes_for_both_formats(
    fmt: Format, receiver: Receiver, outbox: MemoryOutbox, start: Start
) -> None:
    hook = register(receiver, outbox, "/readme", fmt=fmt)
    for event in every_kind():
        outbox.publish(event, time.time(), mime_of(event))
    await start()
    await eventually(outbox.settled)
    arrivals = receiver.at("/readme")
    assert arrivals and {a.headers["content-type"] for a in arrivals} == {
        "application/json" if fmt is Format.JSON else "application/x-www-form-urlencoded"
    }
    for arrival in arrivals:
        exec(readme_check(), {"secret": hook.secret, "body": arrival.body, "headers": arrival.headers})
        tampered = arrival.body.replace(b"failure", b"delivery") if b"failure" in arrival.body else arrival.body + b" "
        with pytest.raises(WebhookVerificationError):
            exec(readme_check(), {"secret": hook.secret, "body": tampered, "headers": arrival.headers})
