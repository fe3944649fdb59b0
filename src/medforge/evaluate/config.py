from __future__ import annotations

from dataclasses import dataclass

from medforge.config import opt
from medforge.errors import ConfigError
from medforge.tasks.spec import TaskSpec


@dataclass
class EvaluateConfig:
    model: str | None = opt(None, "Model folder or hub id to fine-tune. Default: the pretrain stage's model.")
    task: TaskSpec = opt(TaskSpec(), "The task, written inline (used when 'tasks' is empty).")
    tasks: list[str] = opt([], "Built-in task names (medforge tasks ls) or task YAML files; when set, they "
                               "replace 'task'.")
    data_root: str = opt("", "Folder the built-in tasks read their files from (default: $MEDFORGE_DATA_ROOT, "
                             "else ../shared/data).")
    seeds: int = opt(5, "Fine-tuning runs per task, with seeds seed, seed+1, ...; reported as mean ± std.")
    epochs: int = opt(4, "Fine-tuning epochs; the best on validation F1 is kept.")
    max_steps: int = opt(0, "Optimizer steps in all, if set (the last epoch is cut short); 0: whole epochs.")
    batch_size: int = opt(16, "Sentences (windows) per step; batches group windows of similar length.")
    learning_rate: float = opt(1e-4, "Peak learning rate.")
    warmup_ratio: float = opt(0.1, "Share of steps with linear warmup, then linear decay.")
    weight_decay: float = opt(0.01, "AdamW weight decay.")
    label_all_subwords: bool = opt(False, "NER: train on every subword of a word (B- continuing as I-), not only "
                                          "the first; predictions still come from the first subword.")
    learning_rates: list[float] = opt([], "A learning-rate grid: each rate fine-tuned once with the first seed and "
                                          "scored on validation; the seeds then run at the best (empty: no grid).")
    suite: str = opt("", "A benchmark suite (built-in name, medforge suites ls, or a suite YAML file): its tasks "
                         "and its protocol (seeds, epochs, learning rates, batch size) replace 'tasks', 'task' and "
                         "those settings; the suite score goes into results.json and the model card.")
    search_trials: int = opt(0, "Optuna trials on validation before the seeds (0: no search); the seeds then "
                                "run at the best trial's learning rate, warmup, batch size and epochs.")
    resume: bool = opt(True, "Keep the finished runs (task x seed) of an interrupted attempt with the same "
                             "config, and run only the missing ones.")

    operational = ("resume",)  # not part of the stage's identity

    def validate(self, source: str) -> None:
        if self.max_steps < 0:
            raise ConfigError(f"{source}: 'evaluate.max_steps' must be 0 or more, got {self.max_steps}")
        if self.search_trials < 0:
            raise ConfigError(f"{source}: 'evaluate.search_trials' must be 0 or more, got {self.search_trials}")
        for key in ("seeds", "epochs", "batch_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{source}: 'evaluate.{key}' must be at least 1, got {getattr(self, key)}")
        if any(rate <= 0 for rate in self.learning_rates) or (self.learning_rates and self.search_trials):
            raise ConfigError(f"{source}: 'evaluate.learning_rates' must be positive, and a grid and a search "
                              "('search_trials') exclude each other")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"{source}: 'evaluate.warmup_ratio' must be in [0, 1), got {self.warmup_ratio}")

    def task_specs(self) -> list[TaskSpec]:
        from medforge.tasks.spec import load_task

        if self.suite:
            from medforge.evaluate.suite import load_suite, task_specs

            return task_specs(load_suite(self.suite), self.data_root or None)
        return [load_task(t, self.data_root or None) for t in self.tasks] if self.tasks else [self.task]

    def input_paths(self) -> list[str]:
        files = [p for spec in self.task_specs() for p in spec.input_paths()]
        return files + ([self.model] if self.model else [])
