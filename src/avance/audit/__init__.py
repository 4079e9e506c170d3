"""The tamper-evident audit trail: who changed what, from where and when, hash-chained, its head
signed by the node's key. The writer (``record``) is ``avance.store.audit``, low enough for every
capability; this package verifies, queries, exports and signs (see docs/audit.md)."""
