"""Corpus preparation: read, normalise, filter, split; count everything dropped."""
