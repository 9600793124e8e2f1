"""The training loop: k discriminator steps, then l generator steps, per iteration.

The loop does not know which game it plays: the :class:`~hepgan.losses.GANObjective`
owns the losses and diagnostics. Nor does it know which kind of data it trains on: it is
handed a :class:`~hepgan.training.protocols.TrainingData` (networks, tensors, checkpoint
entries) whose domain-specific steps are :class:`~hepgan.training.protocols.StepHook`
objects. One folder per run holds the resolved config, a JSON-lines metrics log,
checkpoints, ``run.json`` and the held-out reference sample used for validation.
``resume`` continues a killed run from its newest usable checkpoint with the optimiser
state, the data-sampling and noise RNG states and the step restored.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hepgan import __version__
from hepgan.config import RunConfig
from hepgan.device import select_device
from hepgan.errors import ConfigError, InputFileError, OutputError, TrainingError, TrainingInterrupted
from hepgan.losses import GANObjective
from hepgan.progress import Progress, progress_bar
from hepgan.training.checkpoint import (
    CHECKPOINT_FORMAT,
    checkpoint_name,
    load_latest_valid,
    prune_checkpoints,
    save_checkpoint,
)
from hepgan.training.distributed import DistributedContext, init_distributed
from hepgan.training.protocols import TrainingData
from hepgan.training.resume import check_resume_config
from hepgan.training.run_folder import new_run_dir, release_run_dir, reserve_run_dir, run_config, write_config
from hepgan.training.run_log import MetricsLog, Rate, StopSignals
from hepgan.training.run_record import write_run_record
from hepgan.training.sample_buffer import SampleBuffer, refresh_interval, slots_for

log = logging.getLogger(__name__)

HOLDOUT_FILE = "holdout_reference.h5"
BEST_CHECKPOINT = "best.pt"
BUFFER_REUSE = 2.0
"""With ``data.buffer_size``: a buffered sample is drawn this many times on average before it is replaced."""
SPREAD_SAMPLES = 8192
"""Buffered samples whose spread scales the diversity check."""


@dataclass
class TrainResult:
    """Where a finished run left its outputs."""

    run_dir: Path
    checkpoint: Path
    steps: int
    seconds: float
    items_per_second: float
    unit: str  # what one sample is called (the training data's unit)
    best_checkpoint: Path | None = None
    main_process: bool = True  # False on torchrun ranks other than 0


def rank_seed(seed: int, rank: int, step: int) -> int:
    """Seed of rank ``rank``'s random stream (data order, noise), started at ``step``."""
    if rank == 0 and step == 0:
        return seed  # a single-process run is seeded by the config's seed itself
    return int(np.random.SeedSequence(seed, spawn_key=(rank, step)).generate_state(1, dtype=np.uint64)[0] >> 1)


class Trainer:
    """Holds networks, optimisers and RNGs of one run and advances them step by step."""

    def __init__(
        self,
        config: RunConfig,
        run_dir: Path,
        data: TrainingData,
        resume: bool = False,
        progress: bool = True,
        dist: DistributedContext | None = None,
    ) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.dist = dist or DistributedContext()
        self.progress = progress and self.dist.is_main
        tc = config.training
        self.device = self.dist.device(tc.device) if self.dist.enabled else select_device(tc.device, "training.device")
        if tc.batch_size % self.dist.world_size:
            raise ConfigError(
                f"training.batch_size: {tc.batch_size} is the global batch and must divide evenly over "
                f"{self.dist.world_size} processes"
            )
        self.local_batch = tc.batch_size // self.dist.world_size
        if tc.threads:
            torch.set_num_threads(tc.threads)
        self.data = data
        self.objective = GANObjective(
            tc.loss,
            tc.gp_lambda,
            mmd_weight=tc.mmd_weight,
            mmd_features=self.data.mmd_features,
            mmd_condition_scale=tc.mmd_condition_scale,
            mmd_bandwidths=tc.mmd_bandwidths,
        )
        self.amp = tc.amp and self.device.type == "cuda"
        torch.manual_seed(config.seed)

        resume_state: dict[str, Any] | None = None
        if resume:
            ckpt_path, resume_state = load_latest_valid(self.run_dir, map_location="cpu")
            check_resume_config(config, resume_state, self.run_dir, ckpt_path)  # before anything is written
            log.info("resuming from %s (step %d)", ckpt_path, resume_state["step"])
            if self.dist.is_main:
                for stale in (self.run_dir / "checkpoints").glob(".step_*.tmp-*"):  # left by a killed writer
                    stale.unlink(missing_ok=True)
                write_config(config, self.run_dir / "config.yaml")
            self.data.load_transform(resume_state)
        else:
            # read (and check) all the data before anything is written into the (empty) run folder:
            # train() removes it again when this fails, so bad input leaves no run folder
            self.data.fit_transform()  # deterministic: the same on every rank
            if self.dist.is_main:
                self._create_run_dir()
        self.dist.barrier()

        self.buffer: SampleBuffer | None = None
        blocks = self.data.training_blocks(self.dist.rank, self.dist.world_size)
        if blocks is None:
            features, conditions = self.data.training_tensors()
            # each rank trains on its own shard of the training samples
            features = features[self.dist.rank :: self.dist.world_size].clone()
            conditions = conditions[self.dist.rank :: self.dist.world_size].clone()
        else:  # a bounded buffer, refilled from the file as training proceeds
            block_size = config.data.chunk_size
            samples_per_step = self.local_batch * (tc.d_steps + tc.g_steps)
            self.buffer = SampleBuffer(
                blocks,
                slots_for(config.data.buffer_size, block_size),
                block_size,
                refresh_interval(block_size, samples_per_step, BUFFER_REUSE),
                rank_seed(config.seed, self.dist.rank, 0),
                self.device,
            )
            self.buffer.fill_for_step(0)
            # a sample of what is held: the features' spread and the conditions of the diversity check
            features, conditions = self.buffer.draw(SPREAD_SAMPLES, torch.Generator(self.device).manual_seed(0))
            log.info(
                "training buffer: %d %s, %.0f MB", len(self.buffer), self.data.unit, self.buffer.memory_bytes / 1e6
            )
        self.features = features.to(self.device)
        self.conditions = conditions.to(self.device)
        self.generator, self.critic = self.data.build_networks()
        self.generator.to(self.device)
        self.critic.to(self.device)
        self.generator_ema = copy.deepcopy(self.generator).eval().requires_grad_(False)
        # the modules that take part in backward passes: DistributedDataParallel wrappers under torchrun
        self.generator_train, self.critic_train = self.generator, self.critic
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.generator_train = nn.parallel.DistributedDataParallel(self.generator, device_ids=ids)
            self.critic_train = nn.parallel.DistributedDataParallel(self.critic, device_ids=ids)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=tc.lr_generator, betas=tc.betas)
        self.opt_d = torch.optim.Adam(self.critic.parameters(), lr=tc.lr_discriminator, betas=tc.betas)
        self.rng = torch.Generator(device=self.device)
        self.rng.manual_seed(rank_seed(config.seed, self.dist.rank, 0))
        self.feature_spread = float(self.features.std(dim=0).mean().clamp_min(1e-12))
        self.rollbacks = 0
        self.lr_scale = 1.0
        self.best: dict[str, Any] | None = None
        self.hooks = list(self.data.step_hooks(self.dist.is_main))
        self.evaluates = any(hook.evaluation for hook in self.hooks)
        self._gathered_rng_states: list[torch.Tensor] = [self.rng.get_state()]
        self.step = 0
        if resume_state is not None:
            self._load_state(resume_state)
            if self.buffer is not None:
                self.buffer.fill_for_step(self.step)

    def _create_run_dir(self) -> None:
        """Fill the new run folder (made here, or empty from :func:`new_run_dir`); removed again if that fails."""
        try:
            self.run_dir.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            if not self.run_dir.is_dir() or any(self.run_dir.iterdir()):
                raise OutputError(f"{self.run_dir}: cannot create the run folder (it exists, not empty)") from None
        except (OSError, ValueError) as exc:
            raise OutputError(f"{self.run_dir}: cannot create the run folder ({exc})") from None
        try:
            (self.run_dir / "checkpoints").mkdir()
            write_config(self.config, self.run_dir / "config.yaml")
            self.data.write_holdout(self.run_dir / HOLDOUT_FILE)
        except OSError as exc:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            raise OutputError(f"{self.run_dir}: cannot write the run folder ({exc})") from None
        except BaseException:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            raise

    # -------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "hepgan_version": __version__,
            "step": self.step,
            "config": self.config.to_dict(),
            **self.data.checkpoint_entries(),
            "generator": self.generator.state_dict(),
            "generator_ema": self.generator_ema.state_dict(),
            "critic": self.critic.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": self.rng.get_state(),
            "rng_per_rank": self._gathered_rng_states,
            "lr_scale": self.lr_scale,
            "best": self.best,
            "torch_rng": torch.get_rng_state(),
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.generator_ema.load_state_dict(state["generator_ema"])
        self.critic.load_state_dict(state["critic"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        # learning rates come from the (possibly overridden) config, times the rollbacks' factor
        self.lr_scale = float(state.get("lr_scale", 1.0))
        tc = self.config.training
        for optimizer, lr in ((self.opt_g, tc.lr_generator), (self.opt_d, tc.lr_discriminator)):
            for group in optimizer.param_groups:
                group["lr"] = lr * self.lr_scale
        self.step = int(state["step"])
        self.best = state.get("best")
        states = state.get("rng_per_rank") or [state["rng"]]
        if len(states) == self.dist.world_size:
            self.rng.set_state(states[self.dist.rank].cpu())
        else:  # a changed world size: fresh per-rank streams, derived from the seed and the step
            self.rng.manual_seed(rank_seed(self.config.seed, self.dist.rank, self.step))
        torch.set_rng_state(state["torch_rng"])

    def save(self) -> Path:
        """Rank 0 writes the checkpoint (with every rank's RNG state); all ranks wait for it."""
        path = self.run_dir / "checkpoints" / checkpoint_name(self.step)
        self._gathered_rng_states = self.dist.gather_objects(self.rng.get_state())
        if self.dist.is_main:
            save_checkpoint(self.state_dict(), path)
            prune_checkpoints(self.run_dir, self.config.training.keep_checkpoints)
        self.dist.barrier()
        return path

    # --------------------------------------------------------------- steps
    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.buffer is not None:
            return self.buffer.draw(self.local_batch, self.rng)
        idx = torch.randint(len(self.features), (self.local_batch,), device=self.device, generator=self.rng)
        return self.features[idx], self.conditions[idx]

    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.config.model.latent_dim, device=self.device, generator=self.rng)

    def _autocast(self):
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    def draw_iteration(self) -> dict[str, list[dict[str, torch.Tensor]]]:
        """The random inputs of one iteration: real batches, conditions, noise and interpolation weights."""
        tc = self.config.training
        phases: dict[str, list[dict[str, torch.Tensor]]] = {"d": [], "g": []}
        for _ in range(tc.d_steps):
            real, cond = self._batch()
            noise = self._noise(len(real))
            eps = torch.rand(len(real), 1, device=self.device, generator=self.rng)
            phases["d"].append({"real": real, "cond": cond, "noise": noise, "eps": eps})
        for _ in range(tc.g_steps):
            real, cond = self._batch()
            phases["g"].append({"real": real, "cond": cond, "noise": self._noise(len(real))})
        return phases

    def apply_iteration(self, phases: dict[str, list[dict[str, torch.Tensor]]]) -> dict[str, torch.Tensor]:
        """k discriminator steps, then l generator steps, on given inputs; returns the last diagnostics."""
        diagnostics: dict[str, Any] = {}
        for inputs in phases["d"]:
            with self._autocast():
                with torch.no_grad():
                    fake = self.generator(inputs["noise"], inputs["cond"]).float()
                loss_d, diag = self.objective.discriminator_loss(
                    self.critic_train, inputs["real"], fake, inputs["cond"], eps=inputs["eps"]
                )
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
            diagnostics.update(diag)
        self.critic.requires_grad_(False)  # the generator steps need no critic gradients
        for inputs in phases["g"]:
            with self._autocast():
                fake = self.generator_train(inputs["noise"], inputs["cond"])
                loss_g, diag = self.objective.generator_loss(self.critic, fake.float(), inputs["cond"], inputs["real"])
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
            self._update_ema()
            diagnostics.update(diag)
        self.critic.requires_grad_(True)
        self.step += 1
        return diagnostics

    def train_step(self) -> dict[str, torch.Tensor]:
        """One iteration: k discriminator steps, then l generator steps; returns the last diagnostics."""
        if self.buffer is not None:
            self.buffer.advance(self.step)
        return self.apply_iteration(self.draw_iteration())

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = self.config.training.ema_decay
        if decay == 0.0:
            self.generator_ema.load_state_dict(self.generator.state_dict())
            return
        # warm-up so early checkpoints are not dominated by the random initialisation
        decay = min(decay, (1.0 + self.step) / (10.0 + self.step))
        for ema_p, p in zip(self.generator_ema.parameters(), self.generator.parameters(), strict=True):
            ema_p.lerp_(p.detach(), 1.0 - decay)
        for ema_b, b in zip(self.generator_ema.buffers(), self.generator.buffers(), strict=True):
            ema_b.copy_(b)

    # ---------------------------------------------------------------- loop
    # ------------------------------------------------------------ monitors
    @torch.no_grad()
    def diversity(self, n_conditions: int = 4, n_samples: int = 64) -> float:
        """Spread of generated features over the noise at fixed conditions, relative to the data's.

        Mean over features of the standard deviation of G(z, c) over z, averaged over a few
        conditions c, divided by the mean per-feature standard deviation of the training data.
        A collapsed generator (same sample whatever the noise) gives ~0.
        """
        idx = torch.randint(len(self.conditions), (n_conditions,), device=self.device, generator=self.rng)
        cond = self.conditions[idx].repeat_interleave(n_samples, dim=0)
        was_training = self.generator.training
        self.generator.eval()
        with self._autocast():
            fake = self.generator(self._noise(len(cond)), cond).float()
        self.generator.train(was_training)
        spread = fake.view(n_conditions, n_samples, -1).std(dim=1).mean()
        return float(spread / self.feature_spread)

    def divergence(self, values: dict[str, float]) -> str | None:
        """A reason to stop or roll back, or None: NaN/inf, a runaway critic, mode collapse."""
        tc = self.config.training
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            return f"{', '.join(bad)} became NaN/inf"
        scale = max(abs(values.get("wasserstein", 0.0)), abs(values.get("d_loss", 0.0)))
        if scale > tc.critic_runaway:
            return f"the critic ran away (|loss| = {scale:.3g} > training.critic_runaway = {tc.critic_runaway:g})"
        if self.step >= tc.collapse_check_after and values.get("diversity", 1.0) < tc.collapse_ratio:
            return (
                f"mode collapse (generated diversity {values['diversity']:.3g} of the data's, "
                f"below training.collapse_ratio = {tc.collapse_ratio:g})"
            )
        return None

    def rollback(self, reason: str) -> Path:
        """Reload the newest usable checkpoint and lower both learning rates."""
        tc = self.config.training
        if self.rollbacks >= tc.max_rollbacks:
            raise TrainingError(
                f"training diverged at step {self.step}: {reason}; "
                f"gave up after {self.rollbacks} rollbacks (training.max_rollbacks)"
            )
        try:
            path, state = load_latest_valid(self.run_dir, map_location="cpu")
        except InputFileError:
            raise TrainingError(
                f"training diverged at step {self.step}: {reason}; no checkpoint to roll back to yet"
            ) from None
        self._load_state(state)
        self.rollbacks += 1
        self.lr_scale *= tc.rollback_lr_factor
        for optimizer, lr in ((self.opt_g, tc.lr_generator), (self.opt_d, tc.lr_discriminator)):
            for group in optimizer.param_groups:
                group["lr"] = lr * self.lr_scale
        log.warning(
            "divergence (%s): rolled back to %s with learning rates x%g", reason, path.name, tc.rollback_lr_factor
        )
        return path

    # ---------------------------------------------------------------- loop
    def fit(self) -> TrainResult:
        """Train until ``training.max_steps`` (or ``max_seconds``); SIGTERM/SIGINT checkpoint, then raise."""
        tc = self.config.training
        log_file = MetricsLog(self.run_dir / "metrics.jsonl" if self.dist.is_main else None)
        start_step, t0 = self.step, time.perf_counter()
        rate = Rate(tc.batch_size * (tc.d_steps + tc.g_steps), self.step)
        bar = _progress_bar(self) if self.progress else None
        self.generator.train()
        self.critic.train()
        with StopSignals() as stop, log_file:
            while self.step < tc.max_steps:
                diagnostics = self.train_step()
                # under torchrun, ranks agree on stopping at logging steps only: no per-step device sync
                agree = not self.dist.enabled or self.step % tc.log_every == 0 or self.step == tc.max_steps
                stop_signal = self._agreed_signal(stop) if agree else None
                out_of_time = agree and self.dist.any(
                    bool(tc.max_seconds) and time.perf_counter() - t0 >= tc.max_seconds, self.device
                )
                final = self.step == tc.max_steps or out_of_time or stop_signal is not None
                at_checkpoint = final or self.step % tc.checkpoint_every == 0
                at_eval = self.evaluates and (final or (bool(tc.eval_every) and self.step % tc.eval_every == 0))
                if at_checkpoint or at_eval or self.step % tc.log_every == 0:
                    values = {k: float(v) for k, v in diagnostics.items()}
                    values["diversity"] = self.diversity()
                    values = self.dist.mean(values, self.device)  # every rank takes the same decisions
                    reason = self.divergence(values)
                    if reason is not None:
                        self._handle_divergence(reason, log_file)
                        rate.restart(self.step)
                        if bar is not None:
                            bar.n = self.step
                        continue
                    for hook in self.hooks:
                        if at_eval or (at_checkpoint and hook.at_checkpoints):
                            values.update(hook.run(self.generator_ema, self.device, self.config.seed))
                    record = {
                        "step": self.step,
                        "time_s": round(time.perf_counter() - t0, 3),
                        f"{self.data.unit}_per_s": round(rate.per_second(self.step), 1),
                        **{k: round(v, 6) for k, v in values.items()},
                    }
                    log_file.write(record)
                    if bar is not None:
                        shown = ("d_loss", "g_loss", "wasserstein", "d_real", "d_fake", tc.select_by)
                        bar.set_postfix(
                            {k: f"{v:.3g}" for k, v in values.items() if k in shown}
                            | {f"{self.data.unit}/s": f"{record[f'{self.data.unit}_per_s']:.0f}"}
                        )
                if at_checkpoint:
                    path = self.save()
                    if at_eval:
                        self._keep_if_best(values.get(tc.select_by), path, log_file)
                if stop_signal:
                    if bar is not None:
                        bar.close()
                    raise TrainingInterrupted(
                        f"stopped by {stop_signal} at step {self.step}; checkpoint {path} "
                        f"written; continue with --resume {self.run_dir}"
                    )
                if bar is not None:
                    bar.update(1)
                if out_of_time:
                    log.info("training.max_seconds = %g s spent at step %d", tc.max_seconds, self.step)
                    break
        if bar is not None:
            bar.close()
        seconds = time.perf_counter() - t0
        checkpoint = self.run_dir / "checkpoints" / checkpoint_name(self.step)
        best = checkpoint.with_name(BEST_CHECKPOINT)
        result = TrainResult(
            self.run_dir,
            checkpoint,
            self.step,
            seconds,
            (self.step - start_step) * rate.per_iteration / max(seconds, 1e-9),
            self.data.unit,
            best if self.best is not None and best.is_file() else None,
            self.dist.is_main,
        )
        if self.dist.is_main:
            write_run_record(self.run_dir, self._run_record(result))
        return result

    def _run_record(self, result: TrainResult) -> dict[str, Any]:
        """What ``run.json`` says of the finished training (the domain adds the validation summary)."""
        return {
            "kind": self.data.kind,
            "name": self.config.name,
            "final_checkpoint": str(result.checkpoint),
            "best_checkpoint": None if result.best_checkpoint is None else str(result.best_checkpoint),
            "best": self.best,
            "steps": result.steps,
            "seconds": round(result.seconds, 3),
            f"{result.unit}_per_second": round(result.items_per_second, 1),
            "world_size": self.dist.world_size,
            "hepgan_version": __version__,
        }

    def _agreed_signal(self, stop: StopSignals) -> str | None:
        """The stop signal if any rank received one (all ranks then stop at the same step)."""
        if not self.dist.enabled:
            return stop.signal
        return "SIGTERM" if self.dist.any(stop.signal is not None, self.device) else None

    def _handle_divergence(self, reason: str, log_file: MetricsLog) -> None:
        """Stop with one error line, or roll back (``training.on_divergence``)."""
        tc = self.config.training
        if tc.on_divergence == "stop":
            raise TrainingError(
                f"training diverged at step {self.step}: {reason}; no checkpoint was written for "
                f"it (the last good one is kept; try --resume with lower learning rates)"
            )
        path = self.rollback(reason)
        log_file.write(
            {
                "step": self.step,
                "event": "rollback",
                "reason": reason,
                "checkpoint": path.name,
                "lr_factor": tc.rollback_lr_factor,
            }
        )

    def _keep_if_best(self, value: float | None, checkpoint: Path, log_file: MetricsLog) -> None:
        """Copy the checkpoint to ``checkpoints/best.pt`` when its selection metric is the lowest so far."""
        if value is None or not math.isfinite(value) or (self.best is not None and value >= self.best["value"]):
            return
        self.best = {"metric": self.config.training.select_by, "value": value, "step": self.step}
        if self.dist.is_main:
            best = checkpoint.with_name(BEST_CHECKPOINT)
            tmp = best.with_name(f".{best.name}.tmp-{os.getpid()}")
            try:
                shutil.copyfile(checkpoint, tmp)
                os.replace(tmp, best)
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                raise OutputError(f"{best}: cannot write the best checkpoint ({exc.strerror or exc})") from None
            log_file.write({"step": self.step, "event": "best", **self.best})


def _progress_bar(trainer: Trainer) -> Progress:
    """A bar on a terminal, a line every 10 % (or 30 s) in a log file."""
    tc = trainer.config.training
    return progress_bar(tc.max_steps, f"train {trainer.config.name}", "it", initial=trainer.step)


def train(
    config: RunConfig, data: TrainingData, resume_dir: str | Path | None = None, progress: bool = True
) -> TrainResult:
    """Train a model for ``config`` on ``data`` in a new run folder, or continue the run in ``resume_dir``.

    ``data`` comes from the config's domain (:func:`hepgan.domains.train` picks it). When
    resuming, pass the run's own configuration (:func:`run_config`), optionally with
    overrides such as a larger ``training.max_steps`` or lower learning rates.
    """
    dist = init_distributed(config.training.device)
    try:
        if resume_dir is not None:
            trainer = Trainer(config, Path(resume_dir), data, resume=True, progress=progress, dist=dist)
        else:
            reserved: Path | None = None
            created: list[Path] = []
            refusal: str | None = None
            if dist.is_main:
                try:
                    reserved, created = reserve_run_dir(config)
                except OutputError as exc:  # every rank stops with it, none waits for a folder
                    refusal = str(exc)
            run_dir, refusal = dist.broadcast_object((reserved, refusal))
            if refusal is not None:
                raise OutputError(refusal)
            try:
                trainer = Trainer(config, run_dir, data, resume=False, progress=progress, dist=dist)
            except BaseException:
                if dist.is_main:  # bad input (found while reading the data) leaves no run folder
                    release_run_dir(run_dir, created)
                raise
        result = trainer.fit()
    finally:
        dist.close()
    log.info(
        "trained %d steps in %.1f s (%.0f %s/s)", result.steps, result.seconds, result.items_per_second, result.unit
    )
    return result


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = [
    "BEST_CHECKPOINT",
    "HOLDOUT_FILE",
    "TrainResult",
    "Trainer",
    "count_parameters",
    "new_run_dir",
    "rank_seed",
    "run_config",
    "train",
]
