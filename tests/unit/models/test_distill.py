from __future__ import annotations

import math

import pytest
import torch

from medforge.models.distill import DistillMLM, default_layer_map, student_from_teacher
from medforge.models.presets import build_mlm


@pytest.fixture
def teacher(tiny_tokenizer):
    torch.manual_seed(0)
    model = build_mlm("roberta", "mini", tiny_tokenizer, 32)  # 4 layers
    return model.eval()


def batch(tokenizer, seed=0):
    g = torch.Generator().manual_seed(seed)
    enc = tokenizer(["The patient was admitted with fever and cough.", "Aspirin daily."], return_tensors="pt",
                    padding=True)
    labels = torch.full_like(enc["input_ids"], -100)
    picks = (torch.rand(enc["input_ids"].shape, generator=g) < 0.3) & enc["attention_mask"].bool()
    picks[:, 1] = True
    labels[picks] = enc["input_ids"][picks]
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels}


def test_default_layer_map_takes_every_kth_layer_ending_with_the_last():
    assert default_layer_map(12, 6) == [1, 3, 5, 7, 9, 11]
    assert default_layer_map(24, 12)[-1] == 23 and default_layer_map(4, 1) == [3]


def test_student_holds_copies_of_the_mapped_teacher_layers(teacher):
    student = student_from_teacher(teacher, [1, 3])
    assert student.config.num_hidden_layers == 2 and teacher.config.num_hidden_layers == 4
    for i, j in enumerate([1, 3]):
        ours, theirs = student.roberta.encoder.layer[i].state_dict(), teacher.roberta.encoder.layer[j].state_dict()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    embeddings = student.roberta.embeddings.word_embeddings.weight
    assert torch.equal(embeddings, teacher.roberta.embeddings.word_embeddings.weight)


def test_kl_is_against_the_teachers_temperature_scaled_distribution(teacher):
    objective = DistillMLM(student_from_teacher(teacher, [3]), teacher, temperature=3.0)
    s = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 2.0]])
    t = torch.tensor([[2.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    expected = 0.0
    for row_s, row_t in zip(s.tolist(), t.tolist()):
        zs = sum(math.exp(x / 3) for x in row_s)
        zt = sum(math.exp(x / 3) for x in row_t)
        p = [math.exp(x / 3) / zt for x in row_t]
        q = [math.exp(x / 3) / zs for x in row_s]
        expected += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    assert float(objective.kl(s, t)) == pytest.approx(expected * 9, rel=1e-5)


def test_a_student_equal_to_its_teacher_has_no_kl_or_alignment_loss(teacher, tiny_tokenizer):
    objective = DistillMLM(student_from_teacher(teacher, [0, 1, 2, 3]), teacher, align="cosine").train()
    objective.model.eval()  # the student's dropout off (the objective stays in training mode), as the teacher's
    objective(**batch(tiny_tokenizer))
    assert objective.last["kl"] == pytest.approx(0, abs=1e-5) and objective.last["align"] == pytest.approx(0, abs=1e-5)


@pytest.mark.parametrize("kind", ["cosine", "mse"])
def test_alignment_compares_the_mapped_layers(teacher, tiny_tokenizer, kind):
    objective = DistillMLM(student_from_teacher(teacher, [1, 3]), teacher, align=kind)
    objective.model.eval()
    b = batch(tiny_tokenizer)
    with torch.no_grad():
        s = objective.model.roberta(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                                    output_hidden_states=True).hidden_states
        t = teacher.roberta(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                            output_hidden_states=True).hidden_states
        real = b["attention_mask"].bool()
        pairs = [(0, 0), (1, 2), (2, 4)]  # embeddings, student layer 0 <-> teacher layer 1, 1 <-> 3
        if kind == "cosine":
            per = [(1 - torch.cosine_similarity(s[i][real], t[j][real], dim=-1)).mean() for i, j in pairs]
        else:
            per = [torch.nn.functional.mse_loss(s[i][real], t[j][real]) for i, j in pairs]
        assert float(objective.alignment(s, t, b["attention_mask"])) == pytest.approx(float(sum(per) / 3), rel=1e-5)
        assert float(per[0]) == pytest.approx(0, abs=1e-6) and float(per[1]) > 0  # embeddings are copies


def test_the_students_loss_falls_and_evaluation_is_plain_mlm(teacher, tiny_tokenizer):
    torch.manual_seed(1)
    objective = DistillMLM(student_from_teacher(teacher, [3]), teacher, align="mse")
    optimizer = torch.optim.AdamW(objective.model.parameters(), lr=3e-3)
    b = batch(tiny_tokenizer)
    losses = []
    for _ in range(25):
        total, count = objective(**b)
        (total / count).backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(total.detach() / count))
    assert losses[-1] < 0.5 * losses[0]
    assert all(not p.requires_grad for p in objective.teacher.parameters())
    objective.eval()
    mlm, count = objective(**b)
    assert float(mlm.detach() / count) == pytest.approx(objective.last["mlm"], rel=0.5)  # same scale: the MLM term only
