"""Radiologist sign-off on assessment results (agree / disagree with a comment), recorded and audited."""
