"""medforge: build, evaluate and publish domain-specific biomedical language models."""

__version__ = "0.1.0"
