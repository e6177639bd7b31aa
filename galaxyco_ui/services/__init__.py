"""Use cases: one function per user action, tenant-scoped and permission-checked.

Every function takes keyword arguments only, runs in one transaction
(``session_scope``) and returns views (pydantic models), never ORM rows.
"""
