from django.contrib import admin, messages

from tenants.lifecycle import LifecycleError, tenant_reactivate, tenant_suspend
from tenants.models import ApiKey, Membership, Tenant


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "status", "created_at", "suspended_at", "offboarded_at")
    list_filter = ("status",)
    search_fields = ("name", "slug")
    # The status changes only through the lifecycle services (actions below, tenant_* commands), never by editing:
    # "offboarded" typed into a form would purge nothing.
    readonly_fields = ("status", "created_at", "suspended_at", "offboarded_at")
    actions = ("suspend_hospitals", "reactivate_hospitals")

    @admin.action(description="Suspend the selected hospitals (logins and API keys refused, data kept)")
    def suspend_hospitals(self, request, queryset):
        reason = f"suspended from the admin by {request.user.get_username()}"
        self._apply(request, queryset, lambda tenant: tenant_suspend(tenant=tenant, reason=reason), "suspended")

    @admin.action(description="Reactivate the selected hospitals")
    def reactivate_hospitals(self, request, queryset):
        self._apply(request, queryset, lambda tenant: tenant_reactivate(tenant=tenant), "reactivated")

    def _apply(self, request, queryset, service, done: str) -> None:
        changed = []
        for tenant in queryset:
            try:
                service(tenant)
            except LifecycleError as exc:
                self.message_user(request, str(exc), level=messages.ERROR)
            else:
                changed.append(tenant.slug)
        if changed:
            self.message_user(request, f"{done.capitalize()}: {', '.join(changed)}", level=messages.SUCCESS)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "tenant", "role")
    list_filter = ("role",)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "secret_sha256", "last_used_at")
