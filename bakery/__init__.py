"""Bakery: bake immutable infrastructure from YAML recipes into reproducible OCI images."""

__version__ = "0.1.0"
