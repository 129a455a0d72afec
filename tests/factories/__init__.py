"""Test data builders shared across suites (real files written with real libraries, no mocks)."""
