"""Keep glibc from handing a training step's activation buffers back to the OS.

Every CPU training step frees and re-allocates the same large activation buffers (the
logits of a 4,096-token transformer_base batch alone are 260 MB). glibc serves each
allocation above 32 MiB with a fresh mmap() and unmaps it on free, so every step
page-faults its way back into memory it just gave away: ~144k minor page faults per step in
the profile behind issue 14. With mmap() off for malloc and a high trim threshold, freed
buffers stay in the heap and the next step reuses them: the resting RSS stays near the peak,
the peak itself does not change. Linux with glibc only.
"""

from __future__ import annotations

import ctypes
import logging
import platform

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # mallopt parameters, from glibc's malloc.h
TRIM_THRESHOLD = 1024 * 1024 * 1024  # free heap above this much goes back to the OS


def keep_freed_memory() -> bool:
    """Tune glibc's malloc for this process; False where there is no glibc to tune."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL("libc.so.6")
    # mallopt returns 1 on success; both calls always run
    done = [libc.mallopt(M_MMAP_MAX, 0), libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)]
    if done != [1, 1]:
        log.warning("glibc refused the allocator settings: training runs as it would anyway")
    return done == [1, 1]
