"""Detectors for non-standard bounces, one module per sending software.

`ORDER` lists them in the order they run: the ones that recognise their software by a
header or a fixed sentence first, the generic layouts (Exim, Postfix, Sendmail) after, and
the last resort (DSN fields pasted into plain text) at the end. No folder scanning: a new
format is a new module and one line here.
"""

from __future__ import annotations

from ..rules import Detector
from . import (
    amavis,
    amazonses,
    amazonworkmail,
    apachejames,
    barracuda,
    courier,
    domino,
    dragonfly,
    exchange2003,
    exchange2007,
    exim,
    ezweb,
    fml,
    generic,
    gmail,
    gmx,
    googlegroups,
    imailserver,
    ironport,
    kddi,
    lsmtp,
    mailfoundry,
    mailman,
    mailmarshal,
    messagelabs,
    messagingserver,
    mfilter,
    notes,
    opensmtpd,
    outlook,
    phquery,
    postfix,
    powermta,
    qmail,
    sendgrid,
    sendmail,
    smail,
    surfcontrol,
    textdsn,
    trendmicro,
    verizon,
    x3,
    x6,
    yahoo,
    zoho,
)

ORDER: tuple[Detector, ...] = (
    # services and products known by a header, a sender or a sentence of their own
    amazonses.DETECTOR,
    amazonworkmail.DETECTOR,
    googlegroups.DETECTOR,  # before gmail: same sender, the group's own notice
    mailman.DETECTOR,
    gmail.DETECTOR,
    gmx.DETECTOR,  # before exim: borrows Exim's opening sentences
    exchange2007.DETECTOR,
    exchange2003.DETECTOR,
    zoho.DETECTOR,
    mfilter.DETECTOR,
    notes.DETECTOR,
    imailserver.DETECTOR,
    lsmtp.DETECTOR,
    phquery.DETECTOR,
    kddi.DETECTOR,
    ezweb.DETECTOR,
    verizon.DETECTOR,
    fml.DETECTOR,
    mailfoundry.DETECTOR,
    ironport.DETECTOR,
    mailmarshal.DETECTOR,
    trendmicro.DETECTOR,  # before sendmail: may attach the next hop's Sendmail report
    apachejames.DETECTOR,
    x3.DETECTOR,
    x6.DETECTOR,
    courier.DETECTOR,
    messagingserver.DETECTOR,
    messagelabs.DETECTOR,
    surfcontrol.DETECTOR,
    amavis.DETECTOR,
    sendgrid.DETECTOR,
    domino.DETECTOR,
    barracuda.DETECTOR,
    powermta.DETECTOR,
    outlook.DETECTOR,
    yahoo.DETECTOR,  # before qmail: qmail's layout under Yahoo's greeting
    dragonfly.DETECTOR,
    opensmtpd.DETECTOR,
    # the MTAs whose layouts others copied
    qmail.DETECTOR,
    exim.DETECTOR,
    postfix.DETECTOR,
    sendmail.DETECTOR,
    smail.DETECTOR,
    # last resort: delivery-status fields left as text by a report that lost its structure
    textdsn.DETECTOR,
    # the shape of any failure or delay notice, whoever wrote it (bounces/notice.py's signs)
    generic.DETECTOR,
)
