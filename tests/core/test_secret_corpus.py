"""The scanner's two promises on real text, bounded to a few seconds (bench/secret_scan.py runs the
larger sweep): no finding at all on ordinary source files — this project's own tree outside tests/
and a fixed sample of installed packages — and at least 95 % recall on planted fakes of every rule.

Test suites are left out of the false-positive corpus on purpose: this project's tests plant fake
keys (tests/gateway.py's `sk-ant-api03-PROVIDER-SECRET-…`), and a scanner that found nothing there
would be the broken one. bench/secret_scan.py counts them apart.
"""

from __future__ import annotations

import sysconfig
from collections import Counter
from pathlib import Path

from core.secrets.rules import DEFAULT_RULE_IDS
from core.secrets.scan import SecretScanner
from tests.core.secret_samples import GENERATORS, PACKAGE_SAMPLE, PROJECT_DIRS, planted, read_text, source_files

ROOT = Path(__file__).parents[2]
SALT = b"corpus-salt-0123456789"
MAX_PACKAGE_CHARS = 6_000_000  # bounds the test's time whatever is installed


def _corpus() -> list[tuple[Path, str]]:
    files = [path for name in PROJECT_DIRS if (ROOT / name).is_dir() for path in source_files(ROOT / name)]
    files += [ROOT / "README.md", ROOT / "pyproject.toml"]
    site = Path(sysconfig.get_paths()["purelib"])
    total = 0
    for package in PACKAGE_SAMPLE:
        if not (site / package).is_dir():
            continue
        for path in source_files(site / package):
            if total > MAX_PACKAGE_CHARS:
                break
            files.append(path)
            total += path.stat().st_size
    texts = [(path, text) for path in files if (text := read_text(path)) is not None]
    assert sum(len(text) for _, text in texts) > 1_000_000, "the corpus is too small to mean anything"
    return texts


def test_no_findings_on_ordinary_source_files() -> None:
    scanner = SecretScanner(SALT)
    found = [(str(path), finding.rule, finding.line) for path, text in _corpus() for finding in scanner.scan(text)]
    assert found == []


def test_recall_on_planted_fakes_of_every_rule() -> None:
    scanner = SecretScanner(SALT)
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for rule, text in planted(seed=21, per_rule=40):
        totals[rule] += 1
        hits[rule] += rule in {finding.rule for finding in scanner.scan(text)}
    assert set(totals) == set(GENERATORS) == set(DEFAULT_RULE_IDS)
    recall = {rule: hits[rule] / totals[rule] for rule in totals}
    assert min(recall.values()) >= 0.95, recall
