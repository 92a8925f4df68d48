"""How long the processes of a run live: none outlives the process that started it (no orphans).

``mbpm run`` starts Snakemake, Snakemake starts one ``mbpm execute`` per notebook job (``exec``-ed by its shell, so
Snakemake is the parent), papermill starts the Jupyter kernel. Whatever kills ``mbpm run`` -- Ctrl-C, a closed
terminal, an OOM kill, ``kill -9`` -- must take the whole chain with it, or an orphaned Snakemake keeps the project
lock and its jobs keep writing into the build. Each level asks the Linux kernel to signal it when its parent dies
(``prctl(PR_SET_PDEATHSIG)``, see prctl(2)); the Jupyter kernel already polls its parent (ipykernel's
``ParentPollerUnix``, via ``JPY_PARENT_PID``) and exits within a second of papermill's death.

Written by hand: neither Snakemake nor the standard library offers "die with the parent"; on systems other than
Linux the call does nothing (the lock file then names a holder that may be gone, see helpers.runner).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(sig: int = signal.SIGKILL, parent: int | None = None) -> bool:
    """Have the kernel send ``sig`` to this process when its parent (the thread that started it) dies.

    ``parent``: the parent's PID as the caller knew it before the call; if the parent has already died (this process
    was re-parented), exit at once instead of running without a parent. Usable as a ``preexec_fn``. Returns whether
    the request was made (False off Linux).
    """
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if parent is not None and os.getppid() != parent:  # the parent died before the request: nobody to outlive
        os.kill(os.getpid(), sig)
    return True
