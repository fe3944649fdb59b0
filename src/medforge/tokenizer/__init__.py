"""Tokenizer training (and, later, audit and vocabulary adaptation)."""
