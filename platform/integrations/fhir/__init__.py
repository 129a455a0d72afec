"""The FHIR R4 endpoint set (/fhir/r4/): CapabilityStatement, DiagnosticReport read and search, ServiceRequest
create and read. Resources are built by reports.fhir; errors are OperationOutcomes, never HTML or a 5xx."""
