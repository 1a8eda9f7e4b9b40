"""Utilities on top of the core API: ActorPool, Queue, scheduling strategies."""
from strato.util import scheduling_strategies
from strato.util.actor_pool import ActorPool
from strato.util.queue import Queue

__all__ = ["ActorPool", "Queue", "scheduling_strategies"]
