"""A workspace's stored credentials for a provider, decrypted for one call.

Provider keys are stored encrypted per workspace (``services.provider_keys`` writes them
with ``PROVIDER_KEY_PURPOSE``). The run executor, the knowledge embedder and the key test
read them here, below all three, and get either a ``ProviderConfig`` or a message that
says what to fix.
"""

from __future__ import annotations

from sqlmodel import Session, select

from galaxyco_ui.infra import crypto
from galaxyco_ui.models import ProviderKey
from galaxyco_ui.providers.base import ProviderConfig
from galaxyco_ui.providers.catalog import PROVIDER_LABELS

PROVIDER_KEY_PURPOSE = "provider-key"


def provider_config(session: Session, workspace_id: str, provider: str) -> tuple[ProviderConfig | None, str]:
    """The workspace's credentials for ``provider``, or ``(None, why not)``."""
    key = session.exec(
        select(ProviderKey).where(ProviderKey.workspace_id == workspace_id, ProviderKey.provider == provider)
    ).first()
    label = PROVIDER_LABELS.get(provider, provider)
    if key is None:
        return None, f"No {label} API key is set for this workspace. Add one in Settings → Providers."
    try:
        api_key = (
            crypto.decrypt(key.api_key_encrypted, purpose=PROVIDER_KEY_PURPOSE)
            if key.api_key_encrypted
            else ""
        )
    except ValueError:
        return (
            None,
            f"The stored {label} API key cannot be decrypted (was SECRET_KEY changed?). Enter it again.",
        )
    if not api_key and provider != "openai_compatible":  # local endpoints may need no key
        return (
            None,
            f"No {label} API key is stored (changing the base URL removes it). "
            "Paste the key again in Settings → Providers.",
        )
    return ProviderConfig(provider=provider, api_key=api_key, base_url=key.base_url), ""
