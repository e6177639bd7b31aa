"""The Knowledge card of /settings: how documents are embedded, and the upload limits."""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.components.forms import field
from galaxyco_ui.services.knowledge_settings import EmbeddingChoice
from galaxyco_ui.states.knowledge_settings import KnowledgeSettingsState


def _option(choice: EmbeddingChoice) -> rx.Component:
    return rx.el.option(
        rx.cond(choice.available, choice.label, choice.label + " (unavailable)"),
        value=choice.id,
        disabled=~choice.available,
    )


def _choice_note(choice: EmbeddingChoice) -> rx.Component:
    return rx.cond(
        choice.note != "",
        rx.el.li(
            rx.text(
                rx.text.strong(choice.label),
                ": ",
                choice.note,
                size="1",
                color_scheme=rx.cond(choice.available, "gray", "amber"),
            )
        ),
    )


def knowledge_settings_card() -> rx.Component:
    s = KnowledgeSettingsState
    model_field = field(
        "Embedding model",
        rx.el.select(
            rx.foreach(s.choices, _option),
            id="knowledge-embedding-model",
            name="embedding_model",
            default_value=s.embedding_model,
            disabled=~s.can_manage,
            class_name="gx-select",
            aria_describedby="knowledge-embedding-model-error knowledge-embedding-model-hint",
        ),
        field_id="knowledge-embedding-model",
        error=s.error,
    )
    return rx.card(
        rx.vstack(
            rx.heading("Knowledge", size="4", as_="h2"),
            rx.text(
                "Full-text search always works. An embedding model adds meaning-based search, so a "
                "question finds passages that use other words. Changing it re-indexes every document "
                "in the workspace.",
                size="2",
                color_scheme="gray",
            ),
            rx.form(
                rx.flex(
                    rx.box(model_field, flex="1", min_width="260px"),
                    rx.cond(
                        s.can_manage,
                        rx.button(
                            "Save",
                            type="submit",
                            size="3",
                            margin_top="1.6em",
                            loading=s.saving,
                            aria_label="Save embedding model",
                        ),
                    ),
                    spacing="3",
                    align="start",
                    width="100%",
                    wrap="wrap",
                ),
                on_submit=s.save,
                reset_on_submit=False,
                key=s.form_key,
                width="100%",
            ),
            rx.el.ul(
                rx.foreach(s.choices, _choice_note),
                id="knowledge-embedding-model-hint",
                class_name="gx-notes",
            ),
            rx.el.dl(
                rx.el.dt("Largest upload", class_name="gx-meta-label"),
                rx.el.dd(
                    rx.text(s.max_upload_mb.to_string() + " MB per file", size="2"),
                    class_name="gx-meta-value",
                ),
                rx.el.dt("Accepted types", class_name="gx-meta-label"),
                rx.el.dd(rx.text(s.allowed_types, size="2"), class_name="gx-meta-value"),
                class_name="gx-meta",
            ),
            rx.cond(
                ~s.can_manage,
                rx.text(
                    "Only admins and owners can change the embedding model.", size="2", color_scheme="gray"
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )
