from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from accounts import views as account_views
from billing import portal_views as billing_views
from portal import manage, operator, submit, views

app_name = "portal"

urlpatterns = [
    # Sign-in: password, then a TOTP code for people with two-step sign-in on (accounts.signin).
    path("login/", account_views.signin_password, name="login"),
    path("login/code/", account_views.signin_code, name="login-code"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Password reset by e-mail (Django's views; the mail goes through settings.EMAIL_BACKEND).
    path("password-reset/", auth_views.PasswordResetView.as_view(
        template_name="accounts/password_reset_form.html", email_template_name="accounts/password_reset_email.txt",
        subject_template_name="accounts/password_reset_subject.txt",
        success_url=reverse_lazy("portal:password-reset-done")), name="password-reset"),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(
        template_name="accounts/password_reset_done.html"), name="password-reset-done"),
    path("password-reset/<uidb64>/<token>/", account_views.PasswordResetConfirmView.as_view(),
         name="password-reset-confirm"),
    path("password-reset/done/", auth_views.PasswordResetCompleteView.as_view(
        template_name="accounts/password_reset_complete.html"), name="password-reset-complete"),
    path("account/language/", manage.language, name="account-language"),
    # The person's own account (no hospital data).
    path("account/two-step/", account_views.two_step, name="account-two-step"),
    path("account/password/", account_views.PasswordChangeView.as_view(), name="password-change"),
    path("account/password/done/", account_views.PasswordChangeDoneView.as_view(), name="password-change-done"),
    path("", views.assessment_list, name="assessment-list"),
    path("hospital/", views.switch_hospital, name="switch-hospital"),
    path("assessments/<str:assessment_id>/", views.assessment_detail, name="assessment-detail"),
    path("assessments/<str:assessment_id>/image.png", views.assessment_image, name="assessment-image"),
    path("assessments/<str:assessment_id>/overlays/<str:name>.png", views.assessment_artifact_png,
         name="assessment-artifact-png"),
    path("assessments/<str:assessment_id>/signoff/", views.assessment_signoff, name="assessment-signoff"),
    # Live worklist updates (polled; see views.assessment_states for why polling).
    path("worklist/states.json", views.assessment_states, name="assessment-states"),
    path("submit/", submit.submit_page, name="submit"),
    path("submit/files/", submit.submit_files, name="submit-files"),
    # Hospital administration (the `admin` role).
    path("manage/people/", manage.people, name="manage-people"),
    path("manage/people/<str:membership_id>/", manage.person, name="manage-person"),
    path("manage/keys/", manage.api_keys, name="manage-keys"),
    path("manage/keys/<str:api_key_id>/revoke/", manage.api_key_revoke, name="manage-key-revoke"),
    # The operator console (platform staff).
    path("operator/", operator.console, name="operator-console"),
    # The audit trail (the `auditor` role).
    path("audit/", views.audit_events, name="audit-events"),
    # Billing (the `billing` role): usage this month, invoices, one printable invoice.
    path("billing/", billing_views.usage, name="billing-usage"),
    path("billing/invoices/", billing_views.invoice_list, name="billing-invoice-list"),
    path("billing/invoices/<str:invoice_id>/", billing_views.invoice_detail, name="billing-invoice-detail"),
]
