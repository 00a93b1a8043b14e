"""Workspaces, users, their memberships and API tokens."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from runcast.domain.enums import Role


class Workspace(Model):
    id = fields.CharField(pk=True, max_length=40)
    slug = fields.CharField(max_length=100, unique=True)
    name = fields.CharField(max_length=200)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "workspace"


class User(Model):
    id = fields.CharField(pk=True, max_length=40)
    name = fields.CharField(max_length=100, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "app_user"


class Membership(Model):
    id = fields.IntField(pk=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "runcast.User", related_name="memberships", on_delete=fields.CASCADE
    )
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "runcast.Workspace", related_name="memberships", on_delete=fields.CASCADE
    )
    role = fields.CharEnumField(Role, max_length=10)

    class Meta:
        table = "membership"
        unique_together = (("user", "workspace"),)


class ApiToken(Model):
    """A bearer token, stored only as its SHA-256 digest."""

    id = fields.IntField(pk=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "runcast.User", related_name="tokens", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "api_token"
