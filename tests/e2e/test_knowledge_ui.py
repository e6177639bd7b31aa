"""Knowledge as users see it: a member builds a collection from a PDF and a Word file,
watches them get indexed, finds passages by search, reads the chunks an agent sees,
downloads an original, and runs an agent whose answer cites both documents; a viewer of
the same workspace reads but cannot upload."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from galaxyco_ui.auth.permissions import Role
from galaxyco_ui.devtools.docgen import make_docx, make_pdf
from galaxyco_ui.devtools.script import Script, text, tool_call, usage
from galaxyco_ui.services import provider_keys
from tests.e2e.conftest import shot
from tests.e2e.helpers import sign_in, wait_for_shell
from tests.factories import PASSWORD, add_member, make_team, make_user

PDF_PHRASE = "heliotrope turbine calibration"
DOCX_PHRASE = "quarterly marmalade reconciliation"


def test_member_uploads_indexes_searches_and_downloads_and_a_viewer_cannot_upload(
    new_context, tmp_path, emulator
):
    team = make_team("Acme")
    provider_keys.set_provider_key(
        ctx=team.owner,
        provider="openai_compatible",
        api_key="e2e-key-5678",
        base_url=emulator.openai_base_url,
    )
    member = make_user(name="Mia Member", email="mia@example.com", personal=False)
    add_member(team.workspace_id, Role.MEMBER, user=member)
    viewer = make_user(name="Vic Viewer", email="vic@example.com", personal=False)
    add_member(team.workspace_id, Role.VIEWER, user=viewer)

    pdf_bytes = make_pdf(
        [
            "Installation guide. Unpack the unit and place it on a level surface.",
            f"Maintenance. The {PDF_PHRASE} must be repeated every six months by a technician.",
        ],
        title="Turbine manual",
    )
    docx_bytes = make_docx(
        [
            ("title", "Finance handbook"),
            ("heading1", "Closing the books"),
            ("para", f"The {DOCX_PHRASE} happens on the first Monday after the quarter ends."),
        ]
    )
    pdf_path, docx_path = tmp_path / "turbine-manual.pdf", tmp_path / "finance-handbook.docx"
    pdf_path.write_bytes(pdf_bytes)
    docx_path.write_bytes(docx_bytes)

    page = new_context().new_page()
    sign_in(page, email="mia@example.com", password=PASSWORD)
    wait_for_shell(page)

    # The empty state explains collections; create one.
    page.get_by_role("link", name="Knowledge").click()
    expect(page.get_by_text("No collections yet")).to_be_visible()
    page.get_by_role("button", name="New collection").first.click()
    page.get_by_label("Name", exact=True).fill("Field manuals")
    page.get_by_label("Description").fill("What technicians and accountants look things up in")
    page.get_by_role("button", name="Create collection").click()
    expect(page).to_have_url(re.compile(r"/knowledge/[0-9a-f]{32}$"))
    collection_url = page.url
    expect(page.get_by_role("heading", name="Field manuals")).to_be_visible()
    expect(page.get_by_text("No documents yet")).to_be_visible()

    # Upload both files at once; each gets its outcome, then both become Ready.
    page.locator(".gx-dropzone input[type=file]").set_input_files([str(pdf_path), str(docx_path)])
    expect(page.get_by_text("Added", exact=True)).to_have_count(2)
    rows = page.get_by_role("row")
    pdf_row = rows.filter(has=page.get_by_role("link", name="turbine-manual.pdf", exact=True))
    docx_row = rows.filter(has=page.get_by_role("link", name="finance-handbook.docx", exact=True))
    expect(pdf_row.get_by_text("Ready", exact=True)).to_be_visible(timeout=60_000)
    expect(docx_row.get_by_text("Ready", exact=True)).to_be_visible(timeout=60_000)
    expect(pdf_row.get_by_role("cell", name="PDF", exact=True)).to_be_visible()
    expect(docx_row.get_by_role("cell", name="Word", exact=True)).to_be_visible()
    shot(page, "60-knowledge-collection-ready")

    # The same file again is recognised, not stored twice.
    page.locator(".gx-dropzone input[type=file]").set_input_files(str(pdf_path))
    expect(page.get_by_text("Already in this collection")).to_be_visible()
    expect(page.get_by_role("link", name="turbine-manual.pdf", exact=True)).to_have_count(1)

    # Search the collection: each phrase finds its document, the words highlighted.
    for phrase, name in ((PDF_PHRASE, "turbine-manual.pdf"), (DOCX_PHRASE, "finance-handbook.docx")):
        page.get_by_label("Search this collection").fill(phrase)
        page.get_by_role("button", name="Search", exact=True).click()
        results = page.get_by_role("list", name="Search results")
        first = results.get_by_role("listitem").first
        expect(first.get_by_role("link", name=name)).to_be_visible()
        expect(first.locator("mark").first).to_be_visible()
        marked = " ".join(first.locator("mark").all_inner_texts()).lower()
        assert phrase.split()[0] in marked
    shot(page, "61-knowledge-search")

    # The result links to the item page at its chunk, which is marked and in view.
    results.get_by_role("link", name="finance-handbook.docx").first.click()
    expect(page).to_have_url(re.compile(r"/knowledge/items/[0-9a-f]{32}\?chunk=\d+#chunk-\d+$"))
    expect(page.get_by_role("heading", name="finance-handbook.docx")).to_be_visible()
    selected = page.locator(".gx-chunk-selected")
    expect(selected).to_have_count(1)
    expect(selected).to_contain_text(DOCX_PHRASE)
    expect(selected).to_be_in_viewport()
    expect(page.get_by_role("heading", name="Chunks")).to_be_visible()
    shot(page, "62-knowledge-item")

    # Download the PDF's original from its page: the same bytes come back.
    page.goto(collection_url)
    page.get_by_role("link", name="turbine-manual.pdf", exact=True).click()
    expect(page.get_by_role("heading", name="turbine-manual.pdf")).to_be_visible()
    expect(page.locator(".gx-chunk").first).to_be_visible()
    item_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download turbine-manual.pdf").click()
    download = download_info.value
    assert download.suggested_filename == "turbine-manual.pdf"
    assert download.path().read_bytes() == pdf_bytes
    response = page.request.get(f"/api/knowledge/items/{item_id}/original")
    assert response.status == 200
    assert response.body() == pdf_bytes

    # Workspace-wide search finds it too, naming the collection.
    page.goto("/knowledge")
    page.get_by_label("Search all knowledge").fill(PDF_PHRASE)
    page.get_by_role("button", name="Search", exact=True).click()
    expect(
        page.get_by_role("list", name="Search results").get_by_text("in Field manuals").first
    ).to_be_visible()

    # An agent that reads the collection answers with numbered citations that link to the
    # passages it used.
    page.goto("/agents/new")
    page.get_by_label("Name", exact=True).fill("Field assistant")
    page.get_by_label("Provider").select_option("openai_compatible")
    page.get_by_label("Model").fill("llama3.1")
    page.get_by_label("Field manuals").check()
    page.get_by_role("button", name="Create agent").click()
    expect(page).to_have_url(re.compile(r"/agents/[0-9a-f]{32}$"))
    emulator.enqueue(
        Script([tool_call("knowledge_search", {"query": "heliotrope calibration marmalade"}), usage(30, 8)])
    )
    emulator.enqueue(
        Script(
            [
                text(
                    "Recalibrate the turbine every six months [1]; reconcile the marmalade after each quarter [2]."
                ),
                usage(90, 20),
            ]
        )
    )
    page.get_by_label("Input", exact=True).fill("What are the recurring maintenance and finance tasks?")
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f]{32}$"))
    expect(page.get_by_text("succeeded").first).to_be_visible(timeout=20_000)
    answer = page.locator("#run-timeline .gx-answer").last
    expect(answer.get_by_role("link", name="[1]")).to_be_visible()
    expect(answer.get_by_role("link", name="[2]")).to_be_visible()
    sources = page.locator("#run-sources")
    expect(sources.get_by_role("link", name=re.compile("turbine-manual.pdf"))).to_be_visible()
    expect(sources.get_by_role("link", name=re.compile("finance-handbook.docx"))).to_be_visible()
    expect(sources).to_contain_text("page 2")
    shot(page, "64-knowledge-cited-answer")
    cited = sources.get_by_role("link", name=re.compile("turbine-manual.pdf"))
    number = cited.inner_text().split("]")[0] + "]"
    answer.get_by_role("link", name=number).click()
    expect(page).to_have_url(re.compile(r"/knowledge/items/[0-9a-f]{32}\?chunk=\d+#chunk-\d+$"))
    expect(page.locator(".gx-chunk-selected")).to_contain_text(PDF_PHRASE)

    # A viewer reads the collection but has no upload zone and no edit controls.
    viewer_page = new_context().new_page()
    sign_in(viewer_page, email="vic@example.com", password=PASSWORD)
    viewer_page.goto(collection_url)
    expect(viewer_page.get_by_role("heading", name="Field manuals")).to_be_visible()
    expect(viewer_page.get_by_role("link", name="turbine-manual.pdf", exact=True)).to_be_visible()
    expect(viewer_page.get_by_role("button", name="Choose files to upload")).to_have_count(0)
    expect(viewer_page.locator(".gx-dropzone")).to_have_count(0)
    expect(viewer_page.get_by_role("button", name=re.compile("^Delete"))).to_have_count(0)
    expect(viewer_page.get_by_role("button", name=re.compile("^Re-index"))).to_have_count(0)
    viewer_page.goto("/knowledge")
    expect(viewer_page.get_by_role("link", name="Field manuals")).to_be_visible()
    expect(viewer_page.get_by_role("button", name="New collection")).to_have_count(0)
    shot(viewer_page, "63-knowledge-viewer")
