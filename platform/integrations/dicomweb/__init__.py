"""DICOMweb (PS3.18) for PACS: STOW-RS, QIDO-RS and WADO-RS over the hospital's own DICOM objects."""
