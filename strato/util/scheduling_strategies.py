"""Scheduling strategies for `.options(scheduling_strategy=...)`, as in Ray.

The class is defined next to the option checks (strato/remote_function.py):
`strato.util` builds on the handles (Queue makes an actor), so they must not
import it back. This module is its public, Ray-compatible path.
"""
from strato.remote_function import NodeAffinitySchedulingStrategy

__all__ = ["NodeAffinitySchedulingStrategy"]
