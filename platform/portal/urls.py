from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views as account_views
from billing import portal_views as billing_views
from portal import views

app_name = "portal"

urlpatterns = [
    # Sign-in: password, then a TOTP code for people with two-step sign-in on (accounts.signin).
    path("login/", account_views.signin_password, name="login"),
    path("login/code/", account_views.signin_code, name="login-code"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The person's own account (no hospital data).
    path("account/two-step/", account_views.two_step, name="account-two-step"),
    path("account/password/", account_views.PasswordChangeView.as_view(), name="password-change"),
    path("account/password/done/", account_views.PasswordChangeDoneView.as_view(), name="password-change-done"),
    path("", views.assessment_list, name="assessment-list"),
    path("hospital/", views.switch_hospital, name="switch-hospital"),
    path("assessments/<str:assessment_id>/", views.assessment_detail, name="assessment-detail"),
    path("assessments/<str:assessment_id>/image.png", views.assessment_image, name="assessment-image"),
    # The audit trail (the `auditor` role).
    path("audit/", views.audit_events, name="audit-events"),
    # Billing (the `billing` role): usage this month, invoices, one printable invoice.
    path("billing/", billing_views.usage, name="billing-usage"),
    path("billing/invoices/", billing_views.invoice_list, name="billing-invoice-list"),
    path("billing/invoices/<str:invoice_id>/", billing_views.invoice_detail, name="billing-invoice-detail"),
]
