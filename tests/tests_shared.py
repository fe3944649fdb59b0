"""Helpers importable from test modules (conftest fixtures cover the rest)."""

from conftest import shared_data  # noqa: F401  (re-exported)
