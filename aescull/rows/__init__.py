"""Rows of `aescull score`: the record type, its columns, writing them and reading them back."""
