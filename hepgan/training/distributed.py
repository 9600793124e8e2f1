"""torchrun / DistributedDataParallel plumbing: rank detection, per-rank devices, collective helpers.

``torchrun --nproc_per_node=N -m hepgan train CONFIG`` sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; this module turns them into a :class:`DistributedContext` (NCCL on GPUs,
gloo on CPUs). With no such variables everything degrades to a single process and every
helper is a no-op, so the trainer calls them unconditionally.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from hepgan.errors import ConfigError


@dataclass
class DistributedContext:
    """Where this process stands in a (possibly single-process) training job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialised_here: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone logs and writes the run folder and checkpoints."""
        return self.rank == 0

    def device(self, requested: str) -> torch.device:
        """This rank's device: ``cuda:LOCAL_RANK`` when CUDA is used, else the CPU."""
        use_cuda = (requested == "auto" and torch.cuda.is_available()) or requested.startswith("cuda")
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"training.device: {requested!r} requested but no CUDA device is available")
        if use_cuda:
            index = self.local_rank if self.enabled else (torch.device(requested).index or 0)
            return torch.device("cuda", index)
        return torch.device("cpu")

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def broadcast_object(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank."""
        if not self.enabled:
            return value
        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather_objects(self, value: Any) -> list[Any]:
        """Every rank's ``value``, in rank order, on every rank."""
        if not self.enabled:
            return [value]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, value)
        return out

    def mean(self, values: dict[str, float], device: torch.device) -> dict[str, float]:
        """Average of each value over the ranks (all ranks then take the same decisions)."""
        if not self.enabled or not values:
            return values
        keys = sorted(values)
        tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return {k: float(v) / self.world_size for k, v in zip(keys, tensor.tolist(), strict=True)}

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank if it is true on one."""
        if not self.enabled:
            return flag
        tensor = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return bool(tensor.item() > 0)

    def close(self) -> None:
        if self.initialised_here and dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(requested_device: str = "auto") -> DistributedContext:
    """Join the process group described by torchrun's environment, or return a single-process context."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    context = DistributedContext(rank, world_size, local_rank)
    if not dist.is_initialized():
        cuda = context.device(requested_device).type == "cuda"
        if cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if cuda else "gloo")
        context.initialised_here = True
    return context
