"""Sign-in through Google, GitHub or any OpenID Connect provider (Authlib client).

The flow is the authorization code grant with PKCE (S256), ``state`` and, for OpenID
Connect providers, ``nonce``:

1. ``begin_sign_in`` builds the provider's authorization URL and a *flow cookie*: the
   state, nonce, PKCE verifier, redirect URI and where to go afterwards, encrypted and
   authenticated with a key derived from ``SECRET_KEY`` (Fernet via ``infra.crypto``),
   valid for ten minutes, HttpOnly, SameSite=Lax and scoped to the provider's path.
2. ``finish_sign_in`` checks the callback's ``state`` against that cookie, exchanges the
   code (sending the PKCE verifier), validates the ID token (signature against the
   provider's JWKS, issuer, audience, expiry, nonce, ``at_hash``) for OpenID Connect
   providers, or reads GitHub's user and primary email, and returns an ``Identity``.

Nothing here touches the database: the caller signs the identity in afterwards, so no
transaction is open while the provider is called. Every failure is an ``OAuthFlowError``
whose message is fit for the login page; details go to the log only.

Registered clients are built from settings and cached; the cache key includes the
settings and the day, so a changed configuration or a rotated discovery document is
picked up without a restart (``reset_oauth_clients()`` forgets them at once).
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App
from joserfc.errors import JoseError

from galaxyco_ui.config import Settings, get_settings
from galaxyco_ui.infra import crypto

log = logging.getLogger(__name__)

try:  # Authlib's httpx client runs on httpx2 when installed, else on httpx.
    import httpx2 as _httpx2

    _HTTP_MODULES: tuple[Any, ...] = (httpx, _httpx2)
except ImportError:  # pragma: no cover - depends on the environment
    _HTTP_MODULES = (httpx,)
_NETWORK_ERRORS: tuple[type[Exception], ...] = tuple(
    error for module in _HTTP_MODULES for error in (module.HTTPStatusError, module.TransportError)
)

GOOGLE_DISCOVERY_URL = "https://accounts.google.com/.well-known/openid-configuration"
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
GITHUB_AUTHORIZE_URL = "https://github.com/login/oauth/authorize"
GITHUB_TOKEN_URL = "https://github.com/login/oauth/access_token"  # noqa: S105 - a URL
GITHUB_API_URL = "https://api.github.com/"
OIDC_SCOPE = "openid email profile"
GITHUB_SCOPE = "read:user user:email"

FLOW_COOKIE_PREFIX = "galaxyco_oauth_"
FLOW_TTL_SECONDS = 10 * 60
FLOW_PURPOSE = "oauth-flow"
HTTP_TIMEOUT_SECONDS = 10.0
METADATA_MAX_AGE_SECONDS = 24 * 3600

# Messages for the login page. Never echo what the provider or the URL said.
CANCELLED = "You cancelled signing in with {label}."
PROVIDER_ERROR = "{label} could not sign you in. Please try again."
EXPIRED = "Your sign-in attempt expired or could not be verified. Please try again."
UNREACHABLE = "We could not reach {label}. Please try again in a moment."
NOT_VERIFIED = "We could not verify your identity with {label}. Please try again."


class Identity(NamedTuple):
    """Who the provider says signed in; unpacks as ``(subject, email, email_verified, name)``."""

    subject: str
    email: str
    email_verified: bool
    name: str


class OAuthFlowError(Exception):
    """A sign-in through a provider failed; ``message`` is safe to show the user.

    Attributes:
        message: the text for ``/login?error=``.
        reason: a short machine-readable cause for logs and tests
            (``cancelled``, ``provider_error``, ``state``, ``network``, ``id_token``...).
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


@dataclass(frozen=True, slots=True)
class FlowStart:
    """Where to send the browser, and the flow cookie to set on that redirect."""

    authorization_url: str
    cookie_name: str
    cookie_value: str
    cookie_path: str


# ---------------------------------------------------------------- configuration


def configured_providers(settings: Settings | None = None) -> dict[str, str]:
    """The providers that can be used now, as ``{key: button label}``."""
    return (settings or get_settings()).oauth_providers()


def provider_label(provider: str, settings: Settings | None = None) -> str:
    """The human name of ``provider`` ("Google", "GitHub" or ``OIDC_NAME``)."""
    return configured_providers(settings).get(provider, provider)


def redirect_uri(provider: str, settings: Settings | None = None) -> str:
    """The callback URL registered at the provider: ``{PUBLIC_URL}/api/auth/oauth/{provider}/callback``."""
    base = (settings or get_settings()).public_url.rstrip("/")
    return f"{base}/api/auth/oauth/{provider}/callback"


def flow_cookie_name(provider: str) -> str:
    """The name of the short-lived cookie holding ``provider``'s pending flow."""
    return f"{FLOW_COOKIE_PREFIX}{provider}"


def flow_cookie_path(provider: str) -> str:
    """The flow cookie is only sent to that provider's OAuth routes."""
    return f"/api/auth/oauth/{provider}/"


def get_client(provider: str) -> StarletteOAuth2App:
    """The Authlib client registered for a configured ``provider``.

    Raises:
        KeyError: ``provider`` is not configured.
    """
    settings = get_settings()
    if provider not in settings.oauth_providers():
        raise KeyError(provider)
    registry = _registry(_fingerprint(settings), int(time.time() // METADATA_MAX_AGE_SECONDS))
    client = registry.create_client(provider)
    if client is None:  # pragma: no cover - oauth_providers() and _registry agree
        raise KeyError(provider)
    return client


def reset_oauth_clients() -> None:
    """Forget the registered clients and their cached discovery documents and keys."""
    _registry.cache_clear()


def _fingerprint(settings: Settings) -> tuple[str, ...]:
    return (
        settings.google_client_id,
        settings.google_client_secret,
        settings.github_client_id,
        settings.github_client_secret,
        settings.oidc_issuer,
        settings.oidc_client_id,
        settings.oidc_client_secret,
    )


@lru_cache(maxsize=4)
def _registry(fingerprint: tuple[str, ...], _epoch: int) -> OAuth:
    google_id, google_secret, github_id, github_secret, issuer, oidc_id, oidc_secret = fingerprint
    oauth = OAuth()
    common = {"code_challenge_method": "S256", "timeout": HTTP_TIMEOUT_SECONDS}
    if google_id:
        oauth.register(
            "google",
            client_id=google_id,
            client_secret=google_secret,
            server_metadata_url=GOOGLE_DISCOVERY_URL,
            client_kwargs={"scope": OIDC_SCOPE, **common},
        )
    if github_id:
        oauth.register(
            "github",
            client_id=github_id,
            client_secret=github_secret,
            authorize_url=GITHUB_AUTHORIZE_URL,
            access_token_url=GITHUB_TOKEN_URL,
            api_base_url=GITHUB_API_URL,
            client_kwargs={"scope": GITHUB_SCOPE, **common},
        )
    if issuer and oidc_id:
        oauth.register(
            "oidc",
            client_id=oidc_id,
            client_secret=oidc_secret,
            server_metadata_url=f"{issuer.rstrip('/')}/.well-known/openid-configuration",
            client_kwargs={"scope": OIDC_SCOPE, **common},
        )
    return oauth


def _is_openid(provider: str) -> bool:
    return provider in {"google", "oidc"}


# ---------------------------------------------------------------- the flow


async def begin_sign_in(provider: str, next_url: str) -> FlowStart:
    """Start signing in with a configured ``provider``.

    Args:
        provider: ``google``, ``github`` or ``oidc``.
        next_url: the (already sanitised) path to open after signing in.

    Returns:
        The authorization URL and the encrypted flow cookie to set with the redirect.

    Raises:
        KeyError: ``provider`` is not configured.
        OAuthFlowError: the provider's discovery document could not be loaded.
    """
    client = get_client(provider)
    label = provider_label(provider)
    callback = redirect_uri(provider)
    async with _translated_errors(provider, label):
        if _is_openid(provider):
            await _checked_metadata(provider, client)
        rv = await client.create_authorization_url(callback)
    flow = {
        "provider": provider,
        "state": rv["state"],
        "code_verifier": rv["code_verifier"],
        "nonce": rv.get("nonce"),
        "redirect_uri": callback,
        "next": next_url,
        "exp": int(time.time()) + FLOW_TTL_SECONDS,
    }
    return FlowStart(
        authorization_url=rv["url"],
        cookie_name=flow_cookie_name(provider),
        cookie_value=crypto.encrypt(json.dumps(flow), purpose=FLOW_PURPOSE),
        cookie_path=flow_cookie_path(provider),
    )


async def finish_sign_in(
    provider: str, query: Mapping[str, str], flow_cookie: str | None
) -> tuple[Identity, str]:
    """Complete the flow from the provider's redirect back to the callback.

    Args:
        provider: the provider in the callback path.
        query: the callback's query parameters (``code`` and ``state``, or ``error``).
        flow_cookie: the flow cookie set by ``begin_sign_in`` (None if absent).

    Returns:
        The verified identity and the path to open after signing in.

    Raises:
        KeyError: ``provider`` is not configured.
        OAuthFlowError: the user cancelled, the state does not match, the provider
            refused the code, the ID token is invalid, or the provider is unreachable.
    """
    client = get_client(provider)
    label = provider_label(provider)
    if error := query.get("error"):
        log.info("oauth provider returned an error", extra={"provider": provider, "oauth_error": error[:64]})
        if error == "access_denied":
            raise OAuthFlowError(CANCELLED.format(label=label), reason="cancelled")
        raise OAuthFlowError(PROVIDER_ERROR.format(label=label), reason="provider_error")

    flow = _read_flow(flow_cookie)
    state = query.get("state", "")
    if (
        flow is None
        or flow.get("provider") != provider
        or not state
        or not hmac.compare_digest(state.encode(), str(flow.get("state", "")).encode())
    ):
        log.warning("oauth state mismatch", extra={"provider": provider, "has_flow": flow is not None})
        raise OAuthFlowError(EXPIRED, reason="state")
    code = query.get("code", "")
    if not code:
        raise OAuthFlowError(PROVIDER_ERROR.format(label=label), reason="provider_error")

    async with _translated_errors(provider, label):
        token = await client.fetch_access_token(
            code=code, redirect_uri=flow["redirect_uri"], code_verifier=flow["code_verifier"]
        )
        if provider == "github":
            user = await _github_json(client, "user", token)
            emails = await _github_json(client, "user/emails", token)
            identity = normalized_identity(provider, user, emails if isinstance(emails, list) else [])
        else:
            identity = normalized_identity(provider, await _openid_claims(provider, client, token, flow))
    return identity, str(flow.get("next") or "")


async def _checked_metadata(provider: str, client: StarletteOAuth2App) -> dict[str, Any]:
    """Load discovery and insist its issuer is the configured one (OIDC Discovery §4.3)."""
    metadata = await client.load_server_metadata()
    expected = GOOGLE_ISSUERS if provider == "google" else (get_settings().oidc_issuer.rstrip("/"),)
    if str(metadata.get("issuer", "")).rstrip("/") not in expected:
        raise _IssuerMismatchError(str(metadata.get("issuer")))
    return metadata


async def _openid_claims(
    provider: str, client: StarletteOAuth2App, token: dict[str, Any], flow: Mapping[str, Any]
) -> dict[str, Any]:
    """The validated ID token claims, completed from ``/userinfo`` when they lack the email."""
    if "id_token" not in token or not flow.get("nonce"):
        raise _MissingIdTokenError()
    metadata = await _checked_metadata(provider, client)
    issuers = list(GOOGLE_ISSUERS) if provider == "google" else [metadata["issuer"]]
    claims = dict(
        await client.parse_id_token(
            token,
            nonce=flow.get("nonce"),
            # Authlib checks ``aud`` only when told to (OIDC Core §3.1.3.7 says we must).
            claims_options={
                "iss": {"essential": True, "values": issuers},
                "aud": {"essential": True, "values": [client.client_id]},
            },
        )
    )
    if not claims.get("email") and metadata.get("userinfo_endpoint"):
        userinfo = dict(await client.userinfo(token=token))
        if str(userinfo.get("sub")) != str(claims.get("sub")):  # OIDC Core §5.3.2
            raise _SubjectMismatchError()
        claims = {**userinfo, **{k: v for k, v in claims.items() if v not in (None, "")}}
    return claims


async def _github_json(client: StarletteOAuth2App, path: str, token: dict[str, Any]) -> Any:
    response = await client.get(path, token=token, headers={"Accept": "application/vnd.github+json"})
    response.raise_for_status()
    return response.json()


# ---------------------------------------------------------------- identity


def normalized_identity(
    provider: str,
    userinfo: Mapping[str, Any],
    emails: Sequence[Mapping[str, Any]] | None = None,
) -> Identity:
    """Map a provider's user data to ``(subject, email, email_verified, name)``.

    Args:
        provider: ``google``, ``github`` or ``oidc``.
        userinfo: validated ID token claims (merged with ``/userinfo``) for OpenID
            Connect providers; the ``/user`` object for GitHub.
        emails: GitHub's ``/user/emails`` list. Its *primary* address is used, and it
            counts as verified only if GitHub verified it. Without the list, GitHub's
            public profile email is used, unverified.

    Returns:
        The identity; ``email`` is lower-cased and stripped, ``name`` may be empty.

    Raises:
        ValueError: no subject in the data.
    """
    if provider == "github":
        subject = str(userinfo.get("id") or "")
        name = str(userinfo.get("name") or userinfo.get("login") or "")
        primary = next((e for e in emails or () if e.get("primary")), None)
        if primary is not None:
            email, verified = str(primary.get("email") or ""), _truthy(primary.get("verified"))
        else:
            email, verified = str(userinfo.get("email") or ""), False
    else:
        subject = str(userinfo.get("sub") or "")
        email = str(userinfo.get("email") or "")
        verified = _truthy(userinfo.get("email_verified"))
        given = " ".join(str(userinfo.get(k) or "") for k in ("given_name", "family_name")).strip()
        name = str(userinfo.get("name") or given or userinfo.get("preferred_username") or "")
    if not subject:
        raise ValueError(f"{provider} returned no subject")
    email = email.strip().lower()
    return Identity(subject=subject, email=email, email_verified=verified and bool(email), name=name.strip())


def _truthy(value: Any) -> bool:
    """Providers send ``email_verified`` as a boolean, or sometimes as ``"true"``."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


# ---------------------------------------------------------------- internals


def _read_flow(cookie: str | None) -> dict[str, Any] | None:
    if not cookie:
        return None
    try:
        flow = json.loads(crypto.decrypt(cookie, purpose=FLOW_PURPOSE))
    except ValueError:
        return None
    if not isinstance(flow, dict) or int(flow.get("exp", 0)) < time.time():
        return None
    return flow


class _IssuerMismatchError(Exception):
    def __init__(self, issuer: str) -> None:
        super().__init__(f"discovery issuer {issuer!r} is not the configured issuer")


class _MissingIdTokenError(Exception):
    def __init__(self) -> None:
        super().__init__("no id_token in the token response, or no nonce in the flow")


class _SubjectMismatchError(Exception):
    def __init__(self) -> None:
        super().__init__("userinfo sub differs from the ID token sub")


@asynccontextmanager
async def _translated_errors(provider: str, label: str) -> AsyncIterator[None]:
    """Turn whatever a provider exchange raises into an ``OAuthFlowError`` (and log it)."""
    try:
        yield
    except OAuthFlowError:
        raise
    except Exception as exc:
        if isinstance(exc, _NETWORK_ERRORS):
            message, reason = UNREACHABLE, "network"
        elif isinstance(exc, JoseError | _IssuerMismatchError | _MissingIdTokenError | _SubjectMismatchError):
            message, reason = NOT_VERIFIED, "id_token"
        elif isinstance(exc, AuthlibBaseError):
            message, reason = PROVIDER_ERROR, "provider_error"
        else:
            message, reason = PROVIDER_ERROR, "unexpected"
        log.warning(
            "oauth sign-in failed",
            extra={"provider": provider, "reason": reason, "error": f"{type(exc).__name__}: {exc}"[:300]},
            exc_info=reason == "unexpected",
        )
        raise OAuthFlowError(message.format(label=label), reason=reason) from exc
