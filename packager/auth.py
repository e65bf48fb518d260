"""Logins with a limit on wrong passwords, per account and per client, at every login form."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest

from packager import ratelimit
from web.http import client_ip

THROTTLED = "packager_login_throttled"


class RateLimitedModelBackend(ModelBackend):
    """Django's model backend, refusing to check passwords once the limits are reached.

    Each check takes a slot per account and per client (an IPv4 address or an IPv6 /64)
    before the slow hash runs; a right password gives them back.
    """

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> User | None:
        if username is None or password is None:
            return None
        client = ratelimit.client_network(client_ip(request) if request is not None else None)
        keys = [f"login:user:{username.lower()[:150]}", f"login:client:{client}"]
        taken: list[str] = []
        for key in keys:
            if not ratelimit.attempt_take(key=key, limit=settings.LOGIN_ATTEMPTS, window=settings.LOGIN_WINDOW):
                for refunded in taken:
                    ratelimit.attempt_refund(key=refunded)
                if request is not None:
                    request.META[THROTTLED] = True
                raise PermissionDenied  # authenticate() then tries no other backend
            taken.append(key)
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None:
            for key in taken:
                ratelimit.attempt_refund(key=key)
        return user


class LoginForm(AuthenticationForm):
    """Says so when the login limit, not a wrong password, refused the attempt."""

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except ValidationError:
            if self.request is not None and self.request.META.get(THROTTLED):
                raise ValidationError(
                    "Too many failed logins for this account or from your network. "
                    "Wait a quarter of an hour and try again.",
                    code="throttled",
                ) from None
            raise
