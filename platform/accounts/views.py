"""Portal sign-in (password, then TOTP code), two-step set-up, and password change.

Thin views over accounts.signin and accounts.services. A locked sign-in answers 429 Too Many Requests with
Retry-After and `data-code="signin_locked"` (plus `data-retry-after-s`) on the message.
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from accounts import lockout, services, signin
from accounts.selectors import totp_device_for
from accounts.services import TotpError


def _safe_next(request, candidate: str) -> str:
    if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                                     require_https=request.is_secure()):
        return candidate
    return ""


def _locked(request, template: str, lock: lockout.Lock, context: dict | None = None):
    response = render(request, template, {**(context or {}), "lock": lock}, status=429)
    response["Retry-After"] = str(int(lock.remaining_s) + 1)
    return response


def _after_signin(request, outcome: signin.Outcome):
    return redirect(outcome.next_url or resolve_url(settings.LOGIN_REDIRECT_URL))


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
def signin_password(request):
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next", ""))
    context = {"next": next_url}
    if request.method != "POST":
        return render(request, "portal/login.html", {**context, "expired": request.GET.get("expired") == "1"})
    username = request.POST.get("username", "")
    context["username"] = username
    outcome = signin.password_step(request, username=username, password=request.POST.get("password", ""),
                                   next_url=next_url)
    if outcome.status == "locked":
        return _locked(request, "portal/login.html", outcome.lock, context)
    if outcome.status == "code_required":
        return redirect("portal:login-code")
    if outcome.status == "signed_in":
        return _after_signin(request, outcome)
    return render(request, "portal/login.html", {**context, "refused": True})


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
def signin_code(request):
    if request.method != "POST":
        if signin.pending(request) is None:
            return redirect(f"{resolve_url('portal:login')}?expired=1")
        return render(request, "accounts/signin_code.html")
    outcome = signin.code_step(request, code=request.POST.get("code"))
    if outcome.status == "signed_in":
        return _after_signin(request, outcome)
    if outcome.status == "locked":
        return _locked(request, "portal/login.html", outcome.lock)
    if outcome.status == "expired":
        return render(request, "portal/login.html", {"expired": True})
    return render(request, "accounts/signin_code.html", {"refused": True})


@sensitive_post_parameters("password", "code")
@login_required
@csrf_protect
@never_cache
def two_step(request):
    """Two-step sign-in set-up: start (shows the secret once), confirm with a code, or turn off."""
    context: dict = {}
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "start":
                context["enrolment"] = services.totp_enrolment_start(user=request.user)
            elif action == "confirm":
                services.totp_enrolment_confirm(user=request.user, code=request.POST.get("code"))
                context["message"] = "Two-step sign-in is on. From now on, sign-in asks for a code from your app."
            elif action == "disable":
                username = request.user.get_username()
                lock = lockout.lock_for(username=username, ip=signin.client_ip(request))
                if lock is not None:
                    return _locked(request, "accounts/two_step.html", lock,
                                   {"device": totp_device_for(user=request.user)})
                try:
                    services.totp_disable(user=request.user, password=request.POST.get("password", ""),
                                          code=request.POST.get("code"))
                except TotpError as exc:
                    if exc.code in {"wrong_password", "wrong_code"}:
                        # Someone holding a signed-in session guessing the password: counts like sign-in.
                        lockout.record_failure(username=username, ip=signin.client_ip(request))
                    raise
                context["message"] = "Two-step sign-in is off."
        except TotpError as exc:
            context["error"] = exc
    context["device"] = totp_device_for(user=request.user)
    return render(request, "accounts/two_step.html", context, status=400 if "error" in context else 200)


@method_decorator(never_cache, name="dispatch")
class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's view (old password, new password twice, AUTH_PASSWORD_VALIDATORS), in the portal's style."""

    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("portal:password-change-done")


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "accounts/password_change_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's reset-link view; a link that is not (or no longer) valid answers 404 with the page that says so,
    so an unknown or used link looks the same as any other missing page."""

    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("portal:password-reset-complete")

    def render_to_response(self, context, **response_kwargs):
        if not context.get("validlink"):
            response_kwargs["status"] = 404
        return super().render_to_response(context, **response_kwargs)
