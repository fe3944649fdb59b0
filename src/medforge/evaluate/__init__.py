"""Downstream evaluation: fine-tune on labelled tasks and score with the strict protocol."""
