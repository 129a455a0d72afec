"""HL7 v2: ORU^R01 result messages (oru.py), MLLP delivery (mllp.py, tasks.py) and the per-hospital destination."""
