"""Ingestion moves the Prometheus metrics: pages of indexed documents, items by outcome."""

from __future__ import annotations

import asyncio
import io

from galaxyco_ui.devtools.docgen import make_encrypted_pdf, make_pdf
from galaxyco_ui.infra import metrics
from galaxyco_ui.services import knowledge
from tests.factories import Team


def _value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def _settled(name: str, expected: float, **labels: str) -> float:
    """The value once it reached ``expected`` (the job counts right after its database update)."""
    for _ in range(100):
        if _value(name, **labels) >= expected:
            break
        await asyncio.sleep(0.02)
    return _value(name, **labels)


async def _upload(team: Team, collection_id: str, name: str, data: bytes) -> str:
    outcome = await knowledge.upload_item(
        ctx=team.member, collection_id=collection_id, filename=name, source=io.BytesIO(data)
    )
    return outcome.item.id


async def test_an_indexed_document_counts_its_pages_and_a_broken_one_counts_as_failed(team: Team, ingested):
    collection = knowledge.create_collection(ctx=team.member, data={"name": "Handbook"}).id
    pages, ready, failed = (
        _value("galaxyco_ingest_pages_total"),
        _value("galaxyco_ingest_items_total", status="ready"),
        _value("galaxyco_ingest_items_total", status="failed"),
    )

    good = await ingested(
        await _upload(team, collection, "handbook.pdf", make_pdf(["One.", "Two.", "Three."]))
    )
    bad = await ingested(await _upload(team, collection, "secret.pdf", make_encrypted_pdf(["Top secret"])))

    assert (good.status, bad.status) == ("ready", "failed")
    assert await _settled("galaxyco_ingest_pages_total", pages + 3) == pages + 3
    assert await _settled("galaxyco_ingest_items_total", ready + 1, status="ready") == ready + 1
    assert await _settled("galaxyco_ingest_items_total", failed + 1, status="failed") == failed + 1
