"""Core: errors, declared variables and CF attributes, method registry."""
