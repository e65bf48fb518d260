"""An account deleted: what it made for its teams stays the teams'.

A team's source or package names as `owner` the user who made it (or moved it there), and a
share its `created_by`. Those foreign keys delete with `keep_with_team` and
`keep_with_package_team` instead of a plain cascade: a row that belongs to a team passes to
another member (an admin first, the longest-standing one) and the team's audit log says so;
a personal row, or one of a team with no other member, goes with the account as before.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, cast

from django.db import models, transaction
from django.db.models import Case, IntegerField, Value, When

from teams.audit import audit_record
from teams.models import Membership, Role

# What the collection of a user's deletion handed over, by (database, user pk), with the
# collector that found it, waiting for the deletion itself; a collection that deleted nothing
# (the admin's confirmation page) is replaced by the next one.
_departures: dict[tuple[str, int], tuple[weakref.ref[Any], list[tuple[int, dict[str, Any]]]]] = {}

_RANK = Case(
    When(role=Role.ADMIN, then=Value(0)),
    When(role=Role.CURATOR, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


def keep_with_team(collector: Any, field: Any, sub_objs: Sequence[Any], using: str) -> None:
    """on_delete of an owner: rows with a `team` pass to another member of it."""
    _keep(collector, field, sub_objs, using, lambda rows: [row.team_id for row in rows])


def keep_with_package_team(collector: Any, field: Any, sub_objs: Sequence[Any], using: str) -> None:
    """on_delete of a share's creator: shares of a team's package pass to another member of it."""

    def teams_of(rows: Sequence[Any]) -> list[int | None]:
        package_model = field.model._meta.get_field("package").related_model
        team_of = dict(
            package_model.objects.using(using)
            .filter(pk__in={row.package_id for row in rows})
            .values_list("pk", "team_id")
        )
        return [team_of.get(row.package_id) for row in rows]

    _keep(collector, field, sub_objs, using, teams_of)


def user_deleted(sender: Any, instance: Any, using: str, **kwargs: Any) -> None:
    """post_delete of the user model: the audit entries of what the deletion handed over,
    written with it (on commit)."""
    for team_id, detail in _departures.pop((using, instance.pk), (None, []))[1]:
        transaction.on_commit(
            partial(audit_record, actor=None, action="member.depart", team=team_id, detail=detail), using=using
        )


def _keep(
    collector: Any,
    field: Any,
    sub_objs: Sequence[Any],
    using: str,
    teams_of: Callable[[Sequence[Any]], list[int | None]],
) -> None:
    rows = list(sub_objs)
    heirs: dict[tuple[int, int], Any] = {}
    kept: dict[tuple[int, int], list[Any]] = defaultdict(list)
    gone: list[Any] = []
    for row, team_id in zip(rows, teams_of(rows), strict=True):
        leaving = getattr(row, field.attname)
        if team_id is None:
            gone.append(row)
            continue
        if (team_id, leaving) not in heirs:
            heirs[team_id, leaving] = _heir(team_id, leaving, using)
        if heirs[team_id, leaving] is None:
            gone.append(row)
        else:
            kept[team_id, leaving].append(row)
    if gone:
        models.CASCADE(collector, field, cast(Any, gone), using)
    users = field.related_model._default_manager.using(using)
    for (team_id, leaving), held in kept.items():
        heir = heirs[team_id, leaving]
        collector.add_field_update(field, heir, held)
        detail = {
            "user": users.filter(pk=leaving).values_list(users.model.USERNAME_FIELD, flat=True).first() or "",
            "heir": heir.get_username(),
            str(field.model._meta.verbose_name_plural): len(held),
        }
        # Written once the account is really deleted (the admin's confirmation page collects
        # the same way and deletes nothing): see `user_deleted`.
        collected, entries = _departures.get((using, leaving), (None, []))
        if collected is None or collected() is not collector:  # an earlier collection's: nothing was deleted
            entries = []
            _departures[using, leaving] = (weakref.ref(collector), entries)
        entries.append((team_id, detail))


def _heir(team_id: int, leaving: int, using: str) -> Any:
    """The member who takes over: an admin first, then a curator, the longest-standing one."""
    membership = (
        Membership.objects.using(using)
        .filter(team_id=team_id)
        .exclude(user_id=leaving)
        .select_related("user")
        .order_by(_RANK, "created_at", "pk")
        .first()
    )
    return membership.user if membership is not None else None
