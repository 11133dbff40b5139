"""The urgent-symptom detector on realistic messages: reports trigger, general questions don't."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from qa.safety import UrgentDetector, normalize


@pytest.fixture(scope="module")
def detector() -> UrgentDetector:
    return UrgentDetector.load()


# (message, a symptom group it must report)
URGENT = [
    ("I have a fever of 38.5 and I'm on chemo", "fever or chills"),
    ("my temperature is 101.3, should I worry?", "fever or chills"),
    ("He's shivering with chills since this afternoon", "fever or chills"),
    ("im burning up and shaking", "fever or chills"),
    ("her nose is bleeding and it won't stop", "bleeding or bruising"),
    ("my gums keep bleeding when I brush", "bleeding or bruising"),
    ("I've got bruises all over my legs that I can't explain", "bleeding or bruising"),
    ("There’s blood in my pee", "bleeding or bruising"),
    ("I cant breathe properly", "trouble breathing"),
    ("my husband is short of breath and his lips look blue", "trouble breathing"),
    ("Mom seems confused and doesn't know where she is", "confusion"),
    ("my dad is slurring his words", "confusion"),
    ("he just had a seizure", "seizures"),
    ("I fainted in the shower this morning", "fainting"),
    ("my daughter passed out after chemo", "fainting"),
    ("During the blinatumomab infusion my face started swelling and I feel dizzy", "infusion reaction"),
    ("I got hives after the infusion today", "infusion reaction"),
    ("my throat feels tight during the drip", "infusion reaction"),
    ("I've barely peed all day since starting treatment", "barely urinating"),
    ("he hasn't urinated since yesterday", "barely urinating"),
    ("What should I do, I have a high fever", "fever or chills"),
    ("temp 38.5 and shivering, 10 days after chemo, is this serious?", "fever or chills"),
    ("my dad's pain in his bones is unbearable and ibuprofen isn't touching it", "severe pain"),
    ("my wife's eyes turned yellow and her belly is swollen on Besponsa", "yellow skin or swollen belly"),
    ("on high dose ara-C and suddenly off balance", "nerve problems"),
    ("her heart is pounding and she feels faint", "chest pain or heart"),
]

NOT_URGENT = [
    "what are the side effects of chemo?",
    "can blinatumomab cause seizures?",
    "What is cytokine release syndrome?",
    "Is fever a side effect of CAR T-cell therapy?",
    "What are the signs of an infusion reaction?",
    "Does radiation cause confusion or memory problems?",
    "Which treatments can cause trouble breathing?",
    "Is shortness of breath common after a stem cell transplant?",
    "How do doctors treat fever in people with low white blood cell counts?",
    "what does a low platelet count mean for bleeding risk?",
    "why do patients bruise easily during treatment?",
    "I am worried about seizures with blinatumomab, how common are they?",
    "Tell me about nervous system problems like confusion and seizures",
    "what happens during the infusion?",
    "How long does maintenance chemo last?",
    "Can surgery cure ALL?",
    "I have a question about fevers during induction",
    "What are the benefits of a stem cell transplant?",
    "Why do they keep checking my blood counts during chemo?",
    "Is nerve damage a side effect of vincristine?",
]


@pytest.mark.parametrize(("message", "group"), URGENT)
def test_reports_of_urgent_symptoms_trigger(detector: UrgentDetector, message: str, group: str) -> None:
    assert group in detector.detect(message)


@pytest.mark.parametrize("message", NOT_URGENT)
def test_general_questions_do_not_trigger(detector: UrgentDetector, message: str) -> None:
    assert detector.detect(message) == []


def test_every_group_in_the_data_file_is_exercised() -> None:
    raw = json.loads(resources.files("qa").joinpath("data/urgent_symptoms.json").read_text(encoding="utf-8"))
    assert set(raw["groups"]) == {group for _, group in URGENT}


def test_normalize_repairs_phone_typing() -> None:
    assert normalize("Im  sure it WONT stop, cant sleep") == "i'm sure it won't stop, can't sleep"
    assert normalize("It’s bleeding") == "it's bleeding"


def test_empty_message_is_not_urgent(detector: UrgentDetector) -> None:
    assert detector.detect("") == []


def test_loads_a_reviewed_copy_of_the_vocabulary(tmp_path, detector: UrgentDetector) -> None:
    path = tmp_path / "urgent.json"
    path.write_text(json.dumps({
        "notice": "Call now.", "groups": {"hiccups": {"report": ["hiccups? (won't|that won't) stop"]}},
        "general": [], "now": [],
    }))
    custom = UrgentDetector.load(path)
    assert custom.detect("my hiccups won't stop") == ["hiccups"]
    assert custom.detect("I have a fever of 40") == []
