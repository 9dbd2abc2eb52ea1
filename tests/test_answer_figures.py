"""The figures table parser on its own: no model, no index."""

from __future__ import annotations

import pytest

from policyqa.query.figures import figures_for, wants_figures
from policyqa.schema import AnswerSentence, Citation

OFFSET = 1000


def sentence(text: str) -> AnswerSentence:
    cite = Citation(quote=text, doc_id="d.md", path="/x/d.md", title="T", source=None, date=None, author=None,
                    publisher=None, page=None, start=OFFSET, end=OFFSET + len(text), chunk_id=0,
                    chunk_start=OFFSET, chunk_end=OFFSET + len(text), content_hash="h")
    return AnswerSentence(text=text, citation=cite, score=1.0)


def table(text: str, question: str = "How much does it cost?") -> dict[str, tuple]:
    out = {}
    for f in figures_for(question, [sentence(text)]):
        assert text[f.start - OFFSET:f.end - OFFSET] == f.value  # every value is cited to the character
        out[f.value] = (f.number, f.unit, f.measure, f.subject)
    return out


def test_fees_compared_across_countries():
    rows = table("Tuition fees are far lower in China, with many courses in the region of £2,600 per year, "
                 "compared to more than £9,000 for domestic students in the UK.")
    assert rows == {"£2,600": (2600.0, "GBP", "Tuition fees per year", "China"),
                    "£9,000": (9000.0, "GBP", "Tuition fees per year", "domestic students in the UK")}


@pytest.mark.parametrize("text, value, number, unit", [
    ("Tuition in the Netherlands costs about €2,314 a year for EU students.", "€2,314", 2314.0, "EUR"),
    ("The fund holds US$1.5 billion in reserves.", "US$1.5 billion", 1.5e9, "USD"),
    ("It raised 300 million yuan last year.", "300 million yuan", 3e8, "CNY"),
    ("Excluding a country comprising 17% of the world’s population would be an omission.", "17%", 17.0, "%"),
    ("Wuxi’s population is also significant – 7.5 million at last estimate.", "7.5 million", 7.5e6, None),
    ("With 28 countries in attendance, the event was large.", "28", 28.0, "countries"),
    ("There were 22 Chinese universities featured in the ranking.", "22", 22.0, "Chinese universities"),
    ("It is the world's second-most populous country after India.", "second-most", 2.0, "rank"),
])
def test_quantities_units_and_magnitudes(text, value, number, unit):
    rows = table(text, "How many, how much, what share?")
    assert value in rows
    assert rows[value][0] == pytest.approx(number)
    assert rows[value][1] == unit


def test_what_is_measured_and_for_whom():
    assert table("Excluding a country comprising 17% of the world’s population would be an omission.")[
        "17%"][2] == "share of the world’s population"
    number, unit, measure, subject = table("Wuxi’s population is also significant – 7.5 million at last estimate.")[
        "7.5 million"]
    assert (measure, subject) == ("population", "Wuxi")
    assert table("It comprises England and Wales, with a population of over 69 million in 2024.")[
        "69 million"][2] == "population"


def test_years_and_bare_numbers_are_not_figures():
    rows = table("In 2023 the summit met at Bletchley Park; section 4 of the order followed in 1066.")
    assert rows == {}


def test_only_questions_about_quantities_get_a_table():
    assert wants_figures("How do tuition fees in China compare with the UK?")
    assert wants_figures("How many countries attended the AI Safety Summit?")
    assert not wants_figures("Who signed the Bletchley Declaration?")
    text = "Tuition in the Netherlands costs about €2,314 a year for EU students."
    assert figures_for("Who studies in the Netherlands?", [sentence(text)]) == ()
