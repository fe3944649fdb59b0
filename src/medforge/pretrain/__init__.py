"""Masked-language-model pre-training."""
