"""Hospital administration in the portal (the `admin` role): people and roles, API keys; the person's language.

Thin views over tenants.services (each change is audited there, in the same transaction).
"""
from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordResetForm
from django.db import IntegrityError, transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from audit.services import AuditUnavailable, actor_from_request
from portal.middleware import SESSION_LANGUAGE_KEY
from portal.views import _audit_unavailable, _refused, _require_tenant, require_capability
from tenants import selectors as tenant_selectors, services as tenant_services
from tenants.models import Membership
from tenants.roles import Capability


def _people(tenant):
    return Membership.objects.filter(tenant=tenant).select_related("user").order_by("user__username")


def _people_page(request, *, error=None, message=None, status=200):
    tenant = _require_tenant(request)
    return render(request, "portal/manage_people.html", {
        "memberships": _people(tenant), "roles": Membership.Role.choices, "error": error, "message": message,
    }, status=status)


@login_required
@never_cache
@require_capability(Capability.MANAGE_PEOPLE)
def people(request):
    """GET the hospital's people; POST adds one (a new account gets a password-reset e-mail to choose their own
    password; an existing account, e.g. from another hospital, is given the role here)."""
    tenant = _require_tenant(request)
    if request.method != "POST":
        return _people_page(request)
    username = (request.POST.get("username") or "").strip()
    email = (request.POST.get("email") or "").strip()
    role = request.POST.get("role") or ""
    if not username or role not in Membership.Role.values:
        return _people_page(request, error={"code": "invalid_person", "message": _("Give a username and a role.")},
                            status=400)
    actor = actor_from_request(request)
    try:
        with transaction.atomic():
            user = get_user_model().objects.filter(username=username).first()
            created = user is None
            if created:
                # A random password nobody knows; the person sets their own through the reset link.
                user = tenant_services.user_create(username=username, email=email, actor=actor,
                                                   password=secrets.token_urlsafe(32))
            tenant_services.membership_grant(tenant=tenant, user=user, role=role, actor=actor)
    except (IntegrityError, ValueError):
        return _people_page(request, error={"code": "invalid_person", "message": _("That person could not be added.")},
                            status=400)
    except AuditUnavailable:
        return _audit_unavailable()
    if created and email:
        form = PasswordResetForm({"email": email})
        if form.is_valid():
            form.save(request=request, use_https=request.is_secure(),
                      subject_template_name="accounts/password_reset_subject.txt",
                      email_template_name="accounts/password_reset_email.txt")
    return _people_page(request, message=_("%(username)s now has the role %(role)s.") % {
        "username": username, "role": dict(Membership.Role.choices)[role]})


@login_required
@require_POST
@require_capability(Capability.MANAGE_PEOPLE)
def person(request, membership_id):
    """POST action=role (with `role`) changes a person's role here; action=remove removes them from the hospital."""
    tenant = _require_tenant(request)
    membership = Membership.objects.filter(tenant=tenant, pk=membership_id if str(membership_id).isdigit() else 0) \
        .select_related("user", "tenant").first()
    if membership is None:
        _refused(request, "membership_not_found", 404, requested=str(membership_id))
        raise Http404("No such person in this hospital.")
    actor = actor_from_request(request)
    action = request.POST.get("action")
    try:
        if action == "role" and request.POST.get("role") in Membership.Role.values:
            role = request.POST["role"]
            if membership.role == Membership.Role.ADMIN and role != Membership.Role.ADMIN and not _people(tenant) \
                    .filter(role=Membership.Role.ADMIN).exclude(pk=membership.pk).exists():
                return _people_page(request, error={"code": "last_admin", "message": _(
                    "The hospital's last administrator cannot lose that role.")}, status=409)
            tenant_services.membership_grant(tenant=tenant, user=membership.user, role=role, actor=actor)
            return _people_page(request, message=_("Role changed."))
        if action == "remove":
            try:
                tenant_services.membership_revoke(membership=membership, actor=actor)
            except tenant_services.MembershipRejected as exc:
                return _people_page(request, error={"code": exc.code, "message": _(
                    "The hospital's last administrator cannot be removed.")}, status=409)
            return _people_page(request, message=_("%(username)s was removed from the hospital.") % {
                "username": membership.user.get_username()})
    except AuditUnavailable:
        return _audit_unavailable()
    return _people_page(request, error={"code": "invalid_action", "message": _("Choose a role or remove.")},
                        status=400)


def _keys_page(request, *, new_key=None, error=None, status=200):
    tenant = _require_tenant(request)
    response = render(request, "portal/manage_keys.html", {
        "keys": tenant_selectors.api_keys_for_tenant(tenant=tenant), "new_key": new_key, "error": error,
    }, status=status)
    # A page showing a new key must not be kept by the browser or any cache.
    response["Cache-Control"] = "no-store"
    return response


@login_required
@never_cache
@require_capability(Capability.MANAGE_KEYS)
def api_keys(request):
    """GET the hospital's API keys (prefixes only); POST creates one and shows the full key once."""
    tenant = _require_tenant(request)
    if request.method != "POST":
        return _keys_page(request)
    scopes = [scope for scope in ("submit", "read") if request.POST.get(f"scope_{scope}")]
    try:
        api_key, full_key = tenant_services.api_key_create(tenant=tenant, name=request.POST.get("name") or "",
                                                           scopes=scopes or None, created_by=request.user,
                                                           actor=actor_from_request(request))
    except tenant_services.ApiKeyRejected as exc:
        return _keys_page(request, error={"code": exc.code, "message": exc.message}, status=400)
    except AuditUnavailable:
        return _audit_unavailable()
    return _keys_page(request, new_key={"row": api_key, "key": full_key}, status=201)


@login_required
@require_POST
@require_capability(Capability.MANAGE_KEYS)
def api_key_revoke(request, api_key_id):
    tenant = _require_tenant(request)
    api_key = tenant_selectors.api_key_for_tenant(tenant=tenant, api_key_id=api_key_id)
    if api_key is None:
        _refused(request, "api_key_not_found", 404, requested=str(api_key_id))
        raise Http404("No such API key in this hospital.")
    try:
        tenant_services.api_key_revoke(api_key=api_key, actor=actor_from_request(request))
    except AuditUnavailable:
        return _audit_unavailable()
    return redirect("portal:manage-keys")


@login_required
@require_POST
def language(request):
    """Store the person's portal language (it follows them to every device) and go back to the page."""
    from accounts.services import portal_language_set

    try:
        chosen = portal_language_set(user=request.user, language=request.POST.get("language") or "")
    except ValueError:
        chosen = ""
    request.session[SESSION_LANGUAGE_KEY] = chosen
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        target = "portal:assessment-list"
    return redirect(target)
