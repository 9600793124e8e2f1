"""Run under torchrun by tests/test_distributed.py: one DDP iteration on recorded inputs."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hepgan.training.distributed import init_distributed
from hepgan.training.run_folder import new_run_dir
from tests.helpers import make_trainer, small_config, use_sgd


def main() -> None:
    out, reference = Path(sys.argv[1]), Path(sys.argv[2])
    config = small_config(out, reference, mmd_weight=0.0)  # MMD is a per-batch statistic: not additive over ranks
    dist = init_distributed("cpu")
    run_dir = dist.broadcast_object(new_run_dir(config) if dist.is_main else None)
    trainer = make_trainer(config, run_dir, progress=False, dist=dist)
    use_sgd(trainer)
    phases = trainer.draw_iteration()
    torch.save(phases, out / f"inputs_rank{dist.rank}.pt")
    trainer.apply_iteration(phases)
    if dist.is_main:
        torch.save(
            {
                "generator": trainer.generator.state_dict(),
                "critic": trainer.critic.state_dict(),
                "shard_size": len(trainer.features),
            },
            out / "params_ddp.pt",
        )
    dist.close()


if __name__ == "__main__":
    main()
