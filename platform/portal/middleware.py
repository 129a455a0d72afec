"""The portal's language per request: the signed-in person's stored choice, else the browser's, else English."""
from __future__ import annotations

from django.conf import settings
from django.utils import translation

# The stored choice is cached in the session so the preference table is read once per sign-in, not per request.
SESSION_LANGUAGE_KEY = "portal_language"


class PortalLanguageMiddleware:
    """Activates one of settings.LANGUAGES for the request (Django's LocaleMiddleware without URL prefixes, plus
    the person's stored preference, which follows them to any device)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        language = ""
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            language = request.session.get(SESSION_LANGUAGE_KEY)
            if language is None:
                from accounts.selectors import portal_language_for

                language = portal_language_for(user=user)
                request.session[SESSION_LANGUAGE_KEY] = language
        if not language or language not in dict(settings.LANGUAGES):
            language = translation.get_language_from_request(request, check_path=False)
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
        try:
            response = self.get_response(request)
        finally:
            translation.deactivate()
        response.headers.setdefault("Content-Language", request.LANGUAGE_CODE)
        return response
