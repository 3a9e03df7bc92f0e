"""The repository's own text files: no leftover merge-conflict markers (a merge once left one
in BENCHMARKS.md and every test still passed)."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".git", ".venv", "runs", "data", "__pycache__", "node_modules"}
TEXT = {".py", ".md", ".json", ".sh", ".toml", ".cfg", ".txt", ".yaml", ".yml"}
MARKER = re.compile(r"^(<{7} |>{7} |={7}$)", re.M)


def _text_files():
    for p in ROOT.rglob("*"):
        rel = p.relative_to(ROOT)
        if rel.parts and (rel.parts[0] in SKIP or any(part in SKIP for part in rel.parts)):
            continue
        if p.is_file() and (p.suffix in TEXT or p.name in {"Makefile", "run"}):
            yield p


def test_no_merge_conflict_markers():
    hits = []
    for p in _text_files():
        text = p.read_text(encoding="utf-8", errors="replace")
        for m in MARKER.finditer(text):
            hits.append(f"{p.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}")
    assert not hits, "merge-conflict markers left in: " + ", ".join(hits)


def test_marker_pattern_finds_a_conflict():
    sample = "a\n<<<<<<< HEAD\nb\n=======\nc\n>>>>>>> branch\n"
    assert len(MARKER.findall(sample)) == 3
