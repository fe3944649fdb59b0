from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from medforge.config import opt
from medforge.errors import ConfigError


@dataclass
class ModelConfig:
    family: Literal["roberta", "camembert", "bert"] = opt("roberta", "Architecture family of a new encoder.")
    preset: Literal["tiny", "mini", "small", "base", "large"] = opt(
        "tiny", "Size preset: tiny (2x64), mini (4x256), small (4x512), base (12x768), large (24x1024).")
    dropout: float = opt(0.1, "Hidden and attention dropout of a new model or a distilled student (init_from "
                              "keeps the model's own).")
    attention: Literal["sdpa", "flash_attention_2", "eager"] = opt(
        "sdpa", "Attention kernel: PyTorch's scaled_dot_product_attention (fused on a GPU), FlashAttention-2 "
                "(needs the flash-attn package and a GPU), or the eager reference.")
    init_from: str | None = opt(None, "Continual pre-training: start from this model folder or hub id (family "
                                      "and preset are then ignored). Set 'pretrain.tokenizer' to its tokenizer.")


@dataclass
class DistillConfig:
    teacher: str | None = opt(None, "Distil this masked LM (folder or hub id) into the model being trained; its "
                                    "tokenizer must be the run's (set 'tokenizer.base' to the teacher).")
    student_layers: int = opt(0, "Student depth; its layers are copies of the teacher's along layer_map. "
                                 "0: half the teacher's.")
    student_preset: str = opt("", "Instead: a new student of this size preset (tiny ... large) and the "
                                  "teacher's family.")
    layer_map: list[int] = opt([], "Teacher layer (0-based) each student layer starts from and is aligned with; "
                                   "empty: every k-th, ending with the last (12 -> 6: 1, 3, ..., 11).")
    temperature: float = opt(2.0, "Softens both distributions in the KL term (scaled by T squared).")
    kl_weight: float = opt(1.0, "Weight of the KL divergence to the teacher's distribution.")
    mlm_weight: float = opt(1.0, "Weight of the MLM loss on the true tokens.")
    align: Literal["none", "cosine", "mse"] = opt("none", "Hidden-state alignment through the layer map "
                                                           "(bio-lm's distill-align): 1 - cosine or MSE.")
    align_weight: float = opt(1.0, "Weight of the alignment loss.")


@dataclass
class PretrainConfig:
    tokenizer: str | None = opt(None, "Tokenizer folder or hub id. Default: the tokenizer stage's output.")
    model: ModelConfig = opt(ModelConfig(), "The encoder: a new one from a family and preset, or init_from.")
    distill: DistillConfig = opt(DistillConfig(), "Knowledge distillation from a teacher (off unless 'teacher' is "
                                                  "set); 'model' is then ignored.")
    sparse_head: bool = opt(True, "Compute the MLM head only at masked positions (same loss, ~85% fewer head "
                                  "FLOPs at 15% masking); the saved model is a standard *ForMaskedLM.")
    seq_len: int = opt(128, "Tokens per packed sequence, special tokens included.")
    short_seq_len: int = opt(0, "Short-then-long schedule (BERT's): the first short_fraction of the steps use "
                                "sequences of this length, the rest seq_len. 0: seq_len throughout.")
    short_fraction: float = opt(0.9, "Share of the steps at short_seq_len.")
    packing: Literal["pack", "document", "sentence", "line"] = opt(
        "pack", "pack: fill sequences across documents (least padding); document: never mix documents; "
                "sentence: whole sentences (RoBERTa's FULL-SENTENCES); line: one line per sequence. None drops "
                "a token; the padding fraction is recorded.")
    batch_size: int = opt(16, "Sequences per device per step.")
    pack_workers: int = opt(1, "Processes that tokenize the corpus for packing, one corpus shard file each (a "
                               "corpus of one shard uses one); the packed sequences are the same whatever the "
                               "number. The fast tokenizer already batches over threads: on 2 cores 2 processes "
                               "gained little (bench/prepare_scale.py).")
    pack_ray: str = opt("", "Address of a running Ray cluster ('auto', 'HEAD:6379'): tokenize for packing with one "
                            "task per corpus shard file on its nodes (the 'ray' extra); the same sequences.")
    data_workers: int = opt(-1, "DataLoader worker processes that build (and mask) batches ahead of the training "
                                "loop, per training process; -1: a quarter of the cores, at most 8 (none on 2). "
                                "The batches are the same whatever the number.")
    grad_accum: int = opt(1, "Gradient accumulation steps; global batch = batch_size x grad_accum x processes.")
    global_batch: int = opt(0, "Sequences per optimizer step over all processes; when set, grad_accum is computed "
                               "from it and the number of processes (it must divide evenly). 0: use grad_accum.")
    max_steps: int = opt(300, "Optimizer steps to train for.")
    max_tokens: int = opt(0, "Train on this many tokens instead: max_steps becomes tokens / (global batch x "
                             "seq_len), rounded up. 0: use max_steps.")
    precision: Literal["fp32", "bf16", "fp16"] = opt(
        "fp32", "Mixed precision: bf16 on recent GPUs (and CPUs with bf16 support), fp16 on older GPUs only.")
    compile: bool = opt(False, "torch.compile the encoder (in place: checkpoints keep standard keys); the first "
                               "steps pay the compilation, later ones run faster on a GPU.")
    gradient_checkpointing: bool = opt(False, "Recompute activations in the backward pass: less memory, ~30% "
                                              "more compute; for long sequences or large models.")
    head_warmup_steps: int = opt(0, "Continual pre-training from a checkpoint without an MLM head (a bare "
                                    "encoder): train only the new head for this many first steps, the encoder and "
                                    "the embeddings frozen, so that the random head does not push noise into them.")
    learning_rate: float = opt(5e-4, "Peak learning rate, reached after warmup.")
    warmup_steps: int = opt(30, "Linear warmup steps, then linear decay to 0 at max_steps.")
    weight_decay: float = opt(0.01, "AdamW weight decay (not applied to biases and LayerNorm).")
    adam_betas: list[float] = opt([0.9, 0.98], "AdamW betas; 0.98 is RoBERTa's choice for stability.")
    adam_eps: float = opt(1e-6, "AdamW epsilon.")
    max_grad_norm: float = opt(1.0, "Gradient clipping norm; 0 disables clipping.")
    mlm_probability: float = opt(0.15, "Share of tokens selected for prediction, re-drawn every time a "
                                       "sequence is seen (dynamic masking).")
    whole_word_mask: bool = opt(False, "Select whole words (all their subwords together) instead of single "
                                        "tokens; works for ##, Ġ, ▁ and MeCab-segmented text (CamemBERT-bio).")
    mask_replace_prob: float = opt(0.8, "Of the selected tokens, share replaced by the mask token.")
    random_replace_prob: float = opt(0.1, "Of the selected tokens, share replaced by a random token "
                                          "(the rest stay unchanged).")
    eval_every: int = opt(100, "Steps between held-out MLM loss evaluations (and at the end).")
    save_every: int = opt(100, "Steps between checkpoints (and at the end).")
    keep_last: int = opt(2, "Checkpoints to keep; older ones are deleted.")
    resume: bool = opt(True, "Rerunning an interrupted stage with the same config continues from its latest "
                             "checkpoint (model, optimizer, scheduler, RNG, data position) instead of restarting.")
    max_minutes: float = opt(0.0, "Wall-clock budget: checkpoint and stop cleanly (exit status 3) before it runs "
                                  "out, e.g. under a scheduler's time limit; rerun to resume. 0 means none.")
    log_every: int = opt(10, "Steps between training-loss log lines.")
    tensorboard: bool = opt(False, "Also write the metrics as TensorBoard event files in pretrain/tensorboard/ "
                                   "(the 'tb' extra).")
    carbon_country: str = opt("", "ISO 3166 alpha-3 code of the country the training runs in (FRA, USA, JPN...): "
                                  "CodeCarbon then estimates energy and CO2 offline into the stage's meta.json. "
                                  "Empty: not tracked.")
    peak_tflops: float = opt(0.0, "The device's peak TFLOP/s for MFU; 0: known GPUs in bf16/fp16 are looked up, "
                                  "otherwise MFU is not reported (achieved TFLOP/s always is).")

    # how to run, not what to compute: changing these does not make the stage's output stale
    operational = ("resume", "max_minutes", "carbon_country", "tensorboard", "data_workers", "pack_workers", "pack_ray")

    def validate(self, source: str) -> None:
        if self.pack_workers < 1:
            raise ConfigError(f"{source}: 'pretrain.pack_workers' must be at least 1, got {self.pack_workers}")
        if self.data_workers < -1:
            raise ConfigError(f"{source}: 'pretrain.data_workers' must be -1 (automatic) or more, got "
                              f"{self.data_workers}")
        if self.head_warmup_steps < 0:
            raise ConfigError(f"{source}: 'pretrain.head_warmup_steps' must be 0 or more, got {self.head_warmup_steps}")
        for key in ("seq_len", "batch_size", "grad_accum", "max_steps", "eval_every", "save_every",
                    "keep_last", "log_every"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{source}: 'pretrain.{key}' must be at least 1, got {getattr(self, key)}")
        if self.seq_len < 8:
            raise ConfigError(f"{source}: 'pretrain.seq_len' must be at least 8, got {self.seq_len}")
        if self.short_seq_len and not 8 <= self.short_seq_len < self.seq_len:
            raise ConfigError(f"{source}: 'pretrain.short_seq_len' must be between 8 and seq_len ({self.seq_len}), "
                              f"got {self.short_seq_len}")
        if self.short_seq_len and self.max_tokens:
            raise ConfigError(f"{source}: 'pretrain.max_tokens' counts steps at one length; with short_seq_len "
                              "set max_steps instead")
        if not 0.0 < self.short_fraction < 1.0:
            raise ConfigError(f"{source}: 'pretrain.short_fraction' must be in (0, 1), got {self.short_fraction}")
        if self.global_batch < 0 or self.max_tokens < 0:
            raise ConfigError(f"{source}: 'pretrain.global_batch' and 'pretrain.max_tokens' must be >= 0")
        if not 0.0 < self.mlm_probability < 1.0:
            raise ConfigError(f"{source}: 'pretrain.mlm_probability' must be in (0, 1), got {self.mlm_probability}")
        if self.mask_replace_prob + self.random_replace_prob > 1.0 or min(
                self.mask_replace_prob, self.random_replace_prob) < 0:
            raise ConfigError(f"{source}: 'pretrain.mask_replace_prob' + 'pretrain.random_replace_prob' must be "
                              "non-negative and sum to at most 1")
        if not 0.0 <= self.model.dropout < 1.0:
            raise ConfigError(f"{source}: 'pretrain.model.dropout' must be in [0, 1), got {self.model.dropout}")
        d = self.distill
        if d.teacher and (d.temperature <= 0 or min(d.kl_weight, d.mlm_weight, d.align_weight) < 0):
            raise ConfigError(f"{source}: 'pretrain.distill.temperature' must be > 0 and the weights >= 0")
        if d.teacher and d.student_preset and d.layer_map:
            raise ConfigError(f"{source}: 'pretrain.distill.layer_map' initialises a student taken from the teacher; "
                              "a student_preset is new: set one of them")
        if len(self.adam_betas) != 2:
            raise ConfigError(f"{source}: 'pretrain.adam_betas' must have two values, got {self.adam_betas}")

    def input_paths(self) -> list[str]:
        return [p for p in (self.tokenizer, self.model.init_from, self.distill.teacher) if p]
