"""Writes the embedded demo sample under src/medforge/assets/sample/ (run from the repository root).

Every sentence comes from the templates and word lists below, written for medforge; nothing is
copied from any corpus. The output is deterministic: rerunning gives identical files.

    python tools/make_sample.py
"""

from __future__ import annotations

import random
import re
from pathlib import Path

OUT = Path("src/medforge/assets/sample")

LEXICON = {
    "en": {
        "DISEASE": ["pneumonia", "type 2 diabetes", "heart failure", "asthma", "chronic kidney disease",
                    "hypertension", "atrial fibrillation", "sepsis", "migraine", "rheumatoid arthritis",
                    "deep vein thrombosis", "acute pancreatitis", "iron deficiency anaemia", "bronchiolitis",
                    "urinary tract infection", "hypothyroidism", "gout", "psoriasis", "epilepsy", "cellulitis"],
        "DRUG": ["amoxicillin", "metformin", "furosemide", "salbutamol", "insulin glargine", "ramipril",
                 "apixaban", "ceftriaxone", "sumatriptan", "methotrexate", "enoxaparin", "paracetamol",
                 "levothyroxine", "allopurinol", "prednisolone", "omeprazole", "atorvastatin", "ibuprofen",
                 "levetiracetam", "flucloxacillin"],
        "ANATOMY": ["left lung", "right knee", "abdomen", "chest", "lower back", "kidneys", "liver", "heart",
                    "left ankle", "skin of the forearm", "thyroid gland", "right shoulder", "bladder", "colon",
                    "cervical spine", "left hip", "lymph nodes", "pancreas", "retina", "calf"],
    },
    "fr": {
        "DISEASE": ["pneumopathie", "diabète de type 2", "insuffisance cardiaque", "asthme",
                    "insuffisance rénale chronique", "hypertension artérielle", "fibrillation auriculaire",
                    "sepsis", "migraine", "polyarthrite rhumatoïde", "thrombose veineuse profonde",
                    "pancréatite aiguë", "anémie ferriprive", "bronchiolite", "infection urinaire",
                    "hypothyroïdie", "goutte", "psoriasis", "épilepsie", "érysipèle"],
        "DRUG": ["amoxicilline", "metformine", "furosémide", "salbutamol", "insuline glargine", "ramipril",
                 "apixaban", "ceftriaxone", "sumatriptan", "méthotrexate", "énoxaparine", "paracétamol",
                 "lévothyroxine", "allopurinol", "prednisolone", "oméprazole", "atorvastatine", "ibuprofène",
                 "lévétiracétam", "cloxacilline"],
        "ANATOMY": ["poumon gauche", "genou droit", "abdomen", "thorax", "région lombaire", "reins", "foie",
                    "cœur", "cheville gauche", "avant-bras", "glande thyroïde", "épaule droite", "vessie",
                    "côlon", "rachis cervical", "hanche gauche", "ganglions", "pancréas", "rétine", "mollet"],
    },
}

# {DISEASE}, {DRUG}, {ANATOMY} are entity slots; {AGE}, {DAYS}, {DOSE} are plain fillers.
TEMPLATES = {
    "en": [
        "The patient was admitted for {DISEASE} and treated with {DRUG}.",
        "A {AGE}-year-old man presented with pain in the {ANATOMY}.",
        "Imaging of the {ANATOMY} showed no sign of {DISEASE}.",
        "{DRUG} {DOSE} mg was started on day {DAYS}.",
        "She has a history of {DISEASE} controlled with {DRUG}.",
        "Examination of the {ANATOMY} was unremarkable.",
        "The diagnosis of {DISEASE} was confirmed after {DAYS} days.",
        "{DRUG} was stopped because of swelling of the {ANATOMY}.",
        "Known {DISEASE} ; current treatment : {DRUG} {DOSE} mg twice daily.",
        "The {ANATOMY} was tender on palpation, suggesting {DISEASE}.",
        "A {AGE}-year-old woman with {DISEASE} was referred to the clinic.",
        "Symptoms improved within {DAYS} days of {DRUG}.",
        "There was mild oedema of the {ANATOMY} without {DISEASE}.",
        "The team switched from {DRUG} to {DRUG} after {DAYS} days.",
        "Follow-up is planned in {DAYS} weeks.",
        "The patient reported fatigue and poor appetite.",
        "Blood tests were within normal limits.",
        "He was discharged home in good general condition.",
    ],
    "fr": [
        "Le patient a été hospitalisé pour une {DISEASE} et traité par {DRUG}.",
        "Un homme de {AGE} ans consulte pour une douleur du {ANATOMY}.",
        "L' imagerie du {ANATOMY} ne montre pas de signe de {DISEASE}.",
        "Le {DRUG} {DOSE} mg a été débuté au jour {DAYS}.",
        "Elle a des antécédents de {DISEASE} traitée par {DRUG}.",
        "L' examen du {ANATOMY} est sans particularité.",
        "Le diagnostic de {DISEASE} a été confirmé après {DAYS} jours.",
        "Le {DRUG} a été arrêté devant un œdème du {ANATOMY}.",
        "{DISEASE} connue ; traitement actuel : {DRUG} {DOSE} mg deux fois par jour.",
        "La palpation du {ANATOMY} est douloureuse, évoquant une {DISEASE}.",
        "Une femme de {AGE} ans atteinte de {DISEASE} est adressée en consultation.",
        "Les symptômes se sont améliorés en {DAYS} jours sous {DRUG}.",
        "On note un discret œdème du {ANATOMY} sans {DISEASE}.",
        "L' équipe a remplacé le {DRUG} par {DRUG} après {DAYS} jours.",
        "Un contrôle est prévu dans {DAYS} semaines.",
        "La patiente rapporte une asthénie et une perte d' appétit.",
        "Le bilan biologique est normal.",
        "Il est rentré à domicile en bon état général.",
    ],
}

_SLOT = re.compile(r"\{(\w+)\}")


def fill(template: str, lang: str, rng: random.Random) -> list[tuple[str, str]]:
    """Return (token, IOB2 tag) pairs for one sentence built from a template."""
    pairs: list[tuple[str, str]] = []
    for piece in _SLOT.split(template):
        if piece in LEXICON[lang]:
            words = rng.choice(LEXICON[lang][piece]).split()
            pairs += [(w, ("B-" if i == 0 else "I-") + piece) for i, w in enumerate(words)]
        elif piece in ("AGE", "DAYS", "DOSE"):
            value = {"AGE": rng.randint(18, 95), "DAYS": rng.randint(2, 21), "DOSE": rng.choice([5, 10, 20, 40, 500])}
            pairs.append((str(value[piece]), "O"))
        else:
            pairs += [(w, "O") for w in re.findall(r"[\w'-]+|[^\w\s]", piece)]
    return pairs


def detokenize(pairs: list[tuple[str, str]]) -> str:
    text = " ".join(t for t, _ in pairs)
    text = re.sub(r" ([.,])", r"\1", text).replace("' ", "'")
    return text[:1].upper() + text[1:]


def write_conll(path: Path, sentences: list[list[tuple[str, str]]]) -> None:
    path.write_text("\n\n".join("\n".join(f"{t}\t{g}" for t, g in s) for s in sentences) + "\n", encoding="utf-8")


def main() -> None:
    rng = random.Random(20261122)
    (OUT / "corpus").mkdir(parents=True, exist_ok=True)
    (OUT / "ner").mkdir(parents=True, exist_ok=True)
    for lang in ("en", "fr"):
        docs = []
        for _ in range(300):
            sentences = [detokenize(fill(rng.choice(TEMPLATES[lang]), lang, rng)) for _ in range(rng.randint(3, 6))]
            docs.append(" ".join(sentences))
        (OUT / "corpus" / f"{lang}.txt").write_text("\n".join(docs) + "\n", encoding="utf-8")
    ner = [fill(rng.choice(TEMPLATES[lang]), lang, rng) for lang in ("en", "fr") for _ in range(200)]
    rng.shuffle(ner)
    write_conll(OUT / "ner" / "train.conll", ner[:260])
    write_conll(OUT / "ner" / "dev.conll", ner[260:330])
    write_conll(OUT / "ner" / "test.conll", ner[330:])


if __name__ == "__main__":
    main()
