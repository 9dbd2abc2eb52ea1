"""Speaker attribution (policyqa.ingest.attribution) on real files of the default corpus.

Each document is read and cut as the indexer reads and cuts it (load_document, chunking.segment;
without the embedding model's word-piece limit),
then attributed; the tests look sentences up by their opening words.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest

from policyqa.ingest.attribution import HOW, Attribution, attribute, attribute_document, is_speech
from policyqa.ingest.chunking import segment, sentence_spans
from policyqa.config import ChunkSettings
from policyqa.ingest.documents import load_document

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
LIMA_READOUT = "us-wh-2024-11-16-readout-biden-xi-lima.md"
WOODSIDE_READOUT = "us-wh-2023-11-15-readout-biden-xi-woodside.md"
HEARING = "tpp-2023-05-16-senate-judiciary-oversight-of-ai-altman-hearing.md"
LIMA_GAGGLE = "us-wh-2024-11-17-sullivan-gaggle-biden-xi-lima.md"
WOODSIDE_PRESS = "us-wh-2023-11-15-biden-press-conference-woodside.md"
BROOKINGS = "us-wh-2023-04-27-sullivan-brookings-renewing-economic-leadership.md"
QUOTES = "us-wh-2023-10-31-what-they-are-saying-eo-14110.md"
CRS = "us-crs-in12669-pentagon-anthropic-dispute-autonomous-weapons.md"
HARRIS_FACTS = "us-wh-2023-11-01-fact-sheet-harris-us-ai-initiatives.md"
TARIFFS = "us-wh-2024-05-14-fact-sheet-section-301-tariffs-china.md"
HARRIS_SUNAK = "us-wh-2023-11-01-readout-harris-sunak-meeting.md"


@lru_cache(maxsize=None)
def _attributed(doc_id: str) -> tuple[list[str], tuple[Attribution, ...], str]:
    doc = load_document(CORPUS / doc_id, CORPUS)
    segs = segment(doc.text, ChunkSettings(), soft_wraps=doc.kind != "md")
    return [s.text for s in segs], attribute_document(doc, [(s.start, s.end) for s in segs]), doc.text


def at(doc_id: str, opening: str, nth: int = 0) -> Attribution:
    texts, atts, _ = _attributed(doc_id)
    hits = [i for i, t in enumerate(texts) if t.startswith(opening)]
    assert len(hits) > nth, f"no sentence starting {opening!r} in {doc_id}"
    return atts[hits[nth]]


def test_readout_reported_speech_and_its_coreference():
    first = at(LIMA_READOUT, "President Biden underscored that U.S. investment")
    assert (first.speaker, first.how) == ("Joseph R. Biden Jr.", "reported")  # the full name of sentence 1
    _, _, text = _attributed(LIMA_READOUT)
    assert first.cue is not None and text[first.cue[0]:first.cue[1]] == "President Biden"
    he = at(LIMA_READOUT, "He called for an end to destabilizing PRC military activity")
    assert (he.speaker, he.how) == ("Joseph R. Biden Jr.", "coref")
    assert text[he.cue[0]:he.cue[1]] == "He"
    role = at(LIMA_READOUT, "The President noted the importance of human rights")
    assert (role.speaker, role.how) == ("Joseph R. Biden Jr.", "coref")
    # the other readout writes "Joseph R. Biden, Jr." and says "The President" after naming Biden
    assert at(WOODSIDE_READOUT, "Regarding the Israel-Hamas conflict, the President reiterated").speaker == \
        "Joseph R. Biden, Jr."


@pytest.mark.parametrize("opening", [
    "President Joseph R. Biden Jr. met with President Xi Jinping",  # a meeting, not speech
    "The two leaders affirmed the need to maintain human control",  # plural subject
    "Both leaders affirmed the need to continue these channels",
    "###",
])
def test_readout_sentences_nobody_says(opening):
    a = at(LIMA_READOUT, opening)
    assert (a.speaker, a.how) == (None, "none")


def test_a_plural_subject_with_the_vice_president_is_nobody_and_the_vice_president_alone_is_harris():
    assert at(HARRIS_SUNAK, "In advance of the Global Summit on Artificial Intelligence").speaker is None
    alone = at(HARRIS_SUNAK, "The Vice President welcomed the United States’ close cooperation")
    assert (alone.speaker, alone.how) == ("Kamala Harris", "coref")


def test_transcript_turn_governs_and_label_becomes_a_name():
    a = at(HEARING, "I want to thank Senator Blumenthal for convening this hearing")
    assert (a.speaker, a.how, a.label) == ("Josh Hawley", "turn", "Sen. Josh Hawley (R-MO)")
    assert at(HEARING, "Sam Altman is the co-founder and CEO of OpenAI").speaker == "Richard Blumenthal"
    laugh = at(HEARING, "<Laugh>.")
    assert (laugh.speaker, laugh.how) == (None, "none")
    # reported speech inside a turn stays the turn's
    assert at(LIMA_GAGGLE, "President Biden pointed out that the PRC’s publicly stated position").speaker == \
        "Jake Sullivan"


def test_reporter_turns_and_a_reporter_who_names_herself():
    assert at(WOODSIDE_PRESS, "Weijia Jiang with CBS.").speaker == "Weijia Jiang"
    q = at(WOODSIDE_PRESS, "And, Mr. President, after today, would you still refer to President Xi")
    assert (q.speaker, q.how, q.label) == ("Q", "turn", "Q")
    assert at(WOODSIDE_PRESS, "Well, look, he is.").speaker == "Joseph R. Biden Jr."


def test_remarks_page_without_labels_and_its_page_markers():
    a = at(BROOKINGS, "As most of you know, Secretary Yellen gave an important speech")
    assert (a.speaker, a.how) == ("Jake Sullivan", "remarks")
    assert at(BROOKINGS, "AS DELIVERED").speaker is None
    assert at(BROOKINGS, "END").speaker is None


def test_quote_page_names_and_a_quote_the_cutter_split():
    smith = at(QUOTES, "Brad Smith, President, Microsoft:")
    assert (smith.speaker, smith.how) == ("Brad Smith", "quote")
    assert at(QUOTES, "Colorado Senator John Hickenlooper:").speaker == "John Hickenlooper"
    texts, atts, _ = _attributed(QUOTES)
    i = next(i for i, t in enumerate(texts) if t.startswith("California Congressman Ted Lieu:"))
    assert not texts[i].rstrip().endswith("]")  # the quote goes on in the next segment ...
    assert (atts[i].speaker, atts[i + 1].speaker) == ("Ted Lieu", "Ted Lieu")  # ... and so does its speaker
    assert at(QUOTES, "Joint Statement by Leading AI Security Innovative Companies").speaker is None
    assert at(QUOTES, "Members of Congress, leading technology companies").speaker is None


def test_report_and_fact_sheets_people_versus_organisations_and_actions():
    assert at(CRS, "In explaining his decision to deny the Pentagon").speaker == "Dario Amodei"
    assert at(CRS, "In July 2025, DOD announced that it had awarded contracts").speaker is None
    assert at(HARRIS_FACTS, "The Vice President is announcing that 31 nations").speaker == "Kamala Harris"
    # a name modifying an organisation is not a person
    assert at(HARRIS_FACTS, "International Norms on Content Authentication: The Biden-Harris Administration").speaker \
        is None
    assert at(TARIFFS, "In response to China’s unfair trade practices").speaker is None  # "is directing": an action
    assert at(TARIFFS, "As President Biden says,").speaker == "President Biden"  # no full name in this file


def test_known_names_complete_a_name_the_document_gives_short():
    doc = load_document(CORPUS / TARIFFS, CORPUS)
    spans = [(s.start, s.end) for s in segment(doc.text, ChunkSettings(), soft_wraps=False)]
    known = ("Joseph R. Biden Jr.", "Kamala Harris", "Jake Sullivan")
    speakers = {a.speaker for a in attribute_document(doc, spans, known_names=known)} - {None}
    assert speakers == {"Joseph R. Biden Jr."}  # completed; people the file never mentions are not added


@pytest.mark.parametrize("doc_id", [LIMA_READOUT, HEARING, QUOTES, BROOKINGS, WOODSIDE_PRESS])
def test_one_attribution_per_sentence_with_exact_offsets(doc_id):
    doc = load_document(CORPUS / doc_id, CORPUS)
    before = doc.text
    segs = segment(doc.text, ChunkSettings(), soft_wraps=doc.kind != "md")
    spans = [(s.start, s.end) for s in segs]
    atts = attribute_document(doc, spans)
    assert doc.text == before
    assert [(a.start, a.end) for a in atts] == spans
    assert all(a.how in HOW for a in atts)
    assert all((a.speaker is None) == (a.how == "none") for a in atts)
    assert all(a.cue is None or (a.start <= a.cue[0] < a.cue[1] <= a.end) for a in atts)


def test_plain_text_reported_speech_quotes_and_ambiguity():
    text = ("Secretary of Commerce Gina Raimondo met with chip makers today. Raimondo warned that the rules "
            "would tighten. She also said that talks would go on.\n\n"
            "“We will not back down,” Raimondo said. “It is about security,” said Deputy Secretary Don Graves.\n\n"
            "Prime Minister Rishi Sunak and President Emmanuel Macron met in Paris. He stressed the risks.\n\n"
            "According to Sunak, the summit worked. The Prime Minister noted that talks would go on.\n\n"
            "(Applause.)")
    got = [(a.speaker, a.how) for a in attribute(text, sentence_spans(text, soft_wraps=False))]
    assert got == [
        (None, "none"), ("Gina Raimondo", "reported"), ("Gina Raimondo", "coref"),
        ("Gina Raimondo", "quote"), ("Don Graves", "quote"),
        (None, "none"), (None, "none"),  # "He" after two people: ambiguous
        ("Rishi Sunak", "reported"), ("Rishi Sunak", "coref"),
        (None, "none"),
    ]


def test_is_speech():
    assert not is_speech("(Applause.)") and not is_speech("11:23 A.M. PST") and not is_speech("END 1:59 P.M. GMT")
    assert not is_speech("(The bill is signed.) (Applause.)")
    assert is_speech("I thank you all. (Applause.)")
