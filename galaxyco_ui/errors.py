"""The errors every layer may raise, and that the UI and API turn into messages.

GalaxyError                      message safe to show to the user
├── NotFoundError                missing, deleted, or in another workspace
├── PermissionDeniedError        the role does not allow the action
├── ValidationError              bad input; ``field_errors`` maps field → message
│   └── ConflictError            a duplicate (name, email, membership)
├── AuthenticationError          wrong credentials, expired session or ticket
│   └── TwoFactorRequiredError   password fine, a TOTP code is needed
├── RateLimitedError             too many attempts; ``retry_after`` seconds
│   └── BudgetExceededError      a monthly budget is used up; ``retry_after`` = until it resets
└── TooLargeError                a request body above its limit (HTTP 413)
"""

from __future__ import annotations


class GalaxyError(Exception):
    """Base class: ``str(error)`` is a message fit for the person who caused it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(GalaxyError):
    def __init__(self, what: str = "That item") -> None:
        super().__init__(f"{what} was not found.")


class PermissionDeniedError(GalaxyError):
    def __init__(self, message: str = "Your role in this workspace does not allow that.") -> None:
        super().__init__(message)


class ValidationError(GalaxyError):
    def __init__(self, field_errors: dict[str, str], message: str = "") -> None:
        super().__init__(message or next(iter(field_errors.values()), "Invalid input."))
        self.field_errors = field_errors


class ConflictError(ValidationError):
    pass


class AuthenticationError(GalaxyError):
    pass


class TwoFactorRequiredError(AuthenticationError):
    def __init__(self) -> None:
        super().__init__("Enter the 6-digit code from your authenticator app.")


class RateLimitedError(GalaxyError):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BudgetExceededError(RateLimitedError):
    """A run would start over a monthly budget: the message names the budget and its reset date."""


class TooLargeError(GalaxyError):
    pass
