from django.contrib import admin

from studies.models import ImageInstance, Study


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ("study_instance_uid", "tenant", "created_at")

    def get_queryset(self, request):
        # Operator view across hospitals (issue #3 audits operator access).
        return Study.objects.dangerously_all_tenants()


@admin.register(ImageInstance)
class ImageInstanceAdmin(admin.ModelAdmin):
    list_display = ("sha256", "tenant", "modality", "content_type", "size_bytes", "created_at")

    def get_queryset(self, request):
        return ImageInstance.objects.dangerously_all_tenants()
