"""HIS/PACS integration: FHIR R4 endpoints, DICOMweb (STOW-RS, QIDO-RS, WADO-RS) and HL7 v2 ORU^R01."""
