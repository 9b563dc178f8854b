"""Presidio for comparison (optional; not a project dependency). Run it from its own venv:

    python3 -m venv /tmp/presidio && /tmp/presidio/bin/pip install presidio-analyzer
    /tmp/presidio/bin/python bench/pii/presidio_compare.py

Offline, no spaCy model can be downloaded, so Presidio runs on a *blank* English spaCy pipeline:
its pattern recognizers work (phone, e-mail, card, IP, US IDs), its NER-based PERSON/LOCATION do
not. The figure is CPU time of one core over the same ~65-byte rows as the ``short_dense`` corpus
of run.py (written to /tmp by run.py's generator here), plus what it reports on the hand-written set.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

import spacy
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NlpEngineProvider

from axops.pii import synthetic


def main() -> None:
    blank = Path("/tmp/presidio_blank_en")
    spacy.blank("en").to_disk(blank)
    provider = NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": str(blank)}]}
    )
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    texts = [s.text for s in synthetic.generate(2000, seed=11, pii_rate=0.6, decoy_rate=0.3, sentences=(1, 2))]
    mb = sum(len(t.encode()) for t in texts) / 1e6
    engine.analyze(text=texts[0], language="en")
    t0 = time.process_time()
    for t in texts:
        engine.analyze(text=t, language="en")
    dt = time.process_time() - t0
    print(f"presidio, blank spaCy: {mb / dt:.3f} MB/s on {len(texts)} rows of {mb * 1e6 / len(texts):.0f} B")
    rows = [json.loads(x) for x in (ROOT / "tests/data/pii_heldout.jsonl").read_text().splitlines()]
    found = Counter(f.entity_type for r in rows for f in engine.analyze(text=r["text"], language="en"))
    print("reported on the hand-written set:", dict(found))


if __name__ == "__main__":
    main()
