"""The curves of a run, drawn from its logged history (metrics.jsonl): loss, held-out perplexity,
learning rate and throughput, one panel each."""

from __future__ import annotations

from pathlib import Path

FILENAME = "training_curves.png"


def _series(rows: list[dict], key: str) -> list[tuple[int, float]]:
    return [(r["step"], r[key]) for r in rows if r.get(key) is not None]


def plot_history(rows: list[dict], path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5), sharex=True)
    panels = (
        (axes[0, 0], "loss", [("loss", "training loss", "-", "#4878a8"),
                              ("eval_loss", "held-out MLM loss", "o-", "#c44e52")]),
        (axes[0, 1], "held-out perplexity", [("eval_perplexity", "held-out perplexity", "o-", "#c44e52")]),
        (axes[1, 0], "learning rate", [("lr", "learning rate", "-", "#777777")]),
        (axes[1, 1], "real tokens/s", [("tokens_per_s", "tokens/s (all processes)", "-", "#55a868")]),
    )
    for ax, ylabel, lines in panels:
        drawn = False
        for key, label, style, color in lines:
            points = _series(rows, key)
            if points:
                ax.plot(*zip(*points), style, label=label, color=color, markersize=3)
                drawn = True
        if not drawn:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes, color="#999999")
        if ylabel == "held-out perplexity" and drawn:
            ax.set_yscale("log")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper right")
    for ax in axes[1]:
        ax.set_xlabel("step")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
