"""The banner that says runs wait for a worker that is not there (``WorkerBannerState``)."""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.states.worker_banner import WorkerBannerState


def no_worker_banner(when: rx.Var[bool] | bool = True) -> rx.Component:
    """The banner, shown while no worker is seen (and ``when`` holds, e.g. "this run is queued")."""
    return rx.cond(
        WorkerBannerState.no_worker & when,
        rx.callout(
            WorkerBannerState.message,
            icon="triangle_alert",
            color_scheme="amber",
            role="status",
            width="100%",
            id="no-worker-banner",
        ),
    )
