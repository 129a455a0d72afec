"""Operator admin for the registry: promote, roll back, and the rollout record (read-only)."""
from django.contrib import admin, messages

from registry import services
from registry.models import ModelVersion, RolloutEvent, TenantModelPin


def _actor(request) -> str:
    return f"staff:{request.user.pk}:{request.user.get_username()}"


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("model_name", "version", "precision", "state", "canary_percent", "activated_at", "is_demo")
    list_filter = ("model_name", "state")
    readonly_fields = ("model_name", "version", "precision", "is_demo", "state", "canary_percent", "card",
                       "registered_at", "activated_at", "deactivated_at")
    actions = ["promote", "rollback"]

    def has_add_permission(self, request):
        return False  # versions are registered from the repository (model_register), never typed in

    @admin.action(description="Promote the selected version (one per model)")
    def promote(self, request, queryset):
        for row in queryset:
            try:
                services.model_version_promote(model_name=row.model_name, version=row.version, actor=_actor(request))
                self.message_user(request, f"{row.model_name} v{row.version} is now active")
            except services.RegistryError as exc:
                self.message_user(request, str(exc), level=messages.ERROR)

    @admin.action(description="Roll back the model of the selected version to its previous active version")
    def rollback(self, request, queryset):
        for model_name in sorted({row.model_name for row in queryset}):
            try:
                row = services.model_version_rollback(model_name=model_name, actor=_actor(request))
                self.message_user(request, f"{model_name}: v{row.version} is active again")
            except services.RegistryError as exc:
                self.message_user(request, str(exc), level=messages.ERROR)


@admin.register(RolloutEvent)
class RolloutEventAdmin(admin.ModelAdmin):
    list_display = ("at", "actor", "action", "model_name", "version", "hospital_id")
    list_filter = ("action", "model_name")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TenantModelPin)
class TenantModelPinAdmin(admin.ModelAdmin):
    list_display = ("tenant", "model_name", "version", "pinned_at")

    def get_queryset(self, request):
        return TenantModelPin.objects.dangerously_all_tenants()
