from policyqa import Retriever, build_index


def test_small_corpus_round_trip(small_corpus, tmp_path, embedder):
    report = build_index(small_corpus, tmp_path / "index", embedder=embedder)
    assert set(report.added) == {"summit.md", "fees.txt", "rivers.md"}
    retriever = Retriever.open(tmp_path / "index", embedder=embedder)
    hits = retriever.search("How many countries attended the summit?", k=3)
    assert hits[0].doc_id == "summit.md"
    doc = retriever.document(hits[0].doc_id)
    assert doc.text[hits[0].start:hits[0].end] == hits[0].text
    assert "28 countries" in hits[0].text
