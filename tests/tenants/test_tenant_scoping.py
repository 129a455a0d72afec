"""Tenant-owned tables refuse to be read without a hospital in context, and scope to it when there is one."""
from __future__ import annotations

import pytest

from tenants.context import TenantContextMissing, dangerously_operator_access, tenant_context
from tenants.keys import split_key
from tenants.storage_keys import study_object_key


def test_tenant_owned_query_without_a_tenant_fails_closed(db):
    from inference.models import Assessment

    with pytest.raises(TenantContextMissing):
        list(Assessment.objects.all())


def test_tenant_owned_query_is_scoped_to_the_tenant_in_context(hospital_a, hospital_b):
    from studies.models import Study

    with tenant_context(hospital_a.tenant):
        Study.objects.create(study_instance_uid="1.2.3")
    with tenant_context(hospital_b.tenant):
        assert Study.objects.count() == 0
        with pytest.raises(PermissionError):
            Study.objects.create(tenant=hospital_a.tenant, study_instance_uid="1.2.4")
    with tenant_context(hospital_a.tenant):
        assert Study.objects.count() == 1
    # The Python escape hatch alone does not cross hospitals: the database still refuses without operator access.
    assert Study.objects.dangerously_all_tenants().count() == 0
    with dangerously_operator_access(reason="test"):
        assert Study.objects.dangerously_all_tenants().count() == 1


def test_api_keys_are_stored_hashed_and_only_the_prefix_is_visible(hospital_a):
    prefix, secret = split_key(hospital_a.api_key)
    row = hospital_a.api_key_row
    assert row.prefix == prefix
    assert secret not in row.secret_sha256
    assert secret not in str(row)
    assert len(row.secret_sha256) == 64


def test_object_keys_start_with_the_tenant_and_refuse_crafted_uids():
    key = study_object_key(tenant_id="6f1f0c8e-1f3e-4a59-9d1e-0c7b8b8f4a11", study_uid="1.2.3", series_uid="1.2.3.4",
                           sha256="a" * 64, content_type="application/dicom")
    assert key == f"tenants/6f1f0c8e-1f3e-4a59-9d1e-0c7b8b8f4a11/studies/1.2.3/1.2.3.4/{'a' * 64}.dcm"
    with pytest.raises(ValueError):
        study_object_key(tenant_id="6f1f0c8e-1f3e-4a59-9d1e-0c7b8b8f4a11", study_uid="../../other",
                         series_uid="1.2", sha256="a" * 64, content_type="application/dicom")
