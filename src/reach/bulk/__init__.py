"""``reach import`` and ``reach export``: files of records in and out through the HTTP API.

Both are clients of a running server (they use :mod:`reach.client`, authenticated as the
partner), so they work the same against a local SQLite server and a remote PostgreSQL fleet.
"""
