"""Collection lists count each collection's items by status in one grouped query."""

from __future__ import annotations

from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import ItemStatus, KnowledgeItem
from galaxyco_ui.services import knowledge


def _items(ctx, collection_id: str, *statuses: str, size: int = 100) -> None:
    with session_scope() as session:
        for n, status in enumerate(statuses):
            session.add(
                KnowledgeItem(
                    workspace_id=ctx.workspace_id,
                    created_by=ctx.user_id,
                    collection_id=collection_id,
                    name=f"doc-{n}.txt",
                    kind="text",
                    size_bytes=size,
                    content_hash=f"{collection_id}-{n}",
                    status=status,
                )
            )


def test_each_collection_in_a_list_has_its_own_counts_sizes_and_creator(team, other_team):
    manuals = knowledge.create_collection(ctx=team.admin, data={"name": "Manuals"})
    policies = knowledge.create_collection(ctx=team.member, data={"name": "Policies"})
    knowledge.create_collection(ctx=team.owner, data={"name": "Empty"})
    foreign = knowledge.create_collection(ctx=other_team.owner, data={"name": "Manuals"})
    _items(team.admin, manuals.id, ItemStatus.READY, ItemStatus.READY, ItemStatus.FAILED, size=10)
    _items(team.member, policies.id, ItemStatus.QUEUED, ItemStatus.PROCESSING, ItemStatus.READY, size=7)
    _items(other_team.owner, foreign.id, ItemStatus.READY, size=1000)

    views = {v.name: v for v in knowledge.list_collections(ctx=team.viewer)}

    assert set(views) == {"Manuals", "Policies", "Empty"}
    m, p, e = views["Manuals"], views["Policies"], views["Empty"]
    assert (m.item_count, m.ready_count, m.pending_count, m.failed_count, m.size_bytes) == (3, 2, 0, 1, 30)
    assert (p.item_count, p.ready_count, p.pending_count, p.failed_count, p.size_bytes) == (3, 1, 2, 0, 21)
    assert (e.item_count, e.size_bytes) == (0, 0)
    assert m.created_by_name and p.created_by_name and m.created_by_name != p.created_by_name
    single = knowledge.get_collection(ctx=team.viewer, collection_id=manuals.id)
    assert single == m
