"""The wording families of reasons.toml: each reason, as several servers and providers really
write it (issue 9, "reasons from documented wording, not from examples"), and the same reply
refused during our own delivery or reported later in a DSN getting the same reason.

Each row is a reply as the named software or provider documents or sends it. The table is
deliberately not the corpus: a family is right when phrasings from different servers land on
the same reason, not when one email does.
"""

from __future__ import annotations

import re

import pytest

from returnpath.bounces import recognise
from returnpath.bounces.patterns import required_literals
from returnpath.bounces.reasons import RULES, RULES_FILE, classify
from returnpath.core.events import refusal_fields
from returnpath.core.model import Outcome, Step, Verdict

# (who writes it, status, code, text, command) -> reason
FAMILIES = [
    # ---- the mailbox does not exist
    ("Postfix virtual", "5.1.1", 550, "550 5.1.1 <gone@example.org>: Recipient address rejected: User unknown in virtual mailbox table", "RCPT", "userunknown"),
    ("qmail", None, 550, "550 sorry, no mailbox here by that name.", "RCPT", "userunknown"),
    ("Courier", None, 550, "550 User unknown.", "RCPT", "userunknown"),
    ("OpenSMTPD", None, 550, "550 Invalid recipient: <gone@example.org>", "RCPT", "userunknown"),
    ("Zimbra", None, 550, "550 5.0.0 No such recipient here", "RCPT", "userunknown"),
    ("Exchange", "5.1.10", 550, "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", "RCPT", "userunknown"),
    ("Gmail", None, 550, "550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address", "RCPT", "userunknown"),
    ("iCloud", None, 550, "550 5.1.1 <gone@icloud.com>: user does not exist", "RCPT", "userunknown"),
    ("Yahoo", None, 554, "554 delivery error: dd This user doesn't have a yahoo.com account (gone@yahoo.com) [0]", "RCPT", "userunknown"),
    ("Mail.ru", None, 550, "550 Message was not accepted -- invalid mailbox. Local mailbox gone@mail.ru is unavailable: user not found", "RCPT", "userunknown"),
    ("Yandex", "5.7.1", 550, "550 5.7.1 No such user!", "RCPT", "userunknown"),
    ("Domino", None, 550, "550 User gone@example.org not listed in Domino Directory", "RCPT", "userunknown"),
    ("Domino, French router", "5.0.0", None, "Utilisateur gone (gone@example.org) non répertorié dans l'annuaire Domino", None, "userunknown"),
    ("Domino, German router", "5.0.0", None, "Benutzer gone (gone@example.org) ist nicht im Domino-Verzeichnis aufgeführt", None, "userunknown"),
    ("a server that says it plainly", None, 550, "550 Recipient <gone@example.org> does not exist here", "RCPT", "userunknown"),
    ("the address alone", None, 550, "550 gone@example.org does not exist", "RCPT", "userunknown"),
    ("the domain alone", None, 550, "550 nowhere.example does not exist", "RCPT", "hostunknown"),
    ("Comcast", None, 551, "551 5.1.1 <gone@comcast.net> Not our Customer", "RCPT", "userunknown"),
    ("RFC 5321 551", "5.1.6", 551, "551 5.1.6 User not local; please try <someone@example.net>", "RCPT", "userunknown"),
    ("Orange", "5.1.1", 550, "550 5.1.1 Adresse d au moins un destinataire invalide. Invalid recipient. OFR_416 [416]", "RCPT", "userunknown"),
    # blind batch 35: a recipient callout that found no mailbox, X.400's "addressee", "not valid"
    ("a gateway's recipient callout", None, 550, "550 Recipient verification failed for <gone@example.org>", "RCPT", "userunknown"),
    ("Exim recipient callout", None, 550, "550 Recipient verify failed", "RCPT", "userunknown"),
    ("Exim sender callout stays the sender's", None, 550, "550 Sender verify failed", "RCPT", "rejected"),
    ("an X.400 gateway", None, 550, "550 5.1.1 Addressee unknown", "RCPT", "userunknown"),
    ("a hosting panel", None, 550, "550 Delivery to the following recipient failed permanently: user not valid", "RCPT", "userunknown"),
    ("SmarterMail", None, 550, "550 <gone@example.org> No such user here", "RCPT", "userunknown"),
    ("hMailServer", None, 550, "550 Unknown user", "RCPT", "userunknown"),
    ("NetEase 163.com", None, 550, "550 User not found: gone@163.com", "RCPT", "userunknown"),
    ("Mimecast", None, 550, "550 Invalid Recipient - https://community.mimecast.com/docs/DOC-1369#550 [abc.uk123]", "RCPT", "userunknown"),
    ("Barracuda", None, 550, "550 No such user (gone@example.org)", "RCPT", "userunknown"),
    ("Dovecot LMTP", None, 550, "550 5.1.1 <gone@example.org> User doesn't exist: gone@example.org", "RCPT", "userunknown"),
    # ---- the mailbox is full
    ("Gmail", "4.2.2", 452, "452-4.2.2 The recipient's inbox is out of storage space. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaTemp", "RCPT", "mailboxfull"),
    ("Gmail, its last line only", None, 552, "552 5.2.2  https://support.google.com/mail/?p=OverQuotaPerm 5b1f17b1804b1-4347c1a2b3dsi1234567f.99 - gsmtp", "DATA", "mailboxfull"),
    ("Dovecot LMTP", None, 552, "552 5.2.2 <full@example.org> Quota exceeded (mailbox for user is full)", "DATA", "mailboxfull"),
    ("RFC 5321 552", None, 552, "552 Requested mail action aborted: exceeded storage allocation", "DATA", "mailboxfull"),
    ("qmail", None, None, "The users mailfolder is over the allowed quota (size). (#5.2.2)", None, "mailboxfull"),
    ("vpopmail, Postfix VDA", None, None, "maildir delivery failed: Sorry, the user's maildir has overdrawn his diskspace quota, please try again later.", None, "mailboxfull"),
    ("Orange, over a 5.1.1", "5.1.1", 552, "552 5.1.1 Boite du destinataire pleine. Recipient overquota. OFR_417 [417]", "RCPT", "mailboxfull"),
    # ---- the mailbox exists but is disabled
    ("Gmail", "5.2.1", 550, "550-5.2.1 The email account that you tried to reach is disabled. Learn more at https://support.google.com/mail/?p=DisabledUser", "RCPT", "suspend"),
    ("Yahoo", None, 554, "554 delivery error: dd Sorry your message to off@yahoo.com cannot be delivered. This mailbox is disabled (554.30)", "RCPT", "suspend"),
    ("Mail.ru", None, 550, "550 Message was not accepted -- invalid mailbox. Local mailbox off@mail.ru is unavailable: account is disabled", "RCPT", "suspend"),
    ("5.2.1 and 'disabled'", "5.2.1", 550, "550 5.2.1 <off@example.org>: Recipient address rejected: Account disabled", "RCPT", "suspend"),
    ("a 5.1.1 for everything", "5.1.1", 550, "550 5.1.1 <off@example.org>: mailbox is inactive", "RCPT", "suspend"),
    ("Mail.ru, a closed account", None, 550, "550 Message was not accepted -- invalid mailbox.  Local mailbox off@mail.ru is unavailable: user is terminated", "RCPT", "suspend"),
    ("Gmail, its last line only", None, 550, "550 5.2.1  https://support.google.com/mail/?p=DisabledUser 5b1f17b1804b1-4347c1a2b3dsi1234568f.100 - gsmtp", "RCPT", "suspend"),
    # ---- the recipient receives too fast
    ("Gmail", "4.2.1", 450, "450-4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered.", "RCPT", "speeding"),
    ("Gmail, the older words", "4.2.1", 450, "450-4.2.1 The user you are trying to contact is receiving mail too quickly. Please resend your message at a later time.", "RCPT", "speeding"),
    ("Gmail, its last line only", None, 450, "450 4.2.1  https://support.google.com/mail/?p=ReceivingRate 4fb4d7f45d1cf-5d0a1b2c3d4si2233445566a.40 - gsmtp", "RCPT", "speeding"),
    ("Gmail, permanent, its last line only", None, 550, "550 5.2.1  https://support.google.com/mail/?p=ReceivingRatePerm p131si8414989oif.118 - gsmtp", "RCPT", "speeding"),
    ("iCloud", "4.7.1", 421, "421 4.7.1 Messages to a@icloud.com deferred due to excessive volume. Try again later - https://support.apple.com/en-us/HT204137", "RCPT", "speeding"),
    ("Mail.ru", None, 451, "451 Ratelimit exceeded for mailbox a@mail.ru. Try again later.", "RCPT", "speeding"),
    ("Yandex", "4.2.1", 450, "450 4.2.1 The recipient has exceeded their message rate limit. Try again later.", "RCPT", "speeding"),
    ("Exchange Online 5.2.122 (Sisimai: the limit, not a rate)", "5.2.122", 550, "550 5.2.122 The recipient's per hour message receive limit exceeded", None, "toomanyconn"),
    # ---- the recipient accepts mail only from some senders
    ("Exchange 2003", "5.7.1", None, "You do not have permission to send to this recipient.  For assistance, contact your system administrator. <exch.example.org #5.7.1>", None, "filtered"),
    ("Exchange, a restricted mailbox", "5.7.1", 550, "550 5.7.1 RESOLVER.RST.RecipNotAuthorized; not authorized ; Delivery restriction check failed because the sender was not authorized to send to this recipient", None, "filtered"),
    ("Exchange 2010, a restricted group", "5.7.1", 550, "550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized", None, "filtered"),
    ("Exchange Online 5.7.133 (Sisimai: rejected)", "5.7.133", 550, "550 5.7.133 RESOLVER.RST.SenderNotAuthenticatedForGroup; authentication required; Delivery restriction check failed as sender not authenticated for group", None, "rejected"),
    # ---- the content is spam
    ("Exchange", "5.7.1", 550, "550 5.7.1 Message rejected as spam by Content Filtering.", "DATA", "spamdetected"),
    ("Mail.ru", None, 550, "550 spam message rejected. Please visit http://help.mail.ru/notspam-support/id?c=AbCd", "DATA", "spamdetected"),
    ("Yandex", "5.7.1", 554, "554 5.7.1 Message rejected under suspicion of SPAM; https://ya.cc/1IrBc 1681462211-abcd", "DATA", "spamdetected"),
    ("NetEase", None, 554, "554 DT:SPM 163 mx12,bMCowAB3X8Kx: please see http://mail.163.com/help/help_spam_16.htm?ip=192.0.2.1", "DATA", "spamdetected"),
    ("QQ", None, 550, "550 Mail content denied. http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=20022&&no=1000726", "DATA", "spamdetected"),
    ("amavisd-new", "5.7.0", 554, "554 5.7.0 Reject, id=12345-09 - SPAM", "DATA", "spamdetected"),
    ("Proofpoint", "5.7.1", 554, "554 5.7.1 Message blocked due to spam content in the message.", "DATA", "spamdetected"),
    ("a content filter", None, 550, "550 Message content rejected", "DATA", "spamdetected"),
    ("a content filter, in its words", None, 554, "554 5.7.1 Your message was blocked by our content filter", "DATA", "spamdetected"),
    ("a spam score", None, 550, "550 5.7.1 Rejected: SpamAssassin score 12.3 is above the threshold", "DATA", "spamdetected"),
    ("Spamhaus DBL (a domain in the content)", None, 554, "554 5.7.1 URL in message listed in dbl.spamhaus.org", "DATA", "spamdetected"),
    # ---- the sending IP is on a block list
    ("Postfix + Spamhaus", "5.7.1", 554, "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.1", "RCPT", "blocked"),
    ("Exim + Barracuda", None, 550, "550 Rejected because 192.0.2.1 is in a black list at b.barracudacentral.org", "RCPT", "blocked"),
    ("SpamCop", "5.7.1", 554, "554 5.7.1 Blocked - see http://www.spamcop.net/bl.shtml?192.0.2.1", "RCPT", "blocked"),
    ("UCEPROTECT", None, 554, "554 Your IP 192.0.2.1 is listed at dnsbl-1.uceprotect.net", "CONN", "blocked"),
    ("SORBS", None, 554, "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using dnsbl.sorbs.net", "RCPT", "blocked"),
    ("Microsoft S3150", "5.7.1", 550, "550 5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150).", "RCPT", "blocked"),
    ("Yahoo BL21", "5.7.1", 553, "553 5.7.1 [BL21] Connections will not be accepted from 192.0.2.1, because the ip is in Spamhaus's list; see https://postmaster.yahooinc.com/error-codes", "CONN", "blocked"),
    ("Comcast BL000001", None, 554, "554 resimta-po-12v.sys.comcast.net comcast 192.0.2.1 found on one or more DNSBLs, see http://postmaster.comcast.net/smtp-error-codes.php#BL000001", "CONN", "blocked"),
    # ---- the domain is not served there: relaying
    ("Postfix", "5.7.1", 554, "554 5.7.1 <a@example.net>: Relay access denied", "RCPT", "norelaying"),
    ("qmail", None, 553, "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)", "RCPT", "norelaying"),
    ("Exchange", "5.7.54", 550, "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain", "RCPT", "norelaying"),
    ("Sendmail", "5.7.1", 550, "550 5.7.1 <a@example.net>... Relaying denied", "RCPT", "norelaying"),
    ("Exim", None, 550, "550 relay not permitted", "RCPT", "norelaying"),
    # ---- SPF, DKIM, DMARC
    ("Yahoo", "5.7.9", 550, "550 5.7.9 This mail has been blocked because the sender is unauthenticated. Yahoo requires all senders to authenticate with either SPF or DKIM.", "DATA", "authfailure"),
    ("Microsoft 5.7.509", "5.7.509", 550, "550 5.7.509 Access denied, sending domain example.com does not pass DMARC verification and has a DMARC policy of reject.", "DATA", "authfailure"),
    ("Gmail", "5.7.26", 550, "550-5.7.26 Unauthenticated email from example.com is not accepted due to domain's DMARC policy.", "DATA", "authfailure"),
    ("policyd-spf, at MAIL", "5.7.1", 550, "550 5.7.1 <s@example.com>: Sender address rejected: SPF check failed", "MAIL", "authfailure"),
    ("Exim", None, 550, "550 SPF check failed for 192.0.2.1: example.com is not allowed to send mail from this host", "MAIL", "authfailure"),
    # Cisco Secure Email Gateway's SPF and DMARC verification defaults (AsyncOS user guide)
    ("Cisco ESA SPF", "5.7.1", 550, "550 #5.7.1 SPF unauthorized mail is prohibited.", "DATA", "authfailure"),
    ("Cisco ESA SPF, at MAIL", "5.7.1", 550, "550 #5.7.1 SPF unauthorised mail is prohibited", "MAIL", "authfailure"),
    ("Cisco ESA DMARC", "5.7.1", 550, "550 #5.7.1 DMARC unauthenticated mail is prohibited", "DATA", "authfailure"),
    # ---- too many connections, too fast
    ("Postfix", "4.7.0", 421, "421 4.7.0 mx.example.org Error: too many connections from 192.0.2.1", "CONN", "toomanyconn"),
    ("Exim", None, 421, "421 Too many concurrent SMTP connections from this IP address; please try again later.", "CONN", "toomanyconn"),
    ("QQ", None, 550, "550 Ip frequency limited. http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=20022&&no=1000725", "RCPT", "toomanyconn"),
    ("Microsoft RP-001", None, 421, "421 RP-001 (BAY004-MC1F27) Unfortunately, some messages from 192.0.2.1 weren't sent. Please try again.", "RCPT", "toomanyconn"),
    ("NetEase MI:SFQ", None, 550, "550 MI:SFQ 163 mx3: sender frequency limited", "MAIL", "toomanyconn"),
    ("Orange", None, 421, "421 mwinf5c79 ME Trop de connexions, veuillez verifier votre configuration. Too many connections, slow down. OFR005_104 [104]", "CONN", "toomanyconn"),
    ("a rate with a recipients status", "4.5.3", 452, "452 4.5.3 Too many concurrent connections, try again later", "RCPT", "toomanyconn"),
    # ---- the message breaks a policy (not the sending IP)
    ("Yahoo", "5.7.9", 554, "554 5.7.9 Message not accepted for policy reasons. See https://postmaster.yahooinc.com/error-codes", "DATA", "policyviolation"),
    ("Exim", None, 550, "550 Rejected by local policy: attachment type not allowed", "DATA", "policyviolation"),
    ("Mimecast", None, 550, "550 Rejected by header based Anti-Spoofing policy", "DATA", "policyviolation"),
    # ---- network and queue
    ("Postfix", "4.4.1", None, "connect to mx.example.org[192.0.2.1]:25: Connection refused", None, "networkerror"),
    ("Postfix", "5.4.6", None, "mail for example.org loops back to myself", None, "networkerror"),
    ("Sendmail", None, None, "Host is unreachable", None, "networkerror"),
    ("Exchange Online", "4.4.0", 451, "451 4.4.0 DNS query failed. The error was: DNS query failed with error: ServerFailure", None, "networkerror"),
    ("Exchange 2016", "4.4.0", 451, "451 4.4.0 DNS query failed. The error was: DNS query failed with error: ErrorRetry", None, "networkerror"),
    ("Exchange 2019", "4.4.0", 451, "451 4.4.0 DNS query failed with error ErrorTimeout", None, "networkerror"),
    ("Exchange", "4.4.7", None, "Message expired, connection refused", None, "expired"),
    ("qmail", None, None, "I'm not going to try again; this message has been in the queue too long.", None, "expired"),
    # ---- a local delivery program failed (before any mailbox words in its output)
    ("Postfix pipe", None, None, 'Command died with status 67: "/usr/local/bin/deliver". Command output: user unknown', None, "mailererror"),
    ("Sendmail", "5.3.0", 554, "554 5.3.0 unknown mailer error 1", None, "mailererror"),
    # ---- the sender
    ("Postfix", "5.1.8", 553, "553 5.1.8 <s@nowhere.example>: Sender address rejected: Domain not found", "MAIL", "rejected"),
    ("Exim", None, 550, "550 Verification failed for <s@example.com>: Unrouteable address; Sender verify failed", "MAIL", "rejected"),
    # ---- the domain
    ("Exim", None, 550, "550 Unrouteable address", "RCPT", "hostunknown"),
    ("Exchange", "5.4.4", 550, "550 5.4.4 DNS query failed. The error was: SMTPSEND.DNS.NonExistentDomain; nonexistent domain", None, "hostunknown"),
    ("Postfix", None, 550, "550 5.1.2 <a@nowhere.example>: Recipient address rejected: Domain not found", "RCPT", "hostunknown"),
    ("a generic server", None, 550, "550 nowhere.example is not a valid domain", "RCPT", "hostunknown"),
    # ---- reverse DNS
    ("Postfix", "4.7.1", 450, "450 4.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.1]", "RCPT", "requireptr"),
    ("Gmail", "5.7.25", 550, "550-5.7.25 The IP address sending this message does not have a PTR record setup", "RCPT", "requireptr"),
    ("Cisco IronPort SBRS", None, 554, "554 Your access to this mail system has been rejected due to the sending MTA's poor reputation.", "CONN", "badreputation"),
    # ---- more of the same families, from other servers' defaults
    ("Domino", None, 554, "554 Relay rejected for policy reasons.", "RCPT", "norelaying"),
    ("Gmail, the sender's own quota", "5.4.5", 550, "550 5.4.5 Daily sending quota exceeded.", "MAIL", "toomanyconn"),
    ("Gmail", "4.2.1", 450, "450-4.2.1 The user you are trying to contact is receiving mail too quickly.", "RCPT", "speeding"),
    ("iCloud", "4.7.1", 421, "421 4.7.1 Messages to someone@icloud.com deferred due to excessive volume. Try again later - https://support.apple.com/en-us/HT204137", "RCPT", "speeding"),
    ("Gmail", "4.7.0", 421, "421-4.7.0 This message does not have authentication information or fails to pass authentication checks", "DATA", "authfailure"),
    ("Yahoo", None, 421, "421 Max message per connection exceeded, closing transmission channel", "DATA", "toomanyconn"),
    ("Yahoo TSS09", "5.7.2", 553, "553 5.7.2 [TSS09] All messages from 192.0.2.1 will be permanently deferred; Retrying will NOT succeed.", "MAIL", "blocked"),
    ("Sophos", "5.7.1", 550, "550 5.7.1 Message rejected: SPAM", "DATA", "spamdetected"),
    ("GMX", None, 554, "554-Transaction failed 554 Reject due to content restrictions", "DATA", "spamdetected"),
    ("qmail", "4.3.0", 451, "451 qq temporary problem (#4.3.0)", "DATA", "systemerror"),
    ("Exim", None, 451, "451 Temporary local problem - please try later", "RCPT", "systemerror"),
    ("Sendmail", "4.4.5", 452, "452 4.4.5 Insufficient disk space; try again later", "MAIL", "systemfull"),
    ("Microsoft", "5.4.14", 554, "554 5.4.14 Hop count exceeded - possible mail loop ATTR34", "DATA", "networkerror"),
    ("Microsoft", "5.7.1", 550, "550 5.7.1 RESOLVER.RST.AuthRequired; authentication required", "RCPT", "securityerror"),
    ("Mimecast", None, 550, "550 Message Rejected due to Virus detected", "DATA", "virusdetected"),
    ("Mimecast", None, 451, "451 Open relay not allowed - https://community.mimecast.com/docs/DOC-1369#451", "RCPT", "norelaying"),
    ("QQ", None, 550, "550 Mailbox not found or access denied", "RCPT", "userunknown"),
    ("Barracuda (a block list named Reputation)", None, 554, "554 Service unavailable; Client host [192.0.2.1] blocked using Barracuda Reputation; http://www.barracudanetworks.com/reputation/?pr=1&ip=192.0.2.1", "RCPT", "blocked"),
    ("Gmail", "5.7.1", 550, "550-5.7.1 [192.0.2.1] Our system has detected that this message is likely suspicious due to the very low reputation of the sending IP address.", "DATA", "badreputation"),
    ("Gmail", "5.7.1", 550, "550-5.7.1 [192.0.2.1] The IP you're using to send mail is not authorized to send email directly to our servers. Please use the SMTP relay at your service provider instead.", "RCPT", "blocked"),
    # ---- Sisimai 4.25's wording lists (Reason/*.pm, BSD-2-Clause), as the MTAs and filters write them
    ("qmail badrcptto", None, 553, "553 sorry, this recipient is in my badrecipientto list (#5.7.1)", "RCPT", "userunknown"),
    ("qmail badrcptto", None, 553, "553 sorry, your envelope recipient is in my badrcptto list (#5.7.1)", "RCPT", "userunknown"),
    ("qmail validrcptto", None, 550, "550 sorry, this recipient is not in my validrcptto list (#5.1.1)", "RCPT", "userunknown"),
    ("vpopmail", "5.1.1", None, "vdeliver: Invalid or unknown virtual user 'gone'", None, "userunknown"),
    ("Exim prvs", None, 550, "550 Recipient not accepted. (BATV: no tag)", "RCPT", "rejected"),
    ("Barracuda", None, 553, "553 BATV validation failure", "RCPT", "rejected"),
    ("MailMarshal", None, 550, "550 Backscatter protection detected an invalid or expired email address", "RCPT", "rejected"),
    ("cPanel Exim + SpamAssassin", None, 550, '550 "The mail server detected your message as spam and has prevented delivery."', "DATA", "spamdetected"),
    ("MailMarshal", None, 554, "554 Message refused by MailMarshal SpamProfiler", "DATA", "spamdetected"),
    ("Trustwave SEG", None, 554, "554 Message refused by Trustwave SEG SpamProfiler", "DATA", "spamdetected"),
    ("Cyberoam", None, 550, "550 Cyberoam Anti Spam Engine has identified this email as a bulk email", "DATA", "spamdetected"),
    ("SendGrid", None, 550, "550 5.7.1 The content of this message looked like spam", "DATA", "spamdetected"),
    ("Earthlink", None, 554, "554 5.7.1 Too much spam.", "DATA", "spamdetected"),
    ("Sendmail", None, 451, "451 4.4.1 reply: read error from mx.example.org.; delivery attempts will continue to be made for 5 days", None, "expired"),
    ("Domino", None, None, "Message was not reachable within the allowed queue period", None, "expired"),
    # greylisting, given up on by the sender's queue (Haraka's "Too many failures (...)")
    ("postgrey", "4.7.1", 451, "451 4.7.1 <bob@example.nl>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.nl.html", "RCPT", "expired"),
    ("postgrey, Postfix's 450", "4.2.0", 450, "450 4.2.0 <bob@example.nl>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.nl.html", "RCPT", "expired"),
    ("rspamd", "4.7.1", 451, "451 4.7.1 Greylisting in action, please come back later", "DATA", "expired"),
    ("Exim greylistd, Halon", None, 451, "451 4.7.1 Greylisted, please try again later", "RCPT", "expired"),
    ("Sisimai's SpamDetected wording", None, 550, "550 5.0.0 <bob@example.jp>... greylisted, please try again in 300 seconds", "RCPT", "spamdetected"),
    ("Sendmail", None, 451, "451 Local configuration error", None, "systemerror"),
    ("Sendmail", None, 451, "451 4.0.0 queue file write error", None, "systemerror"),
    ("Postfix, a table it cannot read", "4.3.0", 451, "451 4.3.0 <bob@example.org>: Temporary lookup failure", "RCPT", "systemerror"),
    ("a resolver's own failure", None, 451, "451 Temporary DNS failure, try again later", None, "networkerror"),
    ("Exchange", "5.2.122", 550, "550 5.2.122 The recipient has exceeded their limit for the number of messages they can receive per hour", "RCPT", "toomanyconn"),
    ("Gmail", "5.4.5", 550, "550 5.4.5 Daily SMTP relay limit exceeded for user", "MAIL", "toomanyconn"),
    ("Gmail", "4.2.1", 450, "450 4.2.1 Peak SMTP relay limit exceeded for customer", "MAIL", "toomanyconn"),
    ("Courier", None, 550, "550 Mail quota exceeded: account is exceeding their quota", "RCPT", "mailboxfull"),
    ("Sendmail", None, 552, "552 5.2.2 <full@example.org>... Mailbox quota usage exceeded", "RCPT", "mailboxfull"),
    ("Sendmail", None, 554, "554 5.0.0 Service unavailable; rejecting open proxy 192.0.2.1", "CONN", "blocked"),
    ("Exim", None, 550, "550 HELO command rejected: mx.example.net", "EHLO", "blocked"),
    ("Sendmail, an MX of '.'", None, None, "Name server: .: host not found", None, "notaccept"),
    ("Sendmail, a DNS failure", None, None, "Host unknown (Name server: mx.example.org: host not found, try again)", None, "networkerror"),
    ("a spam filter", None, 554, "554 5.7.1 Message contains spam or virus", "DATA", "spamdetected"),
    ("a spam filter", None, 550, "550 Your message has been temporarily blocked by our filter", "DATA", "spamdetected"),
    ("NTT DOCOMO", None, 552, "552 too many recipients", "RCPT", "toomanyconn"),
    ("Exchange", "5.5.3", 550, "550 5.5.3 RESOLVER.ADR.RecipLimit; too many recipients", "RCPT", "toomanyconn"),
    ("Gmail", "4.5.3", 452, "452-4.5.3 Your message has too many recipients. For more information regarding Google's sending limits", "RCPT", "toomanyconn"),
    # ---- the ninth notice batch (tests/bounces/notices, by Sisimai reason)
    ("Sendmail FEATURE(redirect)", "5.1.1", 551, "551 5.1.1 <p.nakamura@example.com>... User has moved; please try <p.nakamura@newco.example>", "RCPT", "hasmoved"),
    ("iCloud", "5.1.1", 550, "550 5.1.1 <old@icloud.com>: inactive email address", "RCPT", "suspend"),
    ("Sendmail", "5.7.13", 525, "525 5.7.13 Disabled recipient address", "RCPT", "suspend"),
    ("Sendmail, an MX naming itself", "5.3.5", 553, "553 5.3.5 mail.example.org. config error: mail loops back to me (MX problem?)", None, "systemerror"),
    ("Exim", None, None, "Too many \"Received\" headers - suspected mail loop", None, "networkerror"),
    ("Exchange", "5.6.11", 550, "550 5.6.11 SMTPSEND.BareLinefeedsAreIllegal; message contains bare linefeeds, which cannot be sent via DATA and receiving system does not support BDAT", "DATA", "contenterror"),
    # ---- the thirty-fourth notice batch (refusals for the message's content): bare LF line
    # endings in other servers' words
    ("Postfix 3.9 smtpd_forbid_bare_newline", "5.5.2", 550, "550 5.5.2 Error: bare <LF> received", "DATA", "contenterror"),
    ("qmail-smtpd straynewline", None, 451, "451 See http://pobox.com/~djb/docs/smtplf.html.", "DATA", "contenterror"),
    # a content scanner that failed is the receiver's local trouble, not a virus
    ("amavisd-new, no scanner answering", "4.5.0", 451, "451 4.5.0 Error in processing, id=09213-04, virus_scan FAILED: AV: ALL VIRUS SCANNERS FAILED", "DATA", "systemerror"),
    ("RFC 5321 451 reply", None, 451, "451 Requested action aborted: error in processing", "DATA", "systemerror"),
    # the content itself: spam, a blocked attachment type, a virus in an encrypted archive
    ("Gmail, content deferral", "4.7.0", 421, "421-4.7.0 This message is suspicious due to the nature of the content and/or the links within. To best protect our users from spam, the message has been blocked.", "DATA", "spamdetected"),
    ("Exchange Online attachment filter", "5.7.1", 550, "550 5.7.1 Your message couldn't be delivered because it contains an attachment type that is blocked", "DATA", "policyviolation"),
    ("amavisd-new, a virus", "5.7.0", 554, "554 5.7.0 Reject, id=04721-12 - INFECTED: Heuristics.Encrypted.Zip", "DATA", "virusdetected"),
    # ---- the twelfth notice batch (the reasons earlier batches covered least)
    ("Sendmail check_mail", "5.5.4", 553, "553 5.5.4 <bounces>... Domain name required for sender address bounces", "MAIL", "rejected"),
    ("Sendmail check_mail, no step named", None, 553, "553 5.5.4 <bounces>... Domain name required for sender address bounces", None, "rejected"),
    ("Postfix reject_non_fqdn_sender", "5.5.2", 504, "504 5.5.2 <bounces>: Sender address rejected: need fully-qualified address", "RCPT", "rejected"),
    ("Postfix reject_unknown_sender_domain", "5.1.8", 550, "550 5.1.8 <s@example.com>: Sender address rejected: Domain not found", "RCPT", "rejected"),
    ("Exim sender callout", None, 550, "550-Verification failed for <s@example.com> 550-Called: 192.0.2.9 550 Sender verify failed", "RCPT", "rejected"),
    ("Sendmail prog mailer", "5.3.0", 554, "554 5.3.0 unknown mailer error 1", None, "mailererror"),
    ("Exim pipe transport", None, None, "Child process of address_pipe transport returned 1 from command: /usr/local/bin/import", None, "mailererror"),
    ("Sendmail FEATURE(dnsbl) SpamCop", "5.7.1", 550, "550 5.7.1 Rejected: 192.0.2.1 listed at bl.spamcop.net", "MAIL", "blocked"),
    ("Postfix reject_rbl_client UCEPROTECT", "5.7.1", 554, "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using dnsbl-1.uceprotect.net; IP 192.0.2.1 is UCEPROTECT-Level 1 listed.", "RCPT", "blocked"),
    ("amavisd-new", "5.7.0", 554, "554 5.7.0 Reject, id=21904-07 - spam", "DATA", "spamdetected"),
    ("Exim spec, SpamAssassin ACL", None, 550, "550 This message scored 14.2 spam points.", "DATA", "spamdetected"),
    ("Gmail, RFC 5322 headers", "5.7.1", 550, "550-5.7.1 [192.0.2.1] This message is not RFC 5322 compliant. There are multiple Message-ID headers.", "DATA", "notcompliantrfc"),
    ("Gmail, Message-ID", "5.7.1", 550, "550-5.7.1 [192.0.2.1] Messages missing a valid Message-ID header are not accepted.", "DATA", "notcompliantrfc"),
    ("Exim dnslookup", None, None, "all relevant MX records point to non-existent hosts", None, "hostunknown"),
    ("Sun/Oracle Messaging Server", "5.1.1", 550, "550 5.1.1 unknown or illegal alias: gone@example.org", "RCPT", "userunknown"),
    # ---- the thirteenth notice batch (the sending software the Sisimai corpus has least)
    ("amavisd-new, a banned part", "5.7.0", 554, "554 5.7.0 Reject, id=31337-07 - BANNED: invoice.exe", "DATA", "policyviolation"),
    ("amavisd-new, no verdict named", "5.7.0", 554, "554 5.7.0 Reject, id=31337-07", "DATA", "spamdetected"),
    ("Lotus Domino router", None, None, "No route found to domain example.org from server SMTP/Example. Check Server, Connection and Domain documents in Name & Address Book.", None, "hostunknown"),
    ("Apache James RemoteDelivery", None, None, "There are no DNS entries for the hostname example.org.  I cannot determine where to send this message.", None, "hostunknown"),
    # ---- the sixteenth notice batch (receiving servers' stock refusal texts)
    ("Postfix reject_unknown_helo_hostname", "4.7.1", 450, "450 4.7.1 <mail.example.net>: Helo command rejected: Host not found", "RCPT", "blocked"),
    ("Postfix reject_unknown_helo_hostname, 550", "5.7.1", 550, "550 5.7.1 <mail.example.net>: Helo command rejected: Host not found", "RCPT", "blocked"),
    ("Postfix reject_invalid_helo_hostname", "5.5.2", 501, "501 5.5.2 <mail_01>: Helo command rejected: Invalid name", "RCPT", "blocked"),
    ("Postfix reject_non_fqdn_helo_hostname", "5.5.2", 504, "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname", "RCPT", "blocked"),
    ("Postfix reject_rhsbl_sender, Spamhaus DBL", "5.7.1", 554, "554 5.7.1 Service unavailable; Sender address [s@example.com] blocked using dbl.spamhaus.org; https://www.spamhaus.org/query/domain/example.com", "RCPT", "rejected"),
    ("Postfix reject_rhsbl_sender, URIBL", "5.7.1", 554, "554 5.7.1 Service unavailable; Sender address [s@example.com] blocked using multi.uribl.com", "RCPT", "rejected"),
    ("Postfix reject_rhsbl_helo, Spamhaus DBL", "5.7.1", 554, "554 5.7.1 Service unavailable; Helo command [mail.example.com] blocked using dbl.spamhaus.org", "RCPT", "blocked"),
    ("Postfix reject_rhsbl_client, Spamhaus DBL", "5.7.1", 554, "554 5.7.1 Service unavailable; Client host [mail.example.com] blocked using dbl.spamhaus.org", "RCPT", "blocked"),
    ("Postfix queue_minfree", "4.3.1", 452, "452 4.3.1 Insufficient system storage", "MAIL", "systemfull"),
    ("Exchange back pressure", None, 452, "452 4.3.1 Insufficient system resources", "MAIL", "systemfull"),
    ("Exchange 2016 back pressure", None, 452, "452 4.3.1 Insufficient system resources (UsedDiskSpace[C:\\Program Files\\Microsoft\\Exchange Server\\V15\\TransportRoles\\data\\Queue])", "MAIL", "systemfull"),
    ("Exim smtp transport", None, None, "all host address lookups failed permanently", None, "hostunknown"),
    ("Exchange 2010-2019", "5.4.4", 554, "554 5.4.4 SMTPSEND.DNS.NonExistentDomain; nonexistent domain", None, "hostunknown"),
    ("Exchange, a vague status", "5.0.0", 554, "554 5.0.0 SMTPSEND.DNS.NonExistentDomain; nonexistent domain", None, "hostunknown"),
    ("Exchange Online 5.4.310", "5.4.310", 550, "550 5.4.310 DNS domain exmaple.ie does not exist [Message=InfoDomainNonexistent]", None, "hostunknown"),
    # ---- the twenty-third notice batch (Japanese, Chinese and Korean carriers): the
    # recipient's reception settings refused the sender (Sisimai's Reason/Filtered.pm)
    ("a carrier's receive restriction", "5.7.1", 550, "550 5.7.1 Recipient rejected mail from you by recipient's setting", "RCPT", "filtered"),
    ("Sisimai Filtered.pm's description", None, 550, "550 Your address is rejected by recipient's email configuration", None, "filtered"),
    ("a reception setting", "5.2.0", 550, "550 5.2.0 Message refused by the recipient's receiving settings", "DATA", "filtered"),
    ("Japanese: refused by the receive-refusal setting", None, 550, "550 受信拒否設定により配信できませんでした", None, "filtered"),
    # ---- the twenty-fourth notice batch (providers' documented error texts): Gmail's 2024
    # sender requirements name the cause after a rate limit or refusal; the cause decides
    ("Gmail 4.7.27 SPF", "4.7.27", 421, "421-4.7.27 Your email has been rate limited because SPF authentication didn't pass for this message. Gmail requires all bulk email senders to authenticate with SPF.", "DATA", "authfailure"),
    ("Gmail 5.7.27 SPF, over a null-MX status", "5.7.27", 550, "550-5.7.27 Your email has been blocked because SPF authentication didn't pass for this message.", "DATA", "authfailure"),
    ("RFC 7505 null MX keeps its 5.7.27", "5.7.27", 550, "550 5.7.27 Sender address has null MX", "MAIL", "notaccept"),
    ("Gmail 4.7.30 DKIM", "4.7.30", 421, "421-4.7.30 Your email has been rate limited because DKIM authentication didn't pass for this message. Gmail requires all email bulk senders to authenticate with DKIM.", "DATA", "authfailure"),
    ("Gmail 4.7.26", "4.7.26", 421, "421-4.7.26 Your email has been rate limited because it is unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM.", "DATA", "authfailure"),
    ("Gmail 5.7.32 alignment", "5.7.32", 550, "550-5.7.32 Your email has been blocked because the From: header (RFC5322) in this message isn't aligned with either the authenticated SPF or DKIM organizational domain.", "DATA", "authfailure"),
    ("Gmail 4.7.29 TLS", "4.7.29", 421, "421-4.7.29 Your email has been rate limited because this message wasn't sent over a TLS connection. Gmail requires all bulk email senders to use TLS/SSL for SMTP connections.", "DATA", "failedstarttls"),
    ("Gmail 5.7.29 TLS", "5.7.29", 550, "550-5.7.29 Your email has been blocked because this message was not sent over a TLS connection.", "DATA", "failedstarttls"),
    ("Gmail 4.7.28, a rate with no other cause", "4.7.28", 421, "421-4.7.28 Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily rate limited.", "DATA", "toomanyconn"),
    ("Zoho Mail, a domain not set up there", None, 553, "553 Relaying disallowed. Invalid Domain - example.in", "RCPT", "norelaying"),
    ("relaying disallowed, plainly", "5.7.1", 550, "550 5.7.1 Relaying disallowed", "RCPT", "norelaying"),
    ("Yahoo TSS11", "4.7.0", 421, "421 4.7.0 [TSS11] Excessive unknown recipients - possible Open Relay (#4.7.0)", "RCPT", "badreputation"),
    ("AOL RLY:B1", None, 554, "554- (RLY:B1) The information presently available to AOL indicates this server is transmitting unsolicited e-mail to AOL. Based on AOL's Unsolicited Bulk E-mail policy at http://www.aol.com/info/bulk.html AOL cannot accept further e-mail transactions from this server.", "CONN", "blocked"),
    ("a server named a spam source", "5.7.1", 550, "550 5.7.1 Your server has been sending spam; mail from it is refused", "RCPT", "blocked"),
    ("unsolicited content stays content", "5.7.1", 550, "550 5.7.1 Unsolicited mail rejected", "DATA", "spamdetected"),
    ("Exchange Online 5.7.520", "5.7.520", 550, "550 5.7.520 Access denied, Your organization does not allow external forwarding. Please contact your administrator for further assistance. AS(7555)", "DATA", "policyviolation"),
    ("external forwarding, without the tenant's AS code", None, 550, "550 Access denied, the recipient's organization does not allow automatic forwarding", "DATA", "policyviolation"),
    # ---- the twenty-fifth notice batch (legacy plain-text notices)
    ("Exchange 2000/2003, #5.4.0", "5.4.0", None, "The message could not be delivered because the recipient's destination email system is unknown or invalid. Please check the address and try again", None, "hostunknown"),
    ("Exchange 2003, #5.1.2", "5.1.2", None, "The message could not be delivered because the recipient's destination e-mail system is unknown or invalid.", None, "hostunknown"),
    ("Exchange 2003, no MX", "5.4.0", None, "The destination server for this recipient could not be found in Domain Name Service (DNS). Please verify the email address and retry.", None, "hostunknown"),
    ("MMDF, gave up", None, None, "After 7 days (168 hours), your message could not be fully delivered.", None, "expired"),
    ("MMDF, a shorter queue", None, None, "After 3 days (72 hours), your message could not be delivered.", None, "expired"),
    ("Sendmail 8.8, Timeout.queuereturn", None, 451, "451 <a@example.org>... reply: read error from mx.example.org. Message could not be delivered for 5 days Message will be deleted from queue", None, "expired"),
    # ---- the thirtieth notice batch (the route, not the mailbox): the sender's TLS policy
    ("Exim, hosts_require_tls", None, None, "host mx.example.fr [192.0.2.1]: a TLS session is required, but the server did not offer TLS support", None, "failedstarttls"),
    ("Exim, hosts_require_tls, STARTTLS failed", None, None, "a TLS session is required, but an attempt to start TLS failed", None, "failedstarttls"),
    ("OpenSMTPD, relay tls", "4.7.0", None, "TLS required but not supported by remote host", None, "failedstarttls"),
    ("Postfix, dane/verify", "4.7.5", None, "Server certificate not verified", None, "failedstarttls"),
    ("Postfix, secure", "4.7.5", None, "Server certificate not trusted", None, "failedstarttls"),
    ("Exim, OpenSSL", None, None, "TLS session: (SSL_connect): error:0A000086:SSL routines::certificate verify failed", None, "failedstarttls"),
    ("Stalwart, rustls", "4.7.5", None, "TLS error from 'mx.example.nz': invalid peer certificate: NotValidForName", None, "failedstarttls"),
    ("Google Workspace, secure transport", None, None, "TLS Negotiation failed, the certificate doesn't match the host.", None, "failedstarttls"),
    ("Exchange Online DANE 5.7.323", "5.7.323", 550, "550 5.7.323 tlsa-invalid: The domain failed DANE validation.", None, "failedstarttls"),
    ("Exchange Online DANE 4.7.322", "4.7.322", 451, "451 4.7.322 certificate-expired: Destination mail server's certificate is expired.", None, "failedstarttls"),
    ("Exchange Online DANE 5.7.324", "5.7.324", 550, "550 5.7.324 dnssec-invalid: Destination domain returned invalid DNSSEC records", None, "failedstarttls"),
    ("Exchange Online DANE 5.7.325", "5.7.325", 550, "550 5.7.325 certificate-host-mismatch: Remote certificate MUST have a common name or subject alternative name matching the hostname (DANE)", None, "failedstarttls"),
    ("Stalwart, DANE", "4.7.5", None, "DANE failed to authenticate 'mx.example.fi': No matching certificates found in TLSA records", None, "failedstarttls"),
    # ... the DNS and the MX
    ("Exim dnslookup, a SERVFAIL", None, None, "host lookup did not complete", None, "networkerror"),
    ("Exim smtp transport, a DNS timeout", None, None, "host lookup for mx.example.org did not complete (DNS timeout?)", None, "networkerror"),
    ("hMailServer, no MX nor A", None, None, "No mail servers appear to exists for the recipients address.", None, "hostunknown"),
    ("Exim router, self = fail", None, None, "lowest numbered MX record points to local host", None, "systemerror"),
    ("Exim manualroute, self = fail", None, None, "remote host address is the local host", None, "systemerror"),
    ("Exchange 2013+ MxLoopback", "5.4.4", 554, "554 5.4.4 SMTPSEND.DNS.MxLoopback; DNS records for the destination domain are configured in a loop", None, "systemerror"),
    # ---- mail gateways and hosted filters (blind batch 36)
    ("Symantec Email Security.cloud", None, 553, "553-Message filtered. Refer to the Troubleshooting page at 553-http://www.symanteccloud.com/troubleshooting for more 553 information. (#5.7.1)", "DATA", "spamdetected"),
    ("MessageLabs, older", None, 553, "553 Message filtered. Please see the FAQs section on spam", "DATA", "spamdetected"),
    ("Amazon SES receiving", "5.7.1", 554, "554 5.7.1 Message filtered", "DATA", "filtered"),
    ("SpamExperts / Mail Assure", None, 550, "550 A URL in this email (cheap-deals.example) is listed on https://spamrl.com/. Please resolve and retry", "DATA", "spamdetected"),
    ("Cisco Secure Email content filter", "5.7.1", 550, "550 5.7.1 Message rejected due to content", "DATA", "spamdetected"),
    ("Mimecast content examination", None, 550, "550 Message bounced due to content examination policy", "DATA", "policyviolation"),
    ("Sophos Central Email", "5.7.1", 550, "550 5.7.1 Sender has been blocked", "MAIL", "rejected"),
    ("Google Workspace admin rule", "5.7.1", 550, "550 5.7.1 Message rejected by the domain administrator's policy. Please contact the administrator of example.org for more information. - gsmtp", "DATA", "policyviolation"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("who", "status", "code", "text", "command", "reason"), FAMILIES, ids=[f"{r[5]}-{r[0]}" for r in FAMILIES]
)
def test_a_wording_family_gets_its_reason(
    who: str, status: str | None, code: int | None, text: str, command: str | None, reason: str
) -> None:
    decided = classify(status, code, text, command)
    assert decided.reason == reason, decided.rule


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("550 5.1.1 Benutzer unbekannt", "userunknown"),
        ("550 Utilisateur inconnu", "userunknown"),
        ("550 Usuario desconocido", "userunknown"),
        ("550 5.2.2 Postfach voll", "mailboxfull"),
        ("552 Boite aux lettres pleine", "mailboxfull"),
        ("550 5.7.1 Nachricht als Spam eingestuft", "spamdetected"),
        ("550 Пользователь не найден", "userunknown"),
        ("550 用户不存在", "userunknown"),
    ],
)
def test_providers_that_write_in_other_languages(text: str, reason: str) -> None:
    assert classify(None, None, text, "RCPT").reason == reason


# ---- precedence (issue 9: "the wrong family wins") ---------------------------------------


def test_a_relay_refusal_at_rcpt_is_norelaying_not_the_sender() -> None:
    # a 5.7.1 alone reads as "the sender was refused"; the words say the domain is not served
    assert classify("5.7.1", 553, "553 5.7.1 <a@example.net>: not in rcpthosts", "RCPT").reason == "norelaying"


def test_a_catch_all_5_1_1_yields_to_words_that_say_the_mailbox_exists() -> None:
    for text, reason in [
        ("550 5.1.1 <a@example.org>: mailbox is full", "mailboxfull"),
        ("550 5.1.1 <a@example.org>: account disabled", "suspend"),
        ("550 5.1.1 <a@example.org>: Relay access denied", "norelaying"),
    ]:
        assert classify("5.1.1", 550, text, "RCPT").reason == reason, text


def test_user_not_local_is_no_moved_mailbox() -> None:
    decided = classify("5.1.6", 551, "551 5.1.6 User not local; please try <a@example.net>", "RCPT")
    assert (decided.reason, decided.hard) == ("userunknown", True)
    assert classify("5.1.6", 550, "550 5.1.6 Recipient no longer on server", "RCPT").reason == "hasmoved"


def test_a_block_list_wins_over_policy_words_and_policy_words_over_the_generic_block() -> None:
    listed = "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using bl.spamcop.net; policy"
    assert classify("5.7.1", 554, listed, "RCPT").reason == "blocked"
    assert classify("5.7.1", 550, "550 5.7.1 Message blocked by policy", "DATA").reason == "policyviolation"


def test_sisimais_filter_wordings_do_not_take_block_lists_or_domains() -> None:
    # the spam-filter and recipient families of Sisimai's lists are narrow enough that a
    # block list, a named check or a missing domain keeps its own reason
    for text, reason in [
        ("550 5.7.1 Your IP 192.0.2.1 is on our spam block list", "blocked"),
        ("554 Your IP has been blocked for abuse", "blocked"),
        ("550 5.7.1 DKIM authentication failed for example.com", "authfailure"),
        ("550 Recipient address rejected: Invalid domain", "hostunknown"),
        ("550 5.7.1 Sender verification failure", "rejected"),
    ]:
        assert classify(None, None, text, "RCPT").reason == reason, text


def test_authentication_words_win_over_a_sender_refusal() -> None:
    text = "550 5.7.1 <s@example.com>: Sender address rejected: SPF fail - not authorized"
    assert classify("5.7.1", 550, text, "RCPT").reason == "authfailure"


def test_gmails_wrapper_is_not_the_recipient_refusing() -> None:
    # every Gmail bounce says "it was rejected by the recipient domain": not `filtered`
    text = (
        "Google tried to deliver your message, but it was rejected by the recipient domain. "
        "The error that the other server returned was: 550 5.7.1 Client host [192.0.2.1] blocked using zen.spamhaus.org"
    )
    assert classify(None, None, text).reason == "blocked"


def test_a_full_spool_in_a_delay_is_systemfull_not_expired() -> None:
    # a delay's reason is read from its words before the delay's own fallback (expired):
    # Exchange's back pressure, Postfix's queue_minfree and Sendmail's MinFreeBlocks refuse
    # new mail until the disk frees up
    for text in (
        "452 4.3.1 Insufficient system resources",
        "452 Insufficient system resources",
        "452 4.3.1 Insufficient system storage",
        "452 4.4.5 Insufficient disk space; try again later",
    ):
        assert classify(None, 452, text, "MAIL", "delayed").reason == "systemfull", text


def test_a_mailbox_lock_in_a_delay_is_a_local_failure_not_expired_nor_a_locked_account() -> None:
    # the local delivery agent could not lock the mbox (a POP server or a mail client holds
    # it) and tries again: the receiving system's trouble for now (systemerror), read before
    # the delay's fallback (expired); an account the provider locked stays suspend
    for text in (
        "failed to lock mailbox /var/mail/hbauer (lock file)",  # Exim appendfile
        "failed to lock mailbox /var/mail/hbauer (fcntl/flock)",
        "cannot update mailbox /var/mail/mruiz for user mruiz. unable to lock for exclusive access: "
        "Resource temporarily unavailable",  # Postfix local(8)
    ):
        assert classify(None, None, text, None, "delayed").reason == "systemerror", text
    assert classify("4.2.0", None, "unable to lock for exclusive access", None, "delayed").reason == "systemerror"
    assert classify(None, 550, "550 5.2.1 <a@example.org>: mailbox is locked", "RCPT").reason == "suspend"


def test_onhold_and_undefined_when_there_is_nothing_to_go_on() -> None:
    assert classify(None, None, "").reason == "undefined"
    assert classify("5.0.0", 550, "550 something nobody has ever written").reason == "onhold"
    # a reply code, a status and an address, and no word of cause: as little as no text
    assert classify("5.0.0", 550, "550 5.0.0").reason == "undefined"
    assert classify(None, None, "554 <a@example.org>...").reason == "undefined"
    assert classify(None, 550, "550 nope").reason == "onhold"  # a word, which no rule reads


# ---- the scanner that keeps the rules cheap ------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "literals"),
    [
        ("user ?unknown", ("unknown",)),
        ("unknown (?:user|recipient)", ("unknown ",)),
        (r"\d\.1\.0 address rejected", (".1.0 address rejected",)),
        (r"pipe to \|", ("pipe to |",)),
        ("(?:foo)?bar", ("bar",)),
        ("ab+c", ("ab",)),
        ("a|bc", ("a", "bc")),
        ("(?:disabled|suspended) (?:mail ?box|account)", ("disabled", "suspended")),
        (r"(?<![\w@.-])(?:[\w-]+\.)+[a-z]{2,} does not exist", (" does not exist",)),
        ("x[]a]yz", ("yz",)),
        ("a(?=bc)d", ("a",)),
        (r"\bfoo|.*", ()),  # a branch that needs nothing: no hint
    ],
)
def test_required_literals(pattern: str, literals: tuple[str, ...]) -> None:
    assert required_literals(pattern) == literals


def test_every_match_of_every_rule_contains_one_of_its_strings() -> None:
    # the index skips a pattern whose strings are not in the text: that must never skip a match
    texts = [row[3].lower() for row in FAMILIES]
    for rule in RULES.text + RULES.host:
        for pattern in rule.patterns:
            compiled = re.compile(pattern.source)
            for text in texts:
                if compiled.search(text):
                    assert any(s in text for s in (pattern.literal, *pattern.more)), (pattern.source, text)


def test_every_rule_cites_its_source() -> None:
    # a rule without a source is a rule written against an email: each [[reason]] and each
    # [provider] names the documents or the software defaults it follows in a comment or doc
    source = RULES_FILE.read_text(encoding="utf-8")
    blocks = source.split("\n[[reason]]\n")[1:]
    assert len(blocks) == len(RULES.text)
    for block in blocks:
        name = block.split('name = "', 1)[1].split('"', 1)[0]
        assert "\n# " in block.split("patterns = [", 1)[0], f"the [[reason]] {name} cites no source"
    for rule in RULES.host:
        assert rule.doc, rule.provider


# ---- one classifier for every refusal -------------------------------------------------------

_STEPS = {"CONN": Step.CONNECT, "MAIL": Step.MAIL, "RCPT": Step.RCPT, "DATA": Step.EOM}
_IN_REPLY_TO = {"CONN": "", "MAIL": "MAIL FROM", "RCPT": "RCPT TO", "DATA": "end of DATA"}


@pytest.mark.parametrize(
    ("who", "status", "code", "text", "command", "reason"),
    [row for row in FAMILIES if row[2] and row[4] in ("MAIL", "RCPT", "DATA")],
    ids=[f"{r[5]}-{r[0]}" for r in FAMILIES if r[2] and r[4] in ("MAIL", "RCPT", "DATA")],
)
def test_our_own_refusal_and_the_same_reply_in_a_dsn_agree(
    who: str, status: str | None, code: int, text: str, command: str, reason: str
) -> None:
    sync = refusal_fields(Outcome(Verdict.PERMANENT, _STEPS[command], code, status, text))
    diagnostic = f"{text} (in reply to {_IN_REPLY_TO[command]} command)"
    [row] = recognise(report("a@example.org", status or "5.0.0", diagnostic)).recipients
    assert (row.reason, row.hard) == (sync["reason"], sync["hard"]) == (reason, row.hard), (row.rule, sync["rule"])


def report(recipient: str, status: str, diagnostic: str, remote_mta: str | None = None) -> bytes:
    """A minimal RFC 3464 report about one recipient, as Postfix writes them."""
    remote = f"Remote-MTA: dns; {remote_mta}\r\n" if remote_mta else ""
    return (
        "From: MAILER-DAEMON@relay.example.org\r\nSubject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\n"
        "Content-Type: text/plain\r\n\r\nThe message could not be delivered.\r\n--b\r\n"
        "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; relay.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\n{remote}"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n--b--\r\n"
    ).encode()
