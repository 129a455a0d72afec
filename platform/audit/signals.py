"""Sign-outs on the audit record (sign-ins are recorded by accounts.signin, in the sign-in's own flow)."""
from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def record_signout(sender, request, user, **kwargs) -> None:
    from audit.services import AuditUnavailable, actor_from_request, audit_event_record

    if user is None:
        return
    actor = actor_from_request(request)
    try:
        audit_event_record(event="signout", user=user, network_address=actor.network_address)
    except AuditUnavailable:
        logger.error("a sign-out could not be audited")  # signing out always proceeds: it only removes access
