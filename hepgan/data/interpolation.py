"""Interpolation shared by the shower and event preprocessing."""

from __future__ import annotations

import torch


def interp_linear(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation like ``numpy.interp`` (constant beyond the ends)."""
    if len(xp) == 1:
        return fp.expand_as(x).clone()
    x_clamped = torch.clamp(x, xp[0], xp[-1])
    idx = torch.clamp(torch.searchsorted(xp, x_clamped, right=True) - 1, 0, len(xp) - 2)
    x0, x1 = xp[idx], xp[idx + 1]
    w = (x_clamped - x0) / (x1 - x0)
    return fp[idx] * (1 - w) + fp[idx + 1] * w
