"""The documentation as a reader meets it: a short README whose links (and anchors) resolve,
every page reachable from it, and a pipeline picture that is the workflow's own rule graph."""

from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest

from selectbench import rulegraph

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted({ROOT / "README.md", ROOT / "CONTRIBUTING.md",
                *(ROOT / "config").rglob("*.md"), *(ROOT / "docs").rglob("*.md")})
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code (links there are not links)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces → '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)      # a link keeps its text
    text = text.replace("`", "").replace("*", "").strip().lower()
    return "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN").replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    seen: dict[str, int] = {}
    out = set()
    for m in re.finditer(r"^#{1,6} (.+?)\s*#*$", text, flags=re.M):
        s = slug(m.group(1))
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else f"{s}-{n}")
    return out


def links(path: Path) -> list[str]:
    """The relative link targets of a page (http:, https:, mailto: … left out)."""
    return [m.group(1) for m in LINK.finditer(prose(path.read_text(encoding="utf-8")))
            if not re.match(r"[a-z][a-z0-9+.-]*:", m.group(1))]


def resolve(page: Path, target: str) -> tuple[Path, str]:
    """(file or folder, anchor) that a relative link of `page` points to."""
    where, _, anchor = target.partition("#")
    dest = page if not where else (page.parent / unquote(where)).resolve()
    return dest, unquote(anchor)


def test_slug_follows_github():
    assert slug("3. Add a scorer and a selector from your own package (a plug-in)") == \
        "3-add-a-scorer-and-a-selector-from-your-own-package-a-plug-in"
    assert slug("Do not use `--list-changes params`") == "do-not-use---list-changes-params"
    assert slug("The demo's verdict") == "the-demos-verdict"
    assert slug("Per-example records (`samples.<task>`)") == "per-example-records-samplestask"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    bad = []
    for target in links(page):
        dest, anchor = resolve(page, target)
        if not dest.exists():
            bad.append(f"{target}: no such file {dest}")
        elif anchor and (dest.is_dir() or dest.suffix != ".md"):
            bad.append(f"{target}: an anchor into something that is not a Markdown page")
        elif anchor and anchor not in anchors(dest):
            bad.append(f"{target}: {dest.relative_to(ROOT)} has no heading with anchor #{anchor}")
    assert not bad, f"{page.relative_to(ROOT)}:\n  " + "\n  ".join(bad)


def test_link_checker_catches_a_broken_link_and_anchor(tmp_path):
    (tmp_path / "a.md").write_text("# A\n\n## Real heading\n\n[ok](#real-heading) [x](b.md) [y](a.md#nope)\n"
                                   "[web](https://example.org) `[not](a link.md)`\n```\n[nor](this.md)\n```\n")
    page = tmp_path / "a.md"
    assert links(page) == ["#real-heading", "b.md", "a.md#nope"]
    assert resolve(page, "#real-heading")[1] in anchors(page)
    assert not resolve(page, "b.md")[0].exists()
    assert "nope" not in anchors(page)


def test_every_page_is_reachable_from_the_readme():
    """A page moved out of the README must stay findable: each one is linked, directly or through
    other pages, from README.md."""
    seen, todo = set(), [ROOT / "README.md"]
    while todo:
        page = todo.pop()
        if page in seen:
            continue
        seen.add(page)
        for target in links(page):
            dest, _ = resolve(page, target)
            if dest.is_dir() and (dest / "README.md").exists():
                dest = dest / "README.md"
            if dest.suffix == ".md" and dest.exists():
                todo.append(dest)
    unreachable = sorted(str(p.relative_to(ROOT)) for p in PAGES if p not in seen)
    assert not unreachable, f"pages no link from README.md leads to: {unreachable}"


def test_readme_is_short():
    n = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert n <= 200, f"README.md has {n} lines; move detail to a linked page (docs/, config/README.md)"


def test_readme_rule_graph_is_current():
    """`make rulegraph` runs `selectbench rulegraph --write README.md`; its output is the README's."""
    res = subprocess.run([sys.executable, "-m", "selectbench.cli", "rulegraph"], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    graph = res.stdout
    assert rulegraph.section((ROOT / "README.md").read_text(encoding="utf-8")) == graph, \
        "README's rule graph is stale: run `make rulegraph`"
    for rule in ("make_raw_pool", "normalize_pool", "score", "select", "finetune", "evaluate"):
        assert f"  {rule} -->" in graph or f"--> {rule}\n" in graph, rule


def test_rule_graph_collapses_report_rules_and_keeps_every_edge():
    text = ("flowchart TB\n\tid0[all]\n\tid1[report_a]\n\tid2[report_b]\n\tid3[select]\n\tid4[score]\n"
            "\tstyle id0 fill:#D95757\n\tid1 --> id0\n\tid2 --> id0\n\tid1 --> id2\n\tid3 --> id1\n"
            "\tid4 --> id3\n\tid4 --> id2\n")
    rules, edges = rulegraph.parse_mermaid(text)
    assert rules == ["all", "report_a", "report_b", "select", "score"]
    kept, merged, n = rulegraph.collapse(rules, edges)
    assert n == 2 and kept == ["select", "score", "reports"]
    assert merged == [("select", "reports"), ("score", "select"), ("score", "reports")]
    out = rulegraph.render(kept, merged, n)
    assert out.splitlines()[3:6] == ["  score --> select", "  score --> reports", "  select --> reports"]
    assert '(2 rules)' in out
    with pytest.raises(ValueError, match="no rules"):
        rulegraph.parse_mermaid("digraph {}")


def test_rulegraph_write_replaces_only_its_section(tmp_path):
    page = tmp_path / "README.md"
    page.write_text(f"intro\n{rulegraph.START}\nold\n{rulegraph.END}\nrest\n")
    assert rulegraph.write(page, "```mermaid\nnew\n```\n")
    assert page.read_text() == f"intro\n{rulegraph.START}\n```mermaid\nnew\n```\n{rulegraph.END}\nrest\n"
    assert not rulegraph.write(page, "```mermaid\nnew\n```\n")
