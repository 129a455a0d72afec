from django.contrib import admin

from inference.models import Assessment


@admin.register(Assessment)
class AssessmentAdmin(admin.ModelAdmin):
    list_display = ("id", "tenant", "model_name", "model_version", "status", "error_code", "attempts", "created_at")
    list_filter = ("status", "model_name")
    readonly_fields = [field.name for field in Assessment._meta.fields]

    def get_queryset(self, request):
        # Operator view across hospitals (issue #3 audits operator access to hospital data).
        return Assessment.objects.dangerously_all_tenants().select_related("tenant")
