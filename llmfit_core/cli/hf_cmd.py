"""Subcommands registered by this module (placeholder: owned by another work item)."""

from __future__ import annotations


def register(cli) -> None:
    """Add this module's subcommands to the `llmfit` group."""
