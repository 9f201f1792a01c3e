"""Sending domains: their DKIM keys (keys.py), the records to publish for them (records.py),
and the signatures made with them (signer.py). Issue 11."""
