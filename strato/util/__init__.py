"""Utilities on top of the core API."""
from strato.util import scheduling_strategies

__all__ = ["scheduling_strategies"]
