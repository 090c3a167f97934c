"""Orderings of a river network's nodes (numba only: explicit arrays, no I/O). A network is its
``down`` array (index of each node's downstream node, -1 at an outlet) or its upstream CSR (``ptr``,
``idx``: node i's upstream nodes are ``idx[ptr[i]:ptr[i + 1]]``)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def kahn_order(down):
    """Upstream-first (topological) order: a node comes after every node draining into it. Among the nodes
    ready at once the last one made ready goes first (a stack), starting from the lowest-numbered
    headwater. A cycle's nodes are left out (the result is then shorter than the network)."""
    n = down.size
    indeg = np.zeros(n, np.int64)
    for i in range(n):
        if down[i] >= 0:
            indeg[down[i]] += 1
    stack = np.empty(n, np.int64)
    top = 0
    for i in range(n - 1, -1, -1):  # pushed highest first, so the lowest pops first
        if indeg[i] == 0:
            stack[top] = i
            top += 1
    order = np.empty(n, np.int64)
    k = 0
    while top > 0:
        top -= 1
        i = stack[top]
        order[k] = i
        k += 1
        d = down[i]
        if d >= 0:
            indeg[d] -= 1
            if indeg[d] == 0:
                stack[top] = d
                top += 1
    return order[:k]


@numba.njit(cache=True, nogil=True)
def postorder(ptr, idx, roots):
    """Post-order depth-first walk of the upstream graph from each of ``roots`` in turn: every node after all the
    nodes upstream of it, each node's upstream branches in their CSR order. ``roots``: distinct nodes none of
    which is upstream of another (a river network is a tree upstream: each node is visited once)."""
    n = ptr.size - 1
    out = np.empty(n, np.int64)
    k = 0
    node_stack = np.empty(n + 1, np.int64)
    done_stack = np.empty(n + 1, np.bool_)
    for root in roots:
        node_stack[0] = root
        done_stack[0] = False
        top = 1
        while top > 0:
            top -= 1
            node = node_stack[top]
            if done_stack[top]:
                out[k] = node
                k += 1
                continue
            done_stack[top] = True  # the node again, after its upstream nodes
            top += 1
            for j in range(ptr[node + 1] - 1, ptr[node] - 1, -1):  # pushed last first: they pop in CSR order
                node_stack[top] = idx[j]
                done_stack[top] = False
                top += 1
    return out[:k]
