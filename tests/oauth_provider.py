"""A real OpenID Connect provider for tests, served over HTTP on 127.0.0.1.

Built from Authlib's server components (``AuthorizationServer``, the authorization
code grant, the ``OpenIDCode`` extension and PKCE via ``CodeChallenge``) behind a
small WSGI adapter, and served by a threaded ``wsgiref`` server on a random port.
It speaks the protocol the app's OAuth client speaks to Google or any IdP:

    GET  /.well-known/openid-configuration   discovery document
    GET  /authorize                          auto-approves ``provider.user``
    POST /token                              authorization_code + PKCE (S256 required)
    GET  /jwks                               the RS256 public key
    GET  /userinfo                           claims for a bearer access token

Tests steer it per case: ``provider.user`` (subject, email, email_verified, name),
``provider.deny`` (the user refuses: ``error=access_denied``), ``provider.email_in_id_token``
(claims only from ``/userinfo``), ``provider.id_token_overrides`` and
``provider.sign_with_foreign_key`` (a forged ID token). ``provider.reset()`` restores
the defaults. Use the ``oidc_provider`` fixture (session-scoped) from this module::

    from tests.oauth_provider import oidc_provider  # in a conftest.py: registers the fixture

    def test_x(oidc_provider, monkeypatch):
        for name, value in oidc_provider.app_env("http://testserver").items():
            monkeypatch.setenv(name, value)   # then reset_settings()
        oidc_provider.user.email_verified = False

For an app in another process (the e2e server), pass ``oidc_provider.app_env(app_url)``
into that process's environment; the provider keeps running in this process's thread.
"""

from __future__ import annotations

import hmac
import json
import secrets
import socketserver
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.core.models import AuthorizationCodeMixin
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.datastructures import Headers

CLIENT_ID = "galaxyco-test-client"
CLIENT_SECRET = "galaxyco-test-secret"  # noqa: S105 - a test fixture
SCOPES = ("openid", "email", "profile")
CODE_TTL_SECONDS = 600
KEY_ID = "test-key-1"
STANDARD_CLAIMS = ("sub", "iss", "aud", "exp", "iat", "nonce", "email", "email_verified", "name")


@dataclass
class ProviderUser:
    """The person the provider signs in (it approves every request as them)."""

    subject: str = "oidc-user-1"
    email: str = "ada@example.com"
    email_verified: bool = True
    name: str = "Ada Lovelace"


@dataclass
class _Client(ClientMixin):
    """A confidential client with exact-match redirect URIs."""

    client_id: str
    client_secret: str
    redirect_uris: set[str]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        return " ".join(s for s in (scope or "").split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret.encode(), self.client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in {"client_secret_basic", "client_secret_post"}

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class _AuthorizationCode(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: ProviderUser
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def is_expired(self) -> bool:
        return time.time() > self.auth_time + CODE_TTL_SECONDS


@dataclass
class _AccessToken:
    user: ProviderUser
    scope: str
    client_id: str


@dataclass
class _HttpRequest:
    """The parts of a WSGI request the adapter hands to Authlib."""

    method: str
    url: str
    path: str
    headers: Headers
    args: dict[str, list[str]]
    form: dict[str, list[str]]


class _Payload:
    """Authlib payload over the query string and form body (like Flask's ``values``)."""

    def __init__(self, request: _HttpRequest) -> None:
        self.datalist: dict[str, list[str]] = {}
        for source in (request.args, request.form):
            for key, values in source.items():
                self.datalist.setdefault(key, []).extend(values)
        self.data = {key: values[0] for key, values in self.datalist.items()}

    # The OAuth2Payload properties Authlib reads.
    client_id = property(lambda self: self.data.get("client_id"))
    grant_type = property(lambda self: self.data.get("grant_type"))
    redirect_uri = property(lambda self: self.data.get("redirect_uri"))
    scope = property(lambda self: self.data.get("scope"))
    state = property(lambda self: self.data.get("state"))

    @property
    def response_type(self) -> str | None:
        value = self.data.get("response_type")
        return " ".join(sorted(value.split())) if value and " " in value else value


class _OAuth2Request(OAuth2Request):
    def __init__(self, request: _HttpRequest) -> None:
        super().__init__(method=request.method, uri=request.url, headers=request.headers)
        self._http = request
        self.payload = _Payload(request)  # type: ignore[assignment]

    @property
    def args(self) -> dict[str, str]:
        return {k: v[0] for k, v in self._http.args.items()}

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in self._http.form.items()}


class _StrictCodeChallenge(CodeChallenge):
    """PKCE as a public IdP should enforce it: S256 only, required of every client."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ("S256",)

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge' (PKCE is required).")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)


class _CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    @property
    def provider(self) -> OIDCProvider:
        return self.server.provider

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        with self.provider._lock:
            self.provider._codes[code] = _AuthorizationCode(
                code=code,
                client_id=request.client.get_client_id(),
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope,
                user=request.user,
                nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
            )

    def query_authorization_code(self, code: str, client: _Client) -> _AuthorizationCode | None:
        item = self.provider._codes.get(code)
        if item is None or item.client_id != client.client_id or item.is_expired():
            return None
        return item

    def delete_authorization_code(self, authorization_code: _AuthorizationCode) -> None:
        with self.provider._lock:
            self.provider._codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: _AuthorizationCode) -> ProviderUser:
        return authorization_code.user


class _OpenIDCode(OpenIDCode):
    """Signs RS256 ID tokens with the provider's key, and applies test tampering."""

    def __init__(self, provider: OIDCProvider) -> None:
        super().__init__(require_nonce=True)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return any(c.nonce == nonce for c in list(self.provider._codes.values()))

    def resolve_client_private_key(self, client: _Client) -> RSAKey:
        return self.provider.key

    def get_client_algorithm(self, client: _Client) -> str:
        return "RS256"

    def get_encode_header(self, client: _Client) -> dict[str, str]:
        return {"alg": "RS256", "kid": KEY_ID}

    def get_client_claims(self, client: _Client) -> dict[str, Any]:
        return {"iss": self.provider.issuer, "aud": [client.get_client_id()]}

    def generate_user_info(self, user: ProviderUser, scope: str) -> UserInfo:
        info = self.provider.claims_for(user, scope)
        if not self.provider.email_in_id_token:
            info = UserInfo({k: v for k, v in info.items() if k not in {"email", "email_verified"}})
        return info

    def process_token(self, grant: Any, response: Any) -> dict[str, Any]:
        token = super().process_token(grant, response)
        provider = self.provider
        if "id_token" in token and (provider.id_token_overrides or provider.sign_with_foreign_key):
            claims = jwt.decode(token["id_token"], provider.key).claims
            claims.update(provider.id_token_overrides)
            key = RSAKey.generate_key(2048) if provider.sign_with_foreign_key else provider.key
            token["id_token"] = jwt.encode({"alg": "RS256", "kid": KEY_ID}, claims, key)
        return token


class _AuthorizationServer(AuthorizationServer):
    """Authlib's server bound to the WSGI adapter and the provider's in-memory stores."""

    def __init__(self, provider: OIDCProvider) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.provider = provider
        self.register_token_generator(
            "default", BearerTokenGenerator(lambda **_: secrets.token_urlsafe(32), expires_generator=3600)
        )
        self.register_grant(_CodeGrant, [_StrictCodeChallenge(required=True), _OpenIDCode(provider)])

    def query_client(self, client_id: str) -> _Client | None:
        client = self.provider.client
        return client if client_id == client.client_id else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        with self.provider._lock:
            self.provider._tokens[token["access_token"]] = _AccessToken(
                user=request.user, scope=token.get("scope", ""), client_id=request.client.get_client_id()
            )

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request if isinstance(request, OAuth2Request) else _OAuth2Request(request)

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("no JSON endpoints")

    def handle_response(self, status: int, body: Any, headers: Iterable[tuple[str, str]]) -> _Response:
        return _Response(status, body, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class _Response:
    status: int
    body: Any
    headers: list[tuple[str, str]]


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    block_on_close = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


_REASONS = {200: "OK", 302: "Found", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}


class OIDCProvider:
    """An OpenID Connect provider on ``http://127.0.0.1:<random port>``.

    Attributes:
        issuer: the issuer URL (also the discovery base), set by ``start()``.
        client_id / client_secret: the one registered (confidential) client.
        redirect_uris: the client's registered redirect URIs (exact match).
        user: who ``/authorize`` signs in.
        deny: when True, ``/authorize`` answers ``error=access_denied``.
        email_in_id_token: when False, email claims come only from ``/userinfo``.
        id_token_overrides: claims forced into the ID token (e.g. a wrong ``aud``).
        sign_with_foreign_key: sign the ID token with a key not in ``/jwks``.
        authorize_requests / token_requests: the parameters each endpoint received.
    """

    def __init__(self, *, redirect_uris: Iterable[str] = ()) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": KEY_ID, "use": "sig", "alg": "RS256"})
        self.client_id = CLIENT_ID
        self.client_secret = CLIENT_SECRET
        self.redirect_uris: set[str] = set(redirect_uris)
        self.client = _Client(CLIENT_ID, CLIENT_SECRET, self.redirect_uris)
        self.issuer = ""
        self._lock = threading.Lock()
        self._codes: dict[str, _AuthorizationCode] = {}
        self._tokens: dict[str, _AccessToken] = {}
        self._server = _AuthorizationServer(self)
        self._httpd: _ThreadingWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # ------------------------------------------------------------ control

    def reset(self) -> None:
        """Restore the default user and behaviour, and forget recorded requests."""
        self.user = ProviderUser()
        self.deny = False
        self.email_in_id_token = True
        self.id_token_overrides: dict[str, Any] = {}
        self.sign_with_foreign_key = False
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []

    def start(self) -> OIDCProvider:
        """Serve on a random port of 127.0.0.1 in a daemon thread."""
        self._httpd = make_server(
            "127.0.0.1", 0, self._wsgi, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self.issuer = f"http://127.0.0.1:{self._httpd.server_port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="oidc-provider", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OIDCProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def app_env(self, app_url: str, *, name: str = "Acme SSO") -> dict[str, str]:
        """Register ``app_url``'s callback and return the env vars that point the app here.

        Args:
            app_url: the app's ``PUBLIC_URL`` (e.g. ``http://localhost:3123``).
            name: the button label (``OIDC_NAME``).

        Returns:
            ``OIDC_ISSUER``, ``OIDC_CLIENT_ID``, ``OIDC_CLIENT_SECRET`` and ``OIDC_NAME``.
        """
        self.redirect_uris.add(f"{app_url.rstrip('/')}/api/auth/oauth/oidc/callback")
        return {
            "OIDC_ISSUER": self.issuer,
            "OIDC_CLIENT_ID": self.client_id,
            "OIDC_CLIENT_SECRET": self.client_secret,
            "OIDC_NAME": name,
        }

    def claims_for(self, user: ProviderUser, scope: str) -> UserInfo:
        """The standard claims of ``user`` released for ``scope``."""
        scopes = set(scope.split())
        info = UserInfo(sub=user.subject)
        if "email" in scopes:
            info["email"] = user.email
            info["email_verified"] = user.email_verified
        if "profile" in scopes:
            info["name"] = user.name
        return info

    # ------------------------------------------------------------ endpoints

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": list(SCOPES),
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": [*STANDARD_CLAIMS],
        }

    def _authorize(self, request: _HttpRequest) -> _Response:
        self.authorize_requests.append({k: v[0] for k, v in request.args.items()})
        oauth_request = self._server.create_oauth2_request(request)
        try:
            grant = self._server.get_authorization_grant(oauth_request)
        except OAuth2Error as error:
            return self._server.handle_error_response(oauth_request, error)
        grant_user = None if self.deny else self.user
        return self._server.create_authorization_response(oauth_request, grant_user=grant_user, grant=grant)

    def _token(self, request: _HttpRequest) -> _Response:
        self.token_requests.append({k: v[0] for k, v in request.form.items()})
        return self._server.create_token_response(request)

    def _userinfo(self, request: _HttpRequest) -> _Response:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        token = self._tokens.get(value) if scheme.lower() == "bearer" else None
        if token is None or "openid" not in token.scope.split():
            return _Response(
                401, {"error": "invalid_token"}, [("WWW-Authenticate", 'Bearer error="invalid_token"')]
            )
        return _Response(200, dict(self.claims_for(token.user, token.scope)), [])

    def _route(self, request: _HttpRequest) -> _Response:
        match request.method, request.path:
            case "GET", "/.well-known/openid-configuration":
                return _Response(200, self.discovery(), [])
            case "GET", "/jwks":
                return _Response(200, {"keys": [self.key.as_dict(private=False)]}, [])
            case "GET", "/authorize":
                return self._authorize(request)
            case "POST", "/token":
                return self._token(request)
            case (("GET" | "POST"), "/userinfo"):
                return self._userinfo(request)
        return _Response(404, {"error": "not_found"}, [])

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length).decode() if length else ""
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        query = environ.get("QUERY_STRING", "")
        request = _HttpRequest(
            method=environ["REQUEST_METHOD"],
            url=f"{self.issuer}{environ['PATH_INFO']}" + (f"?{query}" if query else ""),
            path=environ["PATH_INFO"],
            headers=Headers(headers),
            args=parse_qs(query, keep_blank_values=True),
            form=parse_qs(body, keep_blank_values=True)
            if headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
            else {},
        )
        response = self._route(request)
        payload = response.body
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload)
            if not any(name.lower() == "content-type" for name, _ in response.headers):
                response.headers.append(("Content-Type", "application/json"))
        out = (payload or "").encode()
        start_response(f"{response.status} {_REASONS.get(response.status, 'Status')}", response.headers)
        return [out]


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OIDCProvider]:
    """A running ``OIDCProvider`` for the whole test session (call ``reset()`` per test)."""
    with OIDCProvider() as provider:
        yield provider
