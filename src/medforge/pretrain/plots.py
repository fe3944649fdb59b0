"""The loss curve of a run, drawn from its logged history (metrics.jsonl)."""

from __future__ import annotations

from pathlib import Path


def plot_history(rows: list[dict], path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    evals = [(r["step"], r["eval_loss"]) for r in rows if "eval_loss" in r]
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train), label="training loss", color="#4878a8")
    if evals:
        ax.plot(*zip(*evals), "o-", label="held-out MLM loss", color="#c44e52")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    lr = [(r["step"], r["lr"]) for r in rows if "lr" in r]
    if lr:
        twin = ax.twinx()
        twin.plot(*zip(*lr), color="#999999", linewidth=0.8, label="learning rate")
        twin.set_ylabel("learning rate", color="#777777")
    ax.legend(loc="upper right")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
