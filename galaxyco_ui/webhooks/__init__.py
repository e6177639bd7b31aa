"""Outgoing webhooks: events recorded as deliveries, signed and POSTed by a background job.

- ``events``: the event types, their payloads, recording deliveries (inside the
  transaction that changed the run or the item) and handing them to the job queue;
- ``signing``: the Standard Webhooks scheme (``webhook-id``, ``webhook-timestamp``,
  ``webhook-signature``) and the ``whsec_`` secrets;
- ``urls``: which receiver URLs are allowed (``tools.netguard``'s address rules);
- ``delivery``: the job ``deliver_webhook_job`` (one attempt, retried with backoff for
  24 h) and the sweep that re-enqueues due retries.

The package sits below the engines (runs and knowledge record their events through it)
and above the job queue. The service that manages endpoints is ``services.webhooks``.
"""
