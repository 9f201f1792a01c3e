"""returnpath's SMTP adapters.

- `submission`: the server applications submit mail to (aiosmtpd handler; STARTTLS, AUTH);
- `replies`: the named replies, with enhanced status codes, that the servers send;
- `client`: the outbound session that delivers to the recipients' mail servers.

Nothing is imported here, so that using one of them does not load the others.
"""
