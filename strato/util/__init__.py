"""Utilities on top of the core API: ActorPool, Queue, as_completed/map_unordered, placement groups,
scheduling strategies, name lookups.

As in Ray, `strato.util.placement_group` is the function; the module of the
same name stays importable (`from strato.util.placement_group import ...`).
"""
from strato.util import scheduling_strategies
from strato.util.actor_pool import ActorPool
from strato.util.helpers import as_completed, map_unordered
from strato.util.names import get_node_ip_address, list_named_actors
from strato.util.placement_group import (
    get_current_placement_group,
    get_placement_group,
    placement_group,
    placement_group_table,
    remove_placement_group,
)
from strato.util.queue import Queue

__all__ = ["ActorPool", "Queue", "as_completed", "get_current_placement_group", "map_unordered", "get_node_ip_address", "get_placement_group",
           "list_named_actors", "placement_group", "placement_group_table", "remove_placement_group",
           "scheduling_strategies"]
