"""Every closed form has a proof, every proof cites code and tests that exist.

The project's rule: each closed form in theory/ has a proof in proofs/ and a test
that can fail. These checks keep the cross-references honest as files move.
"""

from __future__ import annotations

import importlib
import inspect
import pathlib
import re
import sys
import types

import pytest

from collapse_jax import verify

ROOT = pathlib.Path(__file__).resolve().parents[1]
PROOFS = ROOT / "proofs"
FILES = sorted(p for p in PROOFS.glob("*.md") if p.name != "README.md")
SECTIONS = [
    "Statement",
    "Assumptions",
    "Proof",
    "Implementation",
    "Tests",
    "References",
]


def _closed_form_modules() -> tuple[types.ModuleType, ...]:
    """The theory modules the registered verify claims check against.

    Derived from the claim registry: the ``collapse_jax.theory`` modules that the
    modules declaring the claims import. A new claim module brings its theory
    module into every check below without a list to edit.
    """
    found = {}
    for claim in verify.claims():
        for value in vars(sys.modules[claim.check.__module__]).values():
            if isinstance(value, types.ModuleType) and value.__name__.startswith(
                "collapse_jax.theory."
            ):
                found[value.__name__] = value
    return tuple(found[name] for name in sorted(found))


CLOSED_FORM_MODULES = _closed_form_modules()
THEORY_NAMES = "|".join(m.__name__.rsplit(".", 1)[1] for m in CLOSED_FORM_MODULES)


def test_there_are_proofs():
    assert len(FILES) >= 15


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_proof_has_every_section(path):
    headings = re.findall(r"(?m)^#+\s*(.+?)\s*$", path.read_text())
    for section in SECTIONS:
        assert any(h.startswith(section) for h in headings), (path.name, section)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_proof_is_indexed(path):
    assert f"({path.name})" in (PROOFS / "README.md").read_text()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_cited_code_and_tests_exist(path):
    text = path.read_text()
    for module, name in re.findall(
        rf"(?:collapse_jax\.theory\.)?\b({THEORY_NAMES})\.([a-z_0-9]+)\b", text
    ):
        mod = importlib.import_module(f"collapse_jax.theory.{module}")
        if name in {"py", "md"}:
            continue
        assert hasattr(mod, name), f"{path.name} cites {module}.{name}"
    for test_path in re.findall(r"tests/[A-Za-z_/0-9]+\.py", text):
        assert (ROOT / test_path).exists(), f"{path.name} cites {test_path}"




def test_every_theory_function_has_a_proof_citing_it():
    corpus = "\n".join(p.read_text() for p in FILES)
    for module in CLOSED_FORM_MODULES:
        short = module.__name__.rsplit(".", 1)[1]
        for name in module.__all__:
            assert f"{short}.{name}" in corpus or name in corpus, name


def test_every_theory_docstring_cites_an_existing_proof():
    for module in CLOSED_FORM_MODULES:
        for name in module.__all__:
            doc = inspect.getdoc(getattr(module, name)) or ""
            cited = re.findall(r"proofs/([a-z0-9-]+\.md)", doc)
            assert cited, f"{name} cites no proof"
            for fname in cited:
                assert (PROOFS / fname).exists(), f"{name} cites missing {fname}"


def test_every_verify_row_names_a_claim_with_a_proof():
    index = (PROOFS / "README.md").read_text()
    for claim in verify.claims():
        base = re.match(r"[A-Z]+-\d+", claim.id).group(0)
        assert f"| {base} |" in index, claim.id


def test_the_claim_registry_finds_every_closed_form_module():
    # The modules the claims import, not a list kept by hand: the ten topics today.
    names = {m.__name__.rsplit(".", 1)[1] for m in CLOSED_FORM_MODULES}
    assert {"gaussian", "discrete", "multivariate", "mixing", "bias"} <= names
    assert len(names) >= 10, names


def test_every_verify_claim_declares_its_indexed_proof():
    # A claim declares its proof file; the proofs index links that file in a row of
    # the claim's docs/theory.md id.
    index = (PROOFS / "README.md").read_text()
    for claim in verify.claims():
        base = re.match(r"[A-Z]+-\d+", claim.id).group(0)
        assert claim.proof, f"{claim.id} declares no proof file"
        assert (PROOFS / claim.proof).exists(), (claim.id, claim.proof)
        assert re.search(
            rf"(?m)^\| {base} \| \[{re.escape(claim.proof)}\]", index
        ), (claim.id, claim.proof)


# --- docs/theory.md: the project's own theory reference ------------------------------

REFERENCE = ROOT / "docs" / "theory.md"
# Every text file a user of the package can open (no build outputs or environments).
_SKIP = {".git", ".venv", "venv", "runs", "build", "dist", "__pycache__"}
_SKIP |= {".pytest_cache", ".hypothesis", ".ruff_cache"}
TEXT_FILES = sorted(
    p
    for p in ROOT.rglob("*")
    if p.is_file()
    and p.suffix in {".py", ".md", ".toml", ".txt", ".cfg", ".yml", ".yaml", ".rst"}
    and not _SKIP & set(p.relative_to(ROOT).parts)
)
# The private notes the project once cited (theory, design and style notes, by name
# or by section), and the directory beside it that holds them; spelt in pieces so
# that this file does not match itself.
_PRIVATE = re.compile(
    r"\b" + "THE" + r"ORY\b|\.\./" + "shared|" + "shared/" + r"(?:THE|the)" + "ory"
    + "|reference_" + "checks"
    + r"|\b(?:DE" + "SIGN|ST" + r"YLE)(?:\.md|\s*§)"
)
CLAIM_ID = re.compile(r"\b(?:SH|WF|GC|LR|SU|BE|AL|TT|SE|BO|MON|TW|GE|BL|WB)-E?\d+")


def _headings() -> set[str]:
    """The section numbers of docs/theory.md: "3", "12.1", ..."""
    return set(re.findall(r"(?m)^#{2,3} (\d+(?:\.\d+)?)\.? ", REFERENCE.read_text()))


def test_no_file_cites_the_private_theory_notes():
    assert len(TEXT_FILES) > 50
    hits = [
        f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
        for p in TEXT_FILES
        for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1)
        if _PRIVATE.search(line)
    ]
    assert not hits, "\n".join(hits)


def test_every_theory_section_cited_exists():
    sections = _headings()
    assert {str(n) for n in range(16)} <= sections and "12.3" in sections
    cited = [
        (p.relative_to(ROOT), number)
        for p in TEXT_FILES
        for number in re.findall(
            r"docs/theory\.md\W{0,3}§\s*(\d+(?:\.\d+)?)", p.read_text(errors="replace")
        )
    ]
    assert len(cited) > 20
    missing = [(str(p), n) for p, n in cited if n.rstrip(".") not in sections]
    assert not missing, missing


def test_every_claim_id_cited_is_in_the_theory_reference():
    text = REFERENCE.read_text()
    documented = set(CLAIM_ID.findall(text))
    cited = {}
    for p in TEXT_FILES:
        if p != REFERENCE:
            for claim in CLAIM_ID.findall(p.read_text(errors="replace")):
                cited.setdefault(claim, str(p.relative_to(ROOT)))
    cited.update({CLAIM_ID.match(c.id).group(0): "verify" for c in verify.claims()})
    missing = {c: where for c, where in cited.items() if c not in documented}
    assert not missing, missing
    # each claim has a heading of its own (or a row of an experiments table)
    for claim in cited:
        assert re.search(rf"(?m)^(### {claim}\b|\| {claim} \|)", text), claim


def test_the_theory_reference_points_at_files_and_functions_that_exist():
    text = REFERENCE.read_text()
    links = re.findall(r"\]\((\.\./[^)#]+)\)", text)
    assert len(links) > 40
    for link in links:
        assert (REFERENCE.parent / link).exists(), link
    for module, name in re.findall(rf"\b({THEORY_NAMES})\.([a-z_0-9]+)\b", text):
        if name in {"py", "md"}:
            continue
        mod = importlib.import_module(f"collapse_jax.theory.{module}")
        assert hasattr(mod, name), f"docs/theory.md cites {module}.{name}"
    for test_path in re.findall(r"tests/[A-Za-z_/0-9]+\.py", text):
        assert (ROOT / test_path).exists(), test_path
    for row in re.findall(r"`([A-Z]{2,3}-\d+[a-zA-Z]?)`", text):
        assert row in {c.id for c in verify.claims()}, f"no verify row {row}"
