"""Roles and permissions, declared once.

Each role maps to the permissions it holds and their scope: ``ANY`` object in the
workspace, or only objects the user created (``OWN``). Service functions call
``require(ctx, Permission.X, owner_id=...)`` at their top.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from galaxyco_ui.errors import PermissionDeniedError


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


ROLE_LABELS: dict[Role, str] = {
    Role.OWNER: "Owner",
    Role.ADMIN: "Admin",
    Role.MEMBER: "Member",
    Role.VIEWER: "Viewer",
}


class Permission(StrEnum):
    VIEW_WORKSPACE = "view_workspace"
    RENAME_WORKSPACE = "rename_workspace"
    DELETE_WORKSPACE = "delete_workspace"
    TRANSFER_OWNERSHIP = "transfer_ownership"
    MANAGE_BILLING = "manage_billing"
    MANAGE_MEMBERS = "manage_members"
    MANAGE_SETTINGS = "manage_settings"
    MANAGE_PROVIDER_KEYS = "manage_provider_keys"
    VIEW_AUDIT_LOG = "view_audit_log"
    CREATE_AGENT = "create_agent"
    EDIT_AGENT = "edit_agent"
    RUN_AGENT = "run_agent"
    UPLOAD_KNOWLEDGE = "upload_knowledge"
    EDIT_KNOWLEDGE = "edit_knowledge"
    MANAGE_SCHEDULES = "manage_schedules"


class Scope(StrEnum):
    ANY = "any"
    OWN = "own"


_ADMIN = {
    Permission.VIEW_WORKSPACE: Scope.ANY,
    Permission.RENAME_WORKSPACE: Scope.ANY,
    Permission.MANAGE_MEMBERS: Scope.ANY,
    Permission.MANAGE_SETTINGS: Scope.ANY,
    Permission.MANAGE_PROVIDER_KEYS: Scope.ANY,
    Permission.VIEW_AUDIT_LOG: Scope.ANY,
    Permission.CREATE_AGENT: Scope.ANY,
    Permission.EDIT_AGENT: Scope.ANY,
    Permission.RUN_AGENT: Scope.ANY,
    Permission.UPLOAD_KNOWLEDGE: Scope.ANY,
    Permission.EDIT_KNOWLEDGE: Scope.ANY,
    Permission.MANAGE_SCHEDULES: Scope.ANY,
}

ROLE_PERMISSIONS: dict[Role, dict[Permission, Scope]] = {
    Role.OWNER: {
        **_ADMIN,
        Permission.DELETE_WORKSPACE: Scope.ANY,
        Permission.TRANSFER_OWNERSHIP: Scope.ANY,
        Permission.MANAGE_BILLING: Scope.ANY,
    },
    Role.ADMIN: _ADMIN,
    Role.MEMBER: {
        Permission.VIEW_WORKSPACE: Scope.ANY,
        Permission.CREATE_AGENT: Scope.ANY,
        Permission.EDIT_AGENT: Scope.OWN,
        Permission.RUN_AGENT: Scope.ANY,
        Permission.UPLOAD_KNOWLEDGE: Scope.ANY,
        Permission.EDIT_KNOWLEDGE: Scope.OWN,
        Permission.MANAGE_SCHEDULES: Scope.OWN,
    },
    Role.VIEWER: {Permission.VIEW_WORKSPACE: Scope.ANY},
}


@dataclass(frozen=True, slots=True)
class TenantContext:
    """Who is acting, in which workspace, with which role: built from a verified session."""

    user_id: str
    workspace_id: str
    role: Role
    session_id: str | None = None
    ip: str = ""
    # Set when the caller is a workspace API key (then ``user_id`` is the key's creator).
    api_key_id: str | None = None


def can(ctx: TenantContext, permission: Permission, *, owner_id: str | None = None) -> bool:
    """Whether ``ctx`` holds ``permission`` (for an object created by ``owner_id``, if given)."""
    scope = ROLE_PERMISSIONS[ctx.role].get(permission)
    if scope is None:
        return False
    if scope is Scope.OWN and owner_id is not None:
        return owner_id == ctx.user_id
    return True


def require(ctx: TenantContext, permission: Permission, *, owner_id: str | None = None) -> None:
    """Raise ``PermissionDeniedError`` unless ``ctx`` may do ``permission``.

    Pass ``owner_id`` when acting on an existing object: roles that hold the permission
    only for their own objects are then checked against it.
    """
    if not can(ctx, permission, owner_id=owner_id):
        raise PermissionDeniedError()
