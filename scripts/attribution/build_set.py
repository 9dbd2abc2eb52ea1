"""How scripts/attribution/sentences.jsonl was made (kept for the record; the JSONL is the set).

Every label below was decided by reading the document as the product cuts it (load_document +
chunking.segment, the same calls as scripts/eval_attribution.py), before src/policyqa/attribution.py
existed. Each row names a document, the index of a sentence in that cut (as read in a dump of it),
the kind of context and the speaker a reader would give, written by hand. This script only turns
the indices into the sentence text (and its occurrence number when the same text appears more
than once in the document), so the set does not depend on indices staying valid.

    PYTHONPATH=src python scripts/attribution/build_set.py   # rewrites sentences.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from policyqa.ingest.chunking import segment  # noqa: E402
from policyqa.config import ChunkSettings  # noqa: E402
from policyqa.ingest.documents import load_document  # noqa: E402

D = {
    "H": "tpp-2023-05-16-senate-judiciary-oversight-of-ai-altman-hearing.md",
    "LR": "us-wh-2024-11-16-readout-biden-xi-lima.md",
    "WR": "us-wh-2023-11-15-readout-biden-xi-woodside.md",
    "HS": "us-wh-2023-11-01-readout-harris-sunak-meeting.md",
    "NSC": "us-wh-2024-05-15-nsc-statement-us-prc-ai-talks-geneva.md",
    "LG": "us-wh-2024-11-17-sullivan-gaggle-biden-xi-lima.md",
    "WPC": "us-wh-2023-11-15-biden-press-conference-woodside.md",
    "WXR": "us-wh-2023-11-15-biden-xi-remarks-before-meeting-woodside.md",
    "BRK": "us-wh-2023-04-27-sullivan-brookings-renewing-economic-leadership.md",
    "HL": "us-wh-2023-11-01-harris-speech-future-of-ai-london.md",
    "NDU": "us-wh-2024-10-24-sullivan-ai-and-national-security-ndu.md",
    "CRSA": "us-crs-in12669-pentagon-anthropic-dispute-autonomous-weapons.md",
    "CRSF": "us-crs-if13204-china-15th-five-year-plan-st-priorities.md",
    "HFS": "us-wh-2023-11-01-fact-sheet-harris-us-ai-initiatives.md",
    "TFS": "us-wh-2024-05-14-fact-sheet-section-301-tariffs-china.md",
    "C22": "us-wh-2022-08-09-fact-sheet-chips-and-science-act.md",
    "C24": "us-wh-2024-08-09-fact-sheet-chips-act-two-years.md",
    "DIF": "us-wh-2025-01-13-fact-sheet-ai-diffusion-rule.md",
    "EO": "us-eo-14110-safe-secure-trustworthy-ai.md",
    "WPX": "wp-summary-xi-jinping.md",
    "WTAS": "us-wh-2023-10-31-what-they-are-saying-eo-14110.md",
    # held-out documents
    "AAP": "us-wh-2025-07-23-america-ai-action-plan-announcement.md",
    "SEED": "seed-uktn-china-ai-collaboration.md",
    "BLE": "us-wh-2023-11-02-harris-press-gaggle-bletchley.md",
    "BJ": "us-wh-2024-08-29-sullivan-press-conference-beijing.md",
    "CFR": "us-wh-2024-01-30-sullivan-future-of-us-china-relations.md",
    "SF": "us-wh-2023-06-20-biden-remarks-ai-san-francisco.md",
    "EOS": "us-wh-2023-10-30-biden-harris-remarks-signing-eo-14110.md",
    "LXR": "us-wh-2024-11-16-biden-xi-remarks-before-meeting-lima.md",
    "SCSP": "us-wh-2022-09-16-sullivan-scsp-emerging-technologies-summit.md",
    "JUL": "us-wh-2023-07-21-biden-remarks-ai-voluntary-commitments.md",
    "CHIPS": "us-wh-2022-08-09-biden-remarks-signing-chips-act.md",
    "VFS": "us-wh-2023-07-21-fact-sheet-voluntary-ai-commitments.md",
    "EOFS": "us-wh-2023-10-30-fact-sheet-eo-14110.md",
    "NSMFS": "us-wh-2024-10-24-fact-sheet-ai-national-security-memorandum.md",
    "LEG": "us-wh-2024-12-23-fact-sheet-section-301-china-legacy-chips.md",
    "TEO": "us-wh-2025-01-23-fact-sheet-trump-ai-leadership-eo.md",
    "EXP": "us-wh-2025-07-23-fact-sheet-export-american-ai-technology-stack.md",
    "G7": "us-wh-2023-10-30-g7-leaders-statement-hiroshima-ai-process.md",
}

# Split (fixed before any labelling or code): the policyset's dev / held-out split of the
# documents, except that the hearing transcript (the only file with speaker-label lines) is cut
# at sentence 1000 and the "What they are saying" page at sentence 25 (its "Union and Labor
# Leaders" heading), so that each part holds every kind of text; the seed column is held out;
# the EO 14110 text and the Wikipedia summaries (no speakers) are dev.
HELDOUT_DOCS = {"AAP", "SEED", "BLE", "BJ", "CFR", "SF", "EOS", "LXR", "SCSP", "JUL", "CHIPS", "VFS", "EOFS",
                "NSMFS", "LEG", "TEO", "EXP", "G7"}
SPLIT_AT = {"H": 1000, "WTAS": 25}

T, R, P, N = "turn", "remarks", "reported", "none"
BIDEN, HARRIS, SULLIVAN, XI = "Joe Biden", "Kamala Harris", "Jake Sullivan", "Xi Jinping"
ALTMAN, MARCUS, MONTGOMERY = "Sam Altman", "Gary Marcus", "Christina Montgomery"
BLUMENTHAL, HAWLEY = "Richard Blumenthal", "Josh Hawley"

ROWS = [
    # ---- transcript turns (speaker labels) -----------------------------------------------
    ("H", 40, T, BLUMENTHAL, ""),
    ("H", 75, T, HAWLEY, "names Blumenthal"),
    ("H", 90, T, HAWLEY, "reports what Carl Jung said: the turn governs"),
    ("H", 114, T, "Dick Durbin", ""),
    ("H", 146, T, BLUMENTHAL, "introduces Sam Altman"),
    ("H", 149, T, BLUMENTHAL, "introduces Christina Montgomery"),
    ("H", 165, T, ALTMAN, ""),
    ("H", 187, T, ALTMAN, ""),
    ("H", 365, T, MARCUS, ""),
    ("H", 385, T, MARCUS, "names Senator Durbin"),
    ("H", 391, T, MARCUS, "names Sam"),
    ("H", 401, T, ALTMAN, ""),
    ("H", 462, T, MARCUS, "as Sam just acknowledged"),
    ("H", 489, T, HAWLEY, "names himself"),
    ("H", 502, T, MARCUS, ""),
    ("H", 512, T, MONTGOMERY, ""),
    ("H", 517, T, "Dick Durbin", ""),
    ("H", 559, T, MARCUS, ""),
    ("H", 604, T, ALTMAN, ""),
    ("H", 612, T, BLUMENTHAL, ""),
    ("H", 639, T, "Marsha Blackburn", "names Garth Brooks"),
    ("H", 647, T, ALTMAN, ""),
    ("H", 866, T, "Lindsey Graham", "names Mr. Altman"),
    ("H", 882, T, MONTGOMERY, ""),
    ("H", 888, T, "Lindsey Graham", ""),
    ("H", 894, T, MONTGOMERY, ""),
    ("LG", 28, T, SULLIVAN, "reports what President Biden pointed out: the turn governs"),
    ("LG", 39, T, "Q", "unnamed reporter"),
    ("LG", 47, T, SULLIVAN, ""),
    ("LG", 54, T, SULLIVAN, ""),
    ("LG", 57, T, "Q", "unnamed reporter; names President Xi"),
    ("WPC", 5, T, BIDEN, ""),
    ("WPC", 14, T, BIDEN, ""),
    ("WPC", 104, T, "Weijia Jiang", "reporter names herself in her turn"),
    ("WPC", 222, T, "Q", "unnamed reporter"),
    ("WPC", 224, T, BIDEN, ""),
    ("WXR", 9, T, BIDEN, ""),
    ("WXR", 41, T, XI, "interpreted"),
    ("WXR", 44, T, XI, "interpreted"),
    ("WXR", 53, T, BIDEN, ""),
    ("H", 1068, T, "John Kennedy", ""),
    ("H", 1071, T, MARCUS, ""),
    ("H", 1092, T, ALTMAN, ""),
    ("H", 1108, T, ALTMAN, ""),
    ("H", 1205, T, "Alex Padilla", ""),
    ("H", 1212, T, "Alex Padilla", "names Mr. Altman and Ms. Montgomery"),
    ("H", 1213, T, MONTGOMERY, ""),
    ("H", 1287, T, ALTMAN, ""),
    ("H", 1291, T, "Jon Ossoff", ""),
    ("H", 1300, T, ALTMAN, ""),
    ("H", 1334, T, "Jon Ossoff", "names Senator Blumenthal"),
    ("H", 1341, T, ALTMAN, ""),
    ("H", 1453, T, MARCUS, ""),
    ("H", 1464, T, "Peter Welch", "names Blumenthal and Hawley"),
    ("H", 1467, T, BLUMENTHAL, ""),
    ("H", 1477, T, "Peter Welch", ""),
    ("H", 1485, T, "Peter Welch", "JD Vance mentioned"),
    ("H", 1505, T, ALTMAN, ""),
    ("H", 1813, T, MARCUS, ""),
    ("H", 1826, T, ALTMAN, ""),
    ("H", 1839, T, "Cory Booker", ""),
    ("H", 1867, T, BLUMENTHAL, "as Senator Hawley has pointed out"),
    ("BLE", 15, T, HARRIS, "names Prime Minister Sunak"),
    ("BLE", 26, T, HARRIS, ""),
    ("BLE", 53, T, "Q", "unnamed reporter"),
    ("BLE", 57, T, HARRIS, ""),
    ("BLE", 62, T, HARRIS, ""),
    ("BJ", 29, T, "Q", "unnamed reporter; names Xi Jinping"),
    ("BJ", 37, T, "Marc Stewart", "reporter names himself"),
    ("BJ", 38, T, "Marc Stewart", "same turn as his self-introduction"),
    ("BJ", 40, T, "Marc Stewart", "same turn; names Xi Jinping"),
    ("BJ", 145, T, "Evelyn Cheng", "reporter names herself"),
    ("BJ", 146, T, "Evelyn Cheng", "same turn"),
    ("BJ", 151, T, SULLIVAN, ""),
    ("BJ", 153, T, SULLIVAN, ""),
    ("CFR", 154, T, "Stephen Hadley", "moderator; names Wang Yi"),
    ("CFR", 161, T, SULLIVAN, "names Wang Yi"),
    ("CFR", 173, T, SULLIVAN, ""),
    ("CFR", 294, T, "Marc Rotenberg", "audience member names himself"),
    ("CFR", 297, T, "Marc Rotenberg", "same turn"),
    ("SF", 5, T, BIDEN, "names Governor Newsom"),
    ("SF", 25, T, "Q", "unnamed reporter"),
    ("SF", 31, T, BIDEN, ""),
    ("EOS", 6, T, HARRIS, "names President Biden"),
    ("EOS", 29, T, BIDEN, "names Kamala"),
    ("EOS", 166, T, "Q", "unnamed reporter"),
    ("LXR", 5, T, BIDEN, ""),
    ("LXR", 9, T, XI, "names President Biden"),
    ("LXR", 22, T, XI, ""),
    ("LXR", 37, T, BIDEN, ""),
    # ---- remarks pages without labels (one speaker named by the page) ---------------------
    ("BRK", 2, R, SULLIVAN, "names Secretary Yellen"),
    ("BRK", 3, R, SULLIVAN, "names President Biden"),
    ("BRK", 17, R, SULLIVAN, ""),
    ("BRK", 182, R, SULLIVAN, "names Ajay Banga"),
    ("BRK", 193, R, SULLIVAN, ""),
    ("HL", 3, R, HARRIS, ""),
    ("HL", 31, R, HARRIS, ""),
    ("HL", 40, R, HARRIS, "President Biden directed ..."),
    ("HL", 44, R, HARRIS, ""),
    ("HL", 52, R, HARRIS, ""),
    ("NDU", 3, R, SULLIVAN, "names Lieutenant Colonel Grewal"),
    ("NDU", 28, R, SULLIVAN, ""),
    ("NDU", 29, R, SULLIVAN, ""),
    ("NSC", 0, R, "Adrienne Watson", "statement; names Tarun Chhabra and Seth Center"),
    ("NSC", 2, R, "Adrienne Watson", "statement; names Biden and Xi"),
    ("NSC", 6, R, "Adrienne Watson", "statement"),
    ("SCSP", 1, R, SULLIVAN, ""),
    ("SCSP", 2, R, SULLIVAN, ""),
    ("SCSP", 3, R, SULLIVAN, ""),
    ("SCSP", 68, R, SULLIVAN, ""),
    ("SCSP", 108, R, SULLIVAN, ""),
    ("JUL", 4, R, BIDEN, "names Abe Lincoln"),
    ("JUL", 10, R, BIDEN, "names Kamala"),
    ("JUL", 12, R, BIDEN, "Kamala ... she's met"),
    ("JUL", 17, R, BIDEN, ""),
    ("CHIPS", 14, R, BIDEN, "names Chuck"),
    ("CHIPS", 22, R, BIDEN, "names Secretary Raimondo"),
    ("CHIPS", 31, R, BIDEN, "He asked me ..."),
    ("CHIPS", 32, R, BIDEN, "I said, “...”"),
    ("CHIPS", 55, R, BIDEN, ""),
    # ---- reported speech in readouts, fact sheets, reports, quote pages -------------------
    ("LR", 3, P, BIDEN, "President Biden underscored that"),
    ("LR", 4, P, BIDEN, "He welcomed"),
    ("LR", 7, P, BIDEN, "welcomed ... and he called for"),
    ("LR", 14, P, BIDEN, "condemned"),
    ("LR", 15, P, BIDEN, "He expressed deep concern"),
    ("LR", 17, P, BIDEN, "On Taiwan, President Biden underscored"),
    ("LR", 18, P, BIDEN, "He reiterated that"),
    ("LR", 19, P, BIDEN, "He called for"),
    ("LR", 21, P, BIDEN, "The President noted"),
    ("LR", 23, P, BIDEN, "The President raised deep concerns"),
    ("WR", 2, P, BIDEN, "President Biden emphasized that"),
    ("WR", 3, P, BIDEN, "He stressed that"),
    ("WR", 13, P, BIDEN, "The President reaffirmed"),
    ("WR", 16, P, BIDEN, "Regarding ..., the President reiterated"),
    ("WR", 18, P, BIDEN, "He raised concerns"),
    ("WR", 24, P, BIDEN, "The President again emphasized"),
    ("WR", 29, P, BIDEN, "President Biden stated that"),
    ("HS", 4, P, HARRIS, "The Vice President welcomed"),
    ("CRSA", 10, P, "Donald Trump", "directed agencies to \"...\" (quoted post)"),
    ("CRSA", 24, P, "Dario Amodei", "stated that ... \"...\""),
    ("HFS", 8, P, HARRIS, "the Vice President convened ... to underscore that"),
    ("HFS", 20, P, HARRIS, "The Vice President is announcing that"),
    ("HFS", 25, P, HARRIS, "Vice President Harris is announcing"),
    ("TFS", 6, P, BIDEN, "As President Biden says, ..."),
    ("WTAS", 6, P, "John Hickenlooper", "Name: “quote”"),
    ("WTAS", 7, P, BLUMENTHAL, "Name: “quote”"),
    ("WTAS", 8, P, "Ted Lieu", "Name: “quote”"),
    ("WTAS", 9, P, "Ted Lieu", "continuation of his quote (cut at the token limit)"),
    ("WTAS", 11, P, "Don Beyer", "Name: “quote”"),
    ("WTAS", 15, P, "Brad Smith", "Name, title, company: “quote”"),
    ("WTAS", 16, P, "Kent Walker", "Name, title, company: “quote”"),
    ("WTAS", 19, P, "Aaron Levie", "Name, title, company: “quote”"),
    ("WTAS", 24, P, "Joshua Bolten", "Name, title, company: “quote”"),
    ("AAP", 8, P, "Michael Kratsios", "“quote,” said title Name."),
    ("AAP", 9, P, "David Sacks", "“quote,” said title Name."),
    ("AAP", 10, P, "Marco Rubio", "“quote,” said title Name."),
    ("SEED", 15, P, "Liz Truss", "writing that she was “...” and warning of “...”"),
    ("WTAS", 26, P, "Liz Shuler", "Name, title: “quote”"),
    ("WTAS", 27, P, "Liz Shuler", "continuation of her quote"),
    ("WTAS", 29, P, "Claude Cummings Jr.", "Name, title: “quote”"),
    ("WTAS", 31, P, "Randi Weingarten", "Name, title: “quote”"),
    ("WTAS", 34, P, "Maya Wiley", "Name, title: “quote”"),
    ("WTAS", 35, P, "Damon Hewitt", "Name, title: “quote”"),
    ("WTAS", 37, P, "Alondra Nelson", "Name, title: “quote”"),
    ("WTAS", 38, P, "Dan Correa", "Name: “quote,” says Name"),
    ("WTAS", 39, P, "Dan Correa", "the next sentence of his quote"),
    ("WTAS", 40, P, "Graham Brookie", "Name, title: “quote”"),
    ("WTAS", 41, P, "Lloyd Whitman", "Name, title: “quote”"),
    ("WTAS", 42, P, "Omkhar Arasaratnam", "Name, title: “quote”"),
    # ---- no speaker ------------------------------------------------------------------------
    ("LR", 0, N, None, "met with (an event, not speech)"),
    ("LR", 2, N, None, "the two leaders (plural)"),
    ("LR", 9, N, None, "Both leaders affirmed (plural)"),
    ("LR", 11, N, None, "The two leaders affirmed (plural)"),
    ("LR", 26, N, None, "end marker"),
    ("WR", 1, N, None, "The two leaders (plural)"),
    ("WR", 6, N, None, "They welcomed (the two leaders)"),
    ("WR", 33, N, None, "The two leaders agreed (plural)"),
    ("HS", 1, N, None, "The leaders reaffirmed (plural)"),
    ("HS", 5, N, None, "the Vice President and Prime Minister reiterated (plural)"),
    ("CRSA", 5, N, None, "report metadata"),
    ("CRSA", 15, N, None, "Some lawmakers (unnamed)"),
    ("CRSA", 17, N, None, "DOD announced (an organisation)"),
    ("CRSA", 25, N, None, ""),
    ("CRSA", 28, N, None, "a directive defines"),
    ("HFS", 7, N, None, "she convened (an action)"),
    ("TFS", 3, N, None, "President Biden is directing (an action)"),
    ("C22", 8, N, None, "Micron is announcing (a company)"),
    ("C24", 1, N, None, "President Biden signed (an action)"),
    ("DIF", 12, N, None, ""),
    ("CRSF", 14, N, None, "PRC leaders' emphasis"),
    ("EO", 20, N, None, "executive order text"),
    ("WPX", 1, N, None, "encyclopedia summary"),
    ("H", 144, N, None, "<Laugh> inside a senator's turn"),
    ("WXR", 2, N, None, "time stamp"),
    ("WXR", 24, N, None, "(As interpreted.) inside Xi's turn"),
    ("BRK", 0, N, None, "AS DELIVERED"),
    ("BRK", 252, N, None, "END"),
    ("HL", 0, N, None, "place line"),
    ("HL", 6, N, None, "(Applause.)"),
    ("HL", 19, N, None, "(Pause)"),
    ("HL", 86, N, None, "END and time stamp"),
    ("NDU", 0, N, None, "place line"),
    ("NDU", 217, N, None, "(Applause.)"),
    ("NSC", 8, N, None, "end marker"),
    ("WTAS", 0, N, None, "President Biden issued (an action)"),
    ("WTAS", 3, N, None, "plural, unnamed"),
    ("WTAS", 5, N, None, "heading"),
    ("WTAS", 14, N, None, "heading"),
    ("WTAS", 22, N, None, "joint statement of companies (organisations)"),
    ("AAP", 0, N, None, "The White House released (an institution)"),
    ("AAP", 2, N, None, ""),
    ("AAP", 11, N, None, ""),
    ("SEED", 4, N, None, "names Liz Truss as a critic, no words reported"),
    ("SEED", 8, N, None, "names Xi and Biden, no speech"),
    ("SEED", 16, N, None, "the prime minister's response, not quoted"),
    ("SEED", 31, N, None, "column text"),
    ("SEED", 43, N, None, "author note"),
    ("WTAS", 25, N, None, "heading"),
    ("WTAS", 28, N, None, "union (an organisation): “quote”"),
    ("WTAS", 36, N, None, "think tank (an organisation): “quote”"),
    ("WTAS", 43, N, None, "end marker"),
    ("VFS", 12, N, None, "The companies commit (organisations)"),
    ("EOFS", 0, N, None, "President Biden is issuing (an action)"),
    ("EOFS", 11, N, None, ""),
    ("NSMFS", 9, N, None, "President Biden ... signed (an action)"),
    ("NSMFS", 20, N, None, "the NSM states (a document)"),
    ("LEG", 6, N, None, ""),
    ("TEO", 1, N, None, "President Trump is fulfilling his promise (an action)"),
    ("TEO", 13, N, None, "President Trump signed (an action)"),
    ("EXP", 5, N, None, "President Trump is advancing (an action)"),
    ("G7", 0, N, None, "We, the Leaders of the G7 (plural)"),
    ("G7", 5, N, None, "We call on (plural)"),
    ("SF", 0, N, None, "place line"),
    ("SF", 27, N, None, "(Cross-talk by reporters.) inside a Q turn"),
    ("SF", 32, N, None, "time stamp inside Biden's turn"),
    ("EOS", 163, N, None, "(The executive order is signed.)"),
    ("EOS", 165, N, None, "(The President departs the podium.)"),
    ("EOS", 174, N, None, "(Inaudible.)"),
    ("CHIPS", 194, N, None, "(The bill is signed.) (Applause.)"),
    ("CHIPS", 195, N, None, "time stamp"),
    ("JUL", 3, N, None, "(Laughter.)"),
    ("JUL", 48, N, None, "time stamp"),
    ("SCSP", 0, N, None, "As prepared for delivery"),
    ("SCSP", 110, N, None, "END"),
    ("LXR", 2, N, None, "(As interpreted.)"),
    ("LXR", 6, N, None, "(Laughter.)"),
    ("LXR", 64, N, None, "time stamp"),
    ("BJ", 188, N, None, "(Inaudible.) inside a Q turn"),
    ("H", 1067, N, None, "<Laugh> inside a senator's turn"),
]


def part_of(key: str, index: int) -> str:
    if key in SPLIT_AT:
        return "dev" if index < SPLIT_AT[key] else "heldout"
    return "heldout" if key in HELDOUT_DOCS else "dev"


def main() -> None:
    root = ROOT / "corpus"
    cut: dict[str, list[str]] = {}
    out = []
    seen = set()
    for n, (key, index, kind, speaker, note) in enumerate(ROWS, 1):
        assert (key, index) not in seen, (key, index)
        seen.add((key, index))
        doc_id = D[key]
        if doc_id not in cut:
            doc = load_document(root / doc_id, root)
            cut[doc_id] = [s.text for s in segment(doc.text, ChunkSettings(), soft_wraps=doc.kind != "md")]
        sentences = cut[doc_id]
        text = sentences[index]
        occurrence = sentences[:index].count(text)
        assert (kind == "none") == (speaker is None), (key, index)
        out.append({"id": f"a{n:03d}", "part": part_of(key, index), "doc_id": doc_id, "sentence": text,
                    "occurrence": occurrence, "kind": kind, "speaker": speaker, "note": note})
    with open(Path(__file__).with_name("sentences.jsonl"), "w", encoding="utf-8") as f:
        for row in out:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    from collections import Counter
    print(Counter((r["part"], r["kind"]) for r in out))


if __name__ == "__main__":
    main()
