"""Precision and recall of the personal-data patterns on planted items, with decoys beside them."""

from __future__ import annotations

import random

from medforge.corpus import pii


def nir(body: str, valid: bool = True) -> str:
    key = 97 - int(body.replace("2A", "19").replace("2B", "18")) % 97
    key = key if valid else (key % 96) + 1
    return f"{body[0]} {body[1:3]} {body[3:5]} {body[5:7]} {body[7:10]} {body[10:13]} {key:02d}"


def iban(country: str, bban: str, valid: bool = True) -> str:
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(digits) % 97 if valid else (98 - int(digits) % 97) % 97 + 1
    raw = f"{country}{check:02d}{bban}"
    return " ".join(raw[i:i + 4] for i in range(0, len(raw), 4))


PLANTED = [  # (type, value, sentence with {} where the value goes)
    ("EMAIL", "jeanne.martin@chu-lyon.fr", "Contact : {}."),
    ("EMAIL", "a.b-c@example.co.uk", "Write to {} for results."),
    ("PHONE", "06 12 34 56 78", "Joignable au {} le soir."),
    ("PHONE", "01.45.67.89.10", "Secrétariat : {}."),
    ("PHONE", "+33 6 12 34 56 78", "Portable {}."),
    ("PHONE", "+44 20 7946 0958", "Call {} in London."),
    ("NIR", nir("1850578006084"), "NIR {} au dossier."),
    ("NIR", nir("2920175123456"), "Numéro de sécurité sociale : {}."),
    ("NIR", nir("169052A012345"), "Né en Corse, NIR {}."),
    ("IBAN", iban("FR", "30006000011234567890189"), "Virement sur {}."),
    ("IBAN", iban("DE", "370400440532013000"), "IBAN {}."),
    ("BIRTH_DATE", "12/03/1950", "Patiente née le {}, hospitalisée."),
    ("BIRTH_DATE", "4 juillet 1962", "Date de naissance : {}."),
    ("BIRTH_DATE", "03/07/1988", "DOB: {}."),
    ("ADDRESS", "12 rue de la Paix, 75002 Paris", "Domicile : {}."),
    ("ADDRESS", "221 Baker Street", "Lives at {}."),
    ("PERSON", "Martin Dupont", "Adressé par le Dr {}."),
    ("PERSON", "Durand", "Vue par Mme {} ce jour."),
    ("PERSON", "Smith", "Seen by Mrs. {} today."),
]
DECOYS = [  # text that looks close but holds no personal data
    "NIR " + nir("1850578006084", valid=False) + " (clé fausse).",
    "IBAN " + iban("FR", "30006000011234567890189", valid=False) + " invalide.",
    "M. tuberculosis était présent, 2 x 500 mg par jour pendant 12 semaines.",
    "En 1998, 1 234 patients ont été inclus ; p = 0,05 ; IC 95 % 1,2-3,4.",
    "La dose est de 100 mg/j, puis 200 mg le 12/03/2021 lors du contrôle.",
    "The route of administration was oral; the place of care was the ward.",
    "Phase 3 trial NCT01234567 enrolled 4 512 participants in 2019.",
]


def test_planted_items_are_found_with_their_type_and_decoys_are_not():
    rng = random.Random(0)
    found_right, expected, false_positives = 0, 0, 0
    for kind, value, template in PLANTED:
        text = rng.choice(DECOYS) + " " + template.format(value) + " " + rng.choice(DECOYS)
        items = pii.find(text)
        expected += 1
        found_right += any(i.type == kind and i.text == value for i in items)
        false_positives += sum(1 for i in items if i.text != value)
    for decoy in DECOYS:
        false_positives += len(pii.find(decoy))
    recall = found_right / expected
    precision = found_right / (found_right + false_positives)
    assert recall == 1.0 and precision == 1.0, (recall, precision)


def test_nir_and_iban_keys_are_checked():
    assert pii.nir_key_ok(nir("1850578006084").replace(" ", ""))
    assert not pii.nir_key_ok(nir("1850578006084", valid=False).replace(" ", ""))
    assert pii.nir_key_ok(nir("169052A012345").replace(" ", ""))  # Corsica: 2A read as 19
    assert pii.iban_ok("GB82 WEST 1234 5698 7654 32")  # the ISO 13616 example
    assert not pii.iban_ok("GB82 WEST 1234 5698 7654 33")


def test_redaction_keeps_context_words_and_masked_examples_hide_the_value():
    text = "Patiente née le 12/03/1950, suivie par le Dr Martin Dupont (jeanne@chu.fr)."
    items = pii.find(text)
    assert pii.redact(text, items) == "Patiente née le <BIRTH_DATE>, suivie par le Dr <PERSON> (<EMAIL>)."
    examples = pii.masked(text, items)
    assert len(examples) == 3 and all("Dupont" not in e and "1950" not in e and "jeanne" not in e for e in examples)
    assert examples[-1].endswith("suivie par le Dr <PERSON> (<EMAIL>).…")


def test_number_trigger_finds_what_backslash_d_finds_in_every_script():
    """The trigger spells ``\\d`` as a class of the basic plane's decimal digits when a text has no character past
    U+FFFF, and keeps ``\\d`` otherwise: the same numbers either way, digits of other scripts and planes included."""
    import re

    reference = re.compile(r"\d(?:[ .-]?[\dAB]){8,}")
    digits = [chr(c) for c in range(0x20000) if chr(c).isdecimal()]
    basic = [d for d in digits if ord(d) < 0x10000]
    assert len(basic) < len(digits)
    rnd = random.Random(3)
    others = list(" .-ABx²½Ⅻ\u00a0\n") + ["\U0001f600", "\ud800"]  # superscript, fraction, numeral: not decimal
    for i in range(3000):
        pool = basic if i % 2 else digits
        text = "".join(rnd.choice(pool) if rnd.random() < 0.7 else rnd.choice(others) for _ in range(rnd.randrange(40)))
        assert [m.span() for m in pii._number_trigger(text).finditer(text)] == \
            [m.span() for m in reference.finditer(text)], ascii(text)
    assert pii._number_trigger("0612345678") is pii._number_trigger("é 0612345678") is not pii._NUMBERS
    assert pii._number_trigger("\U0001d7ce" * 9) is pii._NUMBERS  # mathematical digits: past the basic plane
