"""Result formats: JSON schema, FHIR R4 DiagnosticReport, DICOM SR (TID 1500) and SEG, rendered HTML/PDF reports."""
