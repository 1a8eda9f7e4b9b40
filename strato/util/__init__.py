"""Utilities on top of the core API: ActorPool, Queue, scheduling strategies, name lookups."""
from strato.util import scheduling_strategies
from strato.util.actor_pool import ActorPool
from strato.util.names import get_node_ip_address, list_named_actors
from strato.util.queue import Queue

__all__ = ["ActorPool", "Queue", "get_node_ip_address", "list_named_actors", "scheduling_strategies"]
