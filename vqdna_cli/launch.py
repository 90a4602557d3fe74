"""How this process was started: alone, or as one of torchrun's processes.

Read from torchrun's environment before the process group is joined (and without importing
torch, which the CLI's error handling must not wait for). A RANK without a WORLD_SIZE above 1
(a pod or a shell that sets it for other reasons) is a process alone.
"""

from __future__ import annotations

import os


def launch_world() -> int:
    """How many processes torchrun started (1 for a process alone)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def launch_rank() -> int:
    """This process's rank in a torchrun run of several processes; 0 otherwise."""
    if launch_world() <= 1:
        return 0
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0
