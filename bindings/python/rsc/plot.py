"""Certified accuracy against radius, one line per model, as in Cohen et al.'s figures.
Needs matplotlib (extra `plot`)."""
from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np

from .model import Certificate, certified_accuracy


def certified_accuracy_plot(results: Mapping[str, tuple[Sequence[Certificate], Sequence[int]]],
                            path: str | os.PathLike, max_radius: float | None = None,
                            title: str = "Certified accuracy",
                            styles: Mapping[str, dict] | None = None) -> None:
    """Writes a PNG: for each name -> (certificates, labels), the fraction of inputs certified
    correct at radius r, as a step curve over r; `styles` (name -> plot keywords: color, ls, lw,
    ...) where given. More than four curves put the legend beside the axes."""
    if not results:
        raise ValueError("results is empty")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = max_radius if max_radius is not None else max(
        max((c.radius for c in certs), default=0.0) for certs, _ in results.values()) * 1.05 or 1.0
    radii = np.linspace(0.0, top, 400)
    beside = len(results) > 4
    fig, ax = plt.subplots(figsize=(6.5 if beside else 5.5, 4.2 if beside else 3.8), dpi=120)
    for name, (certs, labels) in results.items():
        ax.plot(radii, certified_accuracy(list(certs), labels, radii), label=name,
                **(styles or {}).get(name, {}))
    ax.set_xlabel("L2 radius")
    ax.set_ylabel("certified accuracy")
    ax.set_ylim(0, 1)
    ax.set_xlim(0, top)
    ax.grid(alpha=0.3)
    if beside:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7, frameon=False)
    else:
        ax.legend()
    ax.set_title(title, fontsize=10)
    if not beside:  # (tight_layout would shrink the axes to make room for a legend beside them)
        fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")  # the legend beside the axes included
    plt.close(fig)
