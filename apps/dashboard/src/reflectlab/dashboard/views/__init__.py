"""The dashboard's pages, one module each; each exposes ``render``."""
