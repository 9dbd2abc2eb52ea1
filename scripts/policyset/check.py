#!/usr/bin/env python3
"""Validate scripts/policyset/questions.jsonl against the corpus.

Checks (errors make the exit status non-zero):
  * every line parses as JSON and has the required fields and types;
  * qids are unique; kind is one of the allowed kinds;
  * answerable items: non-empty answers, doc_ids all in the dev part, and every
    answer string occurs in the clean text of at least one listed doc;
  * unanswerable items: answers == [], evidence is null, a "check" note exists.
Warnings (printed, not fatal):
  * an answer string that is not inside the evidence sentence (after cleaning);
  * an evidence sentence not found verbatim in any listed doc's clean text;
  * an answer longer than 8 words;
  * a dev-part document NOT listed in doc_ids whose clean text contains an
    answer string (review by hand: may be a coincidental match);
  * an unanswerable item whose distinctive terms appear in a corpus doc.
Clean text = strip the first YAML front-matter block, remove <...> tags, drop a
backslash before punctuation, remove '*', collapse all whitespace to single spaces.
Standard library only; reads the corpus once.  Usage: python3 check.py

With --heldout, the same checks are run on heldout.jsonl against the held-out
part (HELDOUT below) instead of the dev part, and its qids must also not clash
with questions.jsonl.  Usage: python3 check.py --heldout

With --whosaid, whosaid.jsonl (who-said / what-said questions over the whole
default corpus) is checked: doc_ids may be any corpus .md file; every item has
a "form" (who-said, which-senator, what-did-x-say, how-did-x-respond), a
non-empty "speaker" and a "part" (dev when its document is in the dev part,
heldout otherwise); qids must not clash with the other two files. A `who`
answer (a person's name) may also be found in the document's front matter
(title or author line), since a remarks page names its speaker only there and
a transcript's speaker labels are the answer.  Usage: python3 check.py --whosaid
"""
import json, os, re, sys, collections

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.normpath(os.path.join(HERE, '..', '..', 'corpus'))
sys.path.insert(0, HERE)
from cleantext import clean  # noqa: E402

DEV = [
    'tpp-2023-05-16-senate-judiciary-oversight-of-ai-altman-hearing.md',
    'us-crs-if13204-china-15th-five-year-plan-st-priorities.md',
    'us-crs-in12669-pentagon-anthropic-dispute-autonomous-weapons.md',
    'us-wh-2022-08-09-fact-sheet-chips-and-science-act.md',
    'us-wh-2023-04-27-sullivan-brookings-renewing-economic-leadership.md',
    'us-wh-2023-11-01-fact-sheet-harris-us-ai-initiatives.md',
    'us-wh-2023-11-01-harris-speech-future-of-ai-london.md',
    'us-wh-2023-11-01-readout-harris-sunak-meeting.md',
    'us-wh-2023-11-15-biden-press-conference-woodside.md',
    'us-wh-2023-11-15-biden-xi-remarks-before-meeting-woodside.md',
    'us-wh-2023-11-15-readout-biden-xi-woodside.md',
    'us-wh-2024-05-14-fact-sheet-section-301-tariffs-china.md',
    'us-wh-2024-05-15-nsc-statement-us-prc-ai-talks-geneva.md',
    'us-wh-2024-08-09-fact-sheet-chips-act-two-years.md',
    'us-wh-2024-10-24-sullivan-ai-and-national-security-ndu.md',
    'us-wh-2024-11-16-readout-biden-xi-lima.md',
    'us-wh-2024-11-17-sullivan-gaggle-biden-xi-lima.md',
    'us-wh-2025-01-13-fact-sheet-ai-diffusion-rule.md',
]
HELDOUT = [
    'us-wh-2022-08-09-biden-remarks-signing-chips-act.md',
    'us-wh-2022-09-16-sullivan-scsp-emerging-technologies-summit.md',
    'us-wh-2023-06-20-biden-remarks-ai-san-francisco.md',
    'us-wh-2023-07-21-biden-remarks-ai-voluntary-commitments.md',
    'us-wh-2023-07-21-fact-sheet-voluntary-ai-commitments.md',
    'us-wh-2023-10-30-biden-harris-remarks-signing-eo-14110.md',
    'us-wh-2023-10-30-fact-sheet-eo-14110.md',
    'us-wh-2023-10-30-g7-leaders-statement-hiroshima-ai-process.md',
    'us-wh-2023-10-31-what-they-are-saying-eo-14110.md',
    'us-wh-2023-11-02-harris-press-gaggle-bletchley.md',
    'us-wh-2024-01-30-sullivan-future-of-us-china-relations.md',
    'us-wh-2024-08-29-sullivan-press-conference-beijing.md',
    'us-wh-2024-10-24-fact-sheet-ai-national-security-memorandum.md',
    'us-wh-2024-11-16-biden-xi-remarks-before-meeting-lima.md',
    'us-wh-2024-12-23-fact-sheet-section-301-china-legacy-chips.md',
    'us-wh-2025-01-23-fact-sheet-trump-ai-leadership-eo.md',
    'us-wh-2025-07-23-america-ai-action-plan-announcement.md',
    'us-wh-2025-07-23-fact-sheet-export-american-ai-technology-stack.md',
]
KINDS = {'fact', 'figure', 'comparison', 'who', 'what-said', 'stance'}
FIELDS = ['qid', 'question', 'kind', 'answerable', 'doc_ids', 'answers', 'speaker', 'evidence']
FORMS = {'who-said': 'who', 'which-senator': 'who', 'what-did-x-say': 'what-said', 'how-did-x-respond': 'what-said'}


def front_matter(text):
    """The title and author lines of a corpus file's front matter (for who-said answers)."""
    head = text[:text.find('\n---', 3)] if text.startswith('---') else ''
    return ' '.join(l for l in head.splitlines() if l.startswith(('title:', 'author:')))


def norm(s):
    return re.sub(r'\s+', ' ', s).strip()


def main(argv=()):
    heldout_mode = '--heldout' in argv
    whosaid_mode = '--whosaid' in argv
    PART = HELDOUT if heldout_mode else DEV
    texts = {}
    heads = {}
    for name in sorted(os.listdir(CORPUS)):
        if name.endswith('.md') and name != 'SOURCES.md':
            with open(os.path.join(CORPUS, name), encoding='utf-8') as f:
                raw = f.read()
            texts[name] = clean(raw)
            heads[name] = front_matter(raw)
    if whosaid_mode:
        PART = sorted(texts)
    new_docs = [n for n in texts if n.startswith(('us-wh-', 'us-crs-', 'tpp-'))]
    held_out = sorted(set(new_docs) - set(DEV))
    errors, warnings = [], []
    for d in DEV:
        if d not in texts:
            errors.append('dev doc missing from corpus: %s' % d)
    if sorted(HELDOUT) != held_out:
        errors.append('HELDOUT list differs from the new primary sources minus DEV')

    seen = set()
    kinds = collections.Counter()
    n_ans = n_unans = 0
    path = os.path.join(HERE, 'whosaid.jsonl' if whosaid_mode else 'heldout.jsonl' if heldout_mode
                        else 'questions.jsonl')
    dev_qids = set()
    if heldout_mode or whosaid_mode:  # qids must not clash with the dev set's (nor the held-out set's)
        for other in ['questions.jsonl'] + (['heldout.jsonl'] if whosaid_mode else []):
            with open(os.path.join(HERE, other), encoding='utf-8') as f:
                dev_qids |= {json.loads(l)['qid'] for l in f if l.strip()}
    with open(path, encoding='utf-8') as f:
        lines = f.read().split('\n')
    for ln, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            q = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append('line %d: JSON error: %s' % (ln, e))
            continue
        qid = q.get('qid', 'line%d' % ln)
        for fld in FIELDS:
            if fld not in q:
                errors.append('%s: missing field %s' % (qid, fld))
        if qid in seen:
            errors.append('%s: duplicate qid' % qid)
        if qid in dev_qids:
            errors.append('%s: qid clashes with questions.jsonl' % qid)
        seen.add(qid)
        if q.get('kind') not in KINDS:
            errors.append('%s: bad kind %r' % (qid, q.get('kind')))
        if whosaid_mode:
            if FORMS.get(q.get('form')) != q.get('kind'):
                errors.append('%s: form %r does not fit kind %r' % (qid, q.get('form'), q.get('kind')))
            if not q.get('speaker'):
                errors.append('%s: no speaker' % qid)
            part = 'dev' if (q.get('doc_ids') or [''])[0] in DEV else 'heldout'
            if q.get('part') != part:
                errors.append('%s: part should be %r' % (qid, part))
            kinds['form:' + str(q.get('form'))] += 1
        docs = q.get('doc_ids') or []
        for d in docs:
            if d not in texts:
                errors.append('%s: doc_id not in corpus: %s' % (qid, d))
        answers = q.get('answers')
        if not isinstance(answers, list):
            errors.append('%s: answers must be a list' % qid)
            answers = []
        if q.get('answerable') is True:
            n_ans += 1
            kinds[q.get('kind')] += 1
            if not answers:
                errors.append('%s: answerable but no answers' % qid)
            if not docs:
                errors.append('%s: answerable but no doc_ids' % qid)
            for d in docs:
                if d not in PART:
                    errors.append('%s: doc_id outside the %s part: %s'
                                  % (qid, 'held-out' if heldout_mode else 'dev', d))
            ev = norm(q.get('evidence') or '')
            if not ev:
                errors.append('%s: answerable but no evidence' % qid)
            elif not any(ev in texts.get(d, '') for d in docs):
                warnings.append('%s: evidence not verbatim in a listed doc (markup/links?)' % qid)
            for a in answers:
                if not isinstance(a, str) or not a.strip():
                    errors.append('%s: empty/non-string answer' % qid)
                    continue
                in_head = whosaid_mode and q.get('kind') == 'who' and any(a in heads.get(d, '') for d in docs)
                if not any(a in texts.get(d, '') for d in docs) and not in_head:
                    errors.append('%s: answer %r not found in clean text of listed docs' % (qid, a))
                if ev and a not in ev and not (whosaid_mode and q.get('kind') == 'who'):
                    warnings.append('%s: answer %r not inside the evidence sentence' % (qid, a))
                if len(a.split()) > 8:
                    warnings.append('%s: answer %r longer than 8 words' % (qid, a))
                if len(a) >= 6 and not whosaid_mode:
                    others = [d for d in PART if d not in docs and a in texts[d]]
                    if others:
                        warnings.append('%s: answer %r also occurs in unlisted %s doc(s): %s'
                                        % (qid, a, 'held-out' if heldout_mode else 'dev',
                                           ', '.join(others)))
        elif q.get('answerable') is False:
            n_unans += 1
            kinds['unanswerable:' + str(q.get('kind'))] += 1
            if answers:
                errors.append('%s: unanswerable but answers non-empty' % qid)
            if q.get('evidence') is not None:
                errors.append('%s: unanswerable but evidence not null' % qid)
            if not q.get('check'):
                errors.append('%s: unanswerable without a "check" note' % qid)
            for d in docs:
                if d not in PART:
                    errors.append('%s: near-miss doc_id outside the %s part: %s'
                                  % (qid, 'held-out' if heldout_mode else 'dev', d))
        else:
            errors.append('%s: answerable must be true or false' % qid)

    print('corpus docs: %d (new primary sources: %d; dev part: %d; held-out: %d)'
          % (len(texts), len(new_docs), len(DEV), len(held_out)))
    print('file: %s' % os.path.basename(path))
    print('questions: %d answerable, %d unanswerable, %d total' % (n_ans, n_unans, n_ans + n_unans))
    print('answerable per kind:')
    for k in sorted(KINDS):
        print('  %-10s %3d' % (k, kinds[k]))
    print('unanswerable per kind:')
    for k in sorted(KINDS):
        if kinds['unanswerable:' + k]:
            print('  %-10s %3d' % (k, kinds['unanswerable:' + k]))
    if whosaid_mode:
        print('per form (all items):')
        for k in sorted(FORMS):
            print('  %-18s %3d' % (k, kinds['form:' + k]))
    print('warnings: %d' % len(warnings))
    for w in warnings:
        print('  WARN ' + w)
    print('errors: %d' % len(errors))
    for e in errors:
        print('  ERROR ' + e)
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
