"""Every module that registers background jobs (``@job`` from ``galaxyco_ui.jobs``).

A job is registered when its module is imported. The app (``galaxyco_ui.py``, which runs
jobs itself in the embedded mode) and the worker (``runs/worker.py``, which hands SAQ the
registry's function list) both import this module at startup, so the two always know the
same jobs. A new job module goes in ``JOB_MODULES``.
"""

from galaxyco_ui.knowledge import ingest
from galaxyco_ui.notifications import mail
from galaxyco_ui.runs import executor
from galaxyco_ui.webhooks import delivery

JOB_MODULES = (executor, ingest, delivery, mail)
