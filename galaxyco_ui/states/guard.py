"""The one way a state handler reaches a service: ``@guarded``.

Every Reflex event handler is a public RPC: any connected client can send any
handler's name, with any arguments, in any order, background handlers included
(a replayed ``follow`` once streamed another workspace's run). So a handler trusts
nothing an earlier event left in state, and nothing the browser sends:

    @rx.event
    @guarded
    def delete(self, ctx: TenantContext, item_id: str): ...

On every call the guard

1. resolves the caller from *this* connection's session (the HttpOnly cookie of the
   websocket handshake, ``session.tenant_context``), never from a state var;
2. calls the handler with it as the first argument after ``self``. The parameter is
   removed from the signature Reflex sees, so the browser cannot send one;
3. maps a ``GalaxyError`` that escapes the handler: a ``ValidationError`` goes to the
   state var named by ``field_errors`` (a dict var takes the field errors, a str var
   the message), anything else becomes the error toast; ``reset`` vars (busy flags)
   go back to the given values first.

Without a session, page loaders (``load=True``) and background tasks end quietly (the
shell's own loader redirects to sign-in); other handlers show "session has ended".

Objects are checked by the services: an id taken from state or from the browser is
only ever a key that a tenant-scoped service looks up with the resolved context,
where another workspace's object is "not found". Background loops resolve the
context again as they go (``session_context``) and read through services that check
the object on every read.

The shell's ``SessionState`` and the account states (auth, invite, profile) act on
the signed-in user rather than on a workspace; they resolve ``current_auth`` on every
call themselves (session.py cannot import this module, which builds on it).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import reflex as rx
from reflex.istate.proxy import StateProxy

from galaxyco_ui.auth.permissions import TenantContext
from galaxyco_ui.errors import AuthenticationError, GalaxyError, ValidationError
from galaxyco_ui.states.session import error_toast, tenant_context

GUARD_MARKER = "_galaxyco_guard"  # set on every guarded handler (the tests check for it)


def session_context(state: rx.State) -> TenantContext | None:
    """This connection's tenant context now, or None without a (workspace) session.

    For live loops, which call it again as they go: a revoked session, a removed
    member or a switched workspace stops them.
    """
    try:
        return tenant_context(state)
    except AuthenticationError:
        return None


def guarded(
    fn: Callable[..., Any] | None = None,
    *,
    load: bool = False,
    field_errors: str = "",
    reset: Mapping[str, Any] | None = None,
) -> Any:
    """Resolve the tenant context for a handler on every call; map its errors.

    Args:
        fn: The handler, ``(self, ctx, *args)``; use as ``@guarded`` or ``@guarded(...)``.
        load: A page loader: without a session, do nothing (the shell redirects).
        field_errors: The state var that shows a ``ValidationError``'s messages.
        reset: State vars set back to these values when the handler fails.
    """
    return _guard(fn, resolve=tenant_context, load=load, field_errors=field_errors, reset=reset)


def _guard(
    fn: Callable[..., Any] | None,
    *,
    resolve: Callable[[rx.State], Any],
    load: bool,
    field_errors: str,
    reset: Mapping[str, Any] | None,
) -> Any:
    if fn is None:
        return functools.partial(_guard, resolve=resolve, load=load, field_errors=field_errors, reset=reset)

    def fail(state: Any, exc: GalaxyError) -> Any:
        # A background task runs on a proxy that it may change only inside
        # ``async with self``: it ends quietly without a session, else shows the toast.
        background = isinstance(state, StateProxy)
        if isinstance(exc, AuthenticationError) and (load or background):
            return None
        if background:
            return error_toast(exc)
        for name, value in (reset or {}).items():
            setattr(state, name, value)
        if field_errors and isinstance(exc, ValidationError):
            current = getattr(state, field_errors)
            setattr(
                state,
                field_errors,
                exc.message if isinstance(current, str) else (exc.field_errors or {"": exc.message}),
            )
            return None
        return error_toast(exc)

    if inspect.isasyncgenfunction(fn):

        async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                caller = resolve(self)
            except GalaxyError as exc:
                yield fail(self, exc)
                return
            try:
                async for update in fn(self, caller, *args, **kwargs):
                    yield update
            except GalaxyError as exc:
                yield fail(self, exc)

    elif inspect.iscoroutinefunction(fn):
        # (misc: mypy refuses a coroutine and an async generator variant of one name.)
        async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]  # see above
            try:
                caller = resolve(self)
            except GalaxyError as exc:
                return fail(self, exc)
            try:
                return await fn(self, caller, *args, **kwargs)
            except GalaxyError as exc:
                return fail(self, exc)

    elif inspect.isgeneratorfunction(fn):
        raise TypeError(f"{fn.__qualname__}: make it an async generator to guard it")

    else:

        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                caller = resolve(self)
            except GalaxyError as exc:
                return fail(self, exc)
            try:
                return fn(self, caller, *args, **kwargs)
            except GalaxyError as exc:
                return fail(self, exc)

    functools.update_wrapper(wrapper, fn)
    # Reflex reads the handler's parameters from the signature and the annotations:
    # hide the injected one, so the browser can neither see nor send it.
    params = list(inspect.signature(fn).parameters.values())
    if len(params) < 2:
        raise TypeError(f"{fn.__qualname__}: a guarded handler takes (self, ctx, ...)")
    hidden = params[1].name
    wrapper.__signature__ = inspect.signature(fn).replace(parameters=[params[0], *params[2:]])  # type: ignore[attr-defined]  # inspect reads it; not a declared attribute
    wrapper.__annotations__ = {k: v for k, v in fn.__annotations__.items() if k != hidden}
    setattr(wrapper, GUARD_MARKER, True)
    return wrapper
