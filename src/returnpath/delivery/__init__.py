"""Delivery: sending stored deliveries to the recipients' mail servers.

- `routes`: where mail for a domain goes (static routes, MX records by RFC 5321, null MX),
  with the DNS behind the `Resolver` port;
- `engine`: the per-process engine: per-destination queues, session tasks over reused
  connections (`smtp.client.Session`), retries through `core.retry`, leases in the store.
"""
