"""Generators of tiny fake datasets in their real on-disk formats."""
