"""Which torch device to run on (``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``), and its free memory."""

from __future__ import annotations

import ctypes
import os
import re
import sys
from pathlib import Path

import torch

from hepgan.errors import ConfigError


def select_device(name: str, field: str = "device") -> torch.device:
    """The device named by ``name``; a ConfigError naming ``field`` for anything else or a missing GPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if re.fullmatch(r"cuda(:\d{1,3})?", name or ""):
        if not torch.cuda.is_available():
            raise ConfigError(f"{field}: {name!r} requested but no CUDA device is available")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(f"{field}: {name!r} requested but only {torch.cuda.device_count()} CUDA devices exist")
        return torch.device(name)
    raise ConfigError(f"{field}: expected auto, cpu, cuda or cuda:N, got {name!r}")


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 matrices in hardware: CUDA GPUs that support it; CPUs with
    AVX512-BF16 or AMX (there bf16 matrix products run 2-3× faster than float32)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)
    return False


def use_bfloat16(precision: str, device: torch.device) -> bool:
    """Whether a generator network runs under bf16 autocast: ``precision`` auto (where :func:`native_bfloat16`),
    float32 (never) or bfloat16 (always)."""
    if precision not in ("auto", "float32", "bfloat16"):
        raise ConfigError(f"generation.precision: expected auto, float32 or bfloat16, got {precision!r}")
    return precision == "bfloat16" or (precision == "auto" and native_bfloat16(device))


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters (malloc.h)


def retain_freed_memory() -> bool:
    """Let glibc's malloc keep freed large blocks for reuse instead of handing them back to the kernel.

    A generated batch passes through a few (N, n_cells) buffers of tens of MB; by default
    glibc maps each afresh and unmaps it when freed, so every batch pays page faults and
    zeroing (on 2 cores a quarter of ``generate --n 1e6``). Raising the mmap and trim
    thresholds to 1 GiB and 2 GiB keeps them in the heap: the process holds its peak
    (flat) memory instead, for the rest of the process (a notebook that generated keeps its
    peak). Linux with glibc only; returns whether it was applied. The CLI
    calls it for the commands that stream batches; Python code that generates many batches
    may call it once (the benchmarks do).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        # older glibc caps the mmap threshold at 32 MiB (HEAP_MAX_SIZE / 2): enough for a ds1 batch of 10 000
        mapped = bool(libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30)) or bool(libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20))
        trimmed = bool(libc.mallopt(_M_TRIM_THRESHOLD, (1 << 31) - 1))
        return mapped and trimmed
    except (OSError, AttributeError):  # not glibc
        return False


MEMORY_HEADROOM = 0.9
"""Fraction of the free memory that one batch may be planned to use."""
OUT_OF_MEMORY_TEXTS = ("out of memory", "can't allocate memory", "cannot allocate memory", "not enough memory")
"""Parts of the messages torch and the C library give when an allocation fails."""


def _meminfo_available() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (Linux), else None."""
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_free() -> int | None:
    """Bytes left under this process's cgroup memory limit (v2, then v1), else None."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            limit = Path(limit_file).read_text(encoding="ascii").strip()
            usage = int(Path(usage_file).read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 2**60:
            return max(int(limit) - usage, 0)
    return None


def host_available_memory() -> int | None:
    """Bytes of host memory available to this process: MemAvailable (or psutil, or the free physical
    pages), bounded by a cgroup limit; None when none of them can be read."""
    available = _meminfo_available()
    if available is None:
        try:
            import psutil

            available = int(psutil.virtual_memory().available)
        except ImportError:
            try:
                available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            except (OSError, ValueError, AttributeError):
                available = None
    cgroup = _cgroup_free()
    if cgroup is not None:
        available = cgroup if available is None else min(available, cgroup)
    return available


def available_memory(device: torch.device) -> int | None:
    """Free bytes for tensors on ``device`` (CUDA: the device's free memory; else the host's), or None if unknown."""
    if device.type == "cuda":
        try:
            free, _ = torch.cuda.mem_get_info(device)
        except (RuntimeError, AssertionError):
            return None
        return int(free)
    return host_available_memory()


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a failed allocation (MemoryError, torch's out-of-memory errors)."""
    if isinstance(exc, MemoryError | torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and any(text in str(exc).lower() for text in OUT_OF_MEMORY_TEXTS)
