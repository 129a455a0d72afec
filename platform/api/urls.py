from django.urls import path

from api import audit_views, docs_views, keys, views
from billing import api as billing_api

app_name = "api"

urlpatterns = [
    path("v1/assessments", views.AssessmentCollectionView.as_view(), name="assessment-collection"),
    path("v1/assessments/<str:assessment_id>", views.AssessmentDetailView.as_view(), name="assessment-detail"),
    path("v1/assessments/<str:assessment_id>/original", views.AssessmentOriginalView.as_view(),
         name="assessment-original"),
    path("v1/api-keys", keys.ApiKeyCollectionView.as_view(), name="api-key-collection"),
    path("v1/api-keys/<str:api_key_id>", keys.ApiKeyDetailView.as_view(), name="api-key-detail"),
    path("v1/audit/events", audit_views.AuditEventExportView.as_view(), name="audit-events"),
    path("v1/billing/usage", billing_api.UsageView.as_view(), name="billing-usage"),
    path("v1/billing/invoices", billing_api.InvoiceCollectionView.as_view(), name="billing-invoice-collection"),
    path("v1/billing/invoices/<str:invoice_id>", billing_api.InvoiceDetailView.as_view(),
         name="billing-invoice-detail"),
    # The contract (issue 9): the OpenAPI document, its reference page and the page's own files.
    path("v1/schema", docs_views.SchemaView.as_view(), name="schema"),
    path("v1/docs", docs_views.DocsView.as_view(), name="docs"),
    *[path(f"v1/docs/assets/{filename}", docs_views.docs_asset, {"name": filename},
           name=docs_views.asset_route_name(filename)) for filename in docs_views.DOCS_ASSETS],
]
