"""GitHub Actions filter patterns: the documented cheat sheet, edge cases and properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.globs import (
    any_included,
    any_not_ignored,
    check_patterns,
    compile_pattern,
    included,
    last_match,
)

# GitHub docs, "Filter pattern cheat sheet": (patterns, matching names, non-matching names).
# The "match" column is GitHub's; the "no match" column follows from each row's description.
BRANCHES_AND_TAGS = [
    (["feature/*"], ["feature/my-branch", "feature/your-branch"],
     ["feature/beta-a/my-branch", "feature", "features/x"]),
    (["feature/**"], ["feature/beta-a/my-branch", "feature/your-branch", "feature/mona/the/octocat"],
     ["feature", "my-feature/x"]),
    (["main", "releases/mona-the-octocat"], ["main", "releases/mona-the-octocat"],
     ["main2", "releases/mona", "xmain"]),
    (["*"], ["main", "releases"], ["releases/v1", "all/the/branches"]),
    (["**"], ["all/the/branches", "every/tag", "main"], []),
    (["*feature"], ["mona-feature", "feature", "ver-10-feature"], ["feature-x", "a/feature"]),
    (["v2*"], ["v2", "v2.0", "v2.9"], ["v1.0", "v2/x", "xv2"]),
    (["v[12].[0-9]+.[0-9]+"], ["v1.10.1", "v2.0.0"], ["v3.0.0", "v1.x.1", "v1..1", "v1.0"]),
    (["releases/**", "!releases/**-alpha"], ["releases/10", "releases/beta/mona"],
     ["releases/10-alpha", "releases/beta/3-alpha"]),
]

PATHS = [
    (["*"], ["README.md", "server.rb"], ["docs/README.md"]),
    (["*.jsx?"], ["page.js", "page.jsx"], ["page.jsxx", "src/page.js", "page.ts"]),
    (["**"], ["all/the/files.md", "README.md"], []),
    (["*.js"], ["app.js", "index.js"], ["js/index.js", "app.jsx"]),
    (["**.js"], ["index.js", "js/index.js", "src/js/app.js"], ["index.ts", "js/index.jsx"]),
    (["docs/*"], ["docs/README.md", "docs/file.txt"], ["docs/mona/octocat.txt", "README.md"]),
    (["docs/**"], ["docs/README.md", "docs/mona/octocat.txt"], ["README.md", "a/docs/x.md"]),
    (["docs/**/*.md"], ["docs/README.md", "docs/mona/hello-world.md", "docs/a/markdown/file.md"],
     ["docs/a.txt", "README.md"]),
    (["**/docs/**"], ["docs/hello.md", "dir/docs/my-file.txt", "space/docs/plan/space.doc"],
     ["documents/x", "docs"]),
    (["**/README.md"], ["README.md", "js/README.md"], ["README.mdx", "js/README.txt"]),
    (["**/*src/**"], ["a/src/app.js", "my-src/code/js/app.js"], ["src-a/app.js", "app.js"]),
    (["**/*-post.md"], ["my-post.md", "path/their-post.md"], ["post.md", "path/post.md"]),
    (["**/migrate-*.sql"], ["migrate-10909.sql", "db/migrate-v1.0.sql", "db/sept/migrate-v1.sql"],
     ["db/migrate.sql", "migrate-1.sql.bak"]),
    (["*.md", "!README.md"], ["hello.md"], ["README.md", "docs/hello.md"]),
    (["*.md", "!README.md", "README*"], ["hello.md", "README.md", "README.doc"], ["docs/hello.md"]),
]


def _ids(table: list[tuple[list[str], list[str], list[str]]]) -> list[str]:
    return [",".join(row[0]) for row in table]


@pytest.mark.parametrize(("patterns", "yes", "no"), BRANCHES_AND_TAGS, ids=_ids(BRANCHES_AND_TAGS))
def test_cheat_sheet_branches_and_tags(patterns: list[str], yes: list[str], no: list[str]) -> None:
    for name in yes:
        assert included(patterns, name), f"{patterns} should match {name}"
    for name in no:
        assert not included(patterns, name), f"{patterns} should not match {name}"


@pytest.mark.parametrize(("patterns", "yes", "no"), PATHS, ids=_ids(PATHS))
def test_cheat_sheet_paths(patterns: list[str], yes: list[str], no: list[str]) -> None:
    for name in yes:
        assert included(patterns, name), f"{patterns} should match {name}"
    for name in no:
        assert not included(patterns, name), f"{patterns} should not match {name}"


@pytest.mark.parametrize(("pattern", "yes", "no"), [
    ("[CB]at", ["Cat", "Bat"], ["cat", "Rat", "CBat"]),
    ("[1-2]00", ["100", "200"], ["300", "00"]),
    ("[0-9a-f]", ["7", "c"], ["g", "A"]),
    ("Octo*", ["Octocat", "Octo"], ["Octo/cat"]),
    ("a+b", ["ab", "aaab"], ["b", "a+b"]),
    ("+x", ["+x"], ["x"]),  # nothing to repeat: literal
    ("?x", ["?x"], ["x"]),
    ("a\\*b", ["a*b"], ["axb", "ab"]),
    ("\\!file", ["!file"], ["file"]),
    ("escape\\\\backslash", ["escape\\backslash"], ["escapebackslash"]),
    (".yml", [".yml"], ["fyml"]),
    ("a]b", ["a]b"], ["ab"]),
    ("x?+", ["", "x", "xxx"], ["y"]),  # '?' then '+' on one character: zero or more
])
def test_special_characters(pattern: str, yes: list[str], no: list[str]) -> None:
    for name in yes:
        assert compile_pattern(pattern).matches(name)
    for name in no:
        assert not compile_pattern(pattern).matches(name)


@pytest.mark.parametrize(("pattern", "fragment"), [
    ("!", "negates nothing"),
    ("", "empty filter pattern"),
    ("[]", "empty brackets"),
    ("v[0-9", "without a closing ']'"),
    ("[!a]", "'!' in brackets"),
    ("[a-Z]", "range 'a-Z'"),
    ("[9-0]", "range '9-0'"),
    ("[.]", "'.' in brackets"),
    ("oops\\", "escapes nothing"),
    ("!x[", "position 3"),  # positions count the '!'
])
def test_invalid_patterns_raise_a_clear_value_error(pattern: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)):
        compile_pattern(pattern)


def test_last_match_wins_and_reports_the_pattern() -> None:
    patterns = ["*.md", "!README.md", "README*"]
    found = last_match(patterns, "README.md")
    assert found is not None and found.source == "README*" and not found.negated
    found = last_match(["*.md", "!README.md"], "README.md")
    assert found is not None and found.negated
    assert last_match(patterns, "x.txt") is None


def test_path_list_semantics() -> None:
    assert any_included(["**.js"], ["README.md", "src/app.js"])
    assert not any_included(["**.js"], ["README.md"])
    assert any_not_ignored(["docs/**"], ["docs/a.md", "src/a.py"])
    assert not any_not_ignored(["docs/**"], ["docs/a.md", "docs/b/c.md"])
    assert not any_included(["**"], [])


def test_compiled_once() -> None:
    assert compile_pattern("feature/**") is compile_pattern("feature/**")


def test_check_patterns() -> None:
    assert check_patterns(["main", "!main-old"], include_list=True) == []
    problems = check_patterns(["!main"], include_list=True)
    assert [p.severity for p in problems] == ["warning", "error"]
    assert "at least one positive pattern" in problems[-1].message
    assert check_patterns(["!main"], include_list=False) == []
    [bad] = check_patterns(["ok", "v[0-9"], include_list=True)
    assert bad.index == 1 and bad.severity == "error"
    [lead] = check_patterns(["/src/**"], include_list=True, paths=True)
    assert lead.severity == "warning" and "never matches" in lead.message
    [wrong] = check_patterns([3], include_list=True)
    assert "string" in wrong.message


# --- properties -------------------------------------------------------------------------------

SPECIAL = set("*?+[\\")
literal = st.text(min_size=1, max_size=30).filter(
    lambda s: not (set(s) & SPECIAL) and not s.startswith("!"))


@given(literal, st.text(max_size=30))
@settings(max_examples=300, deadline=None)
def test_literal_patterns_match_exactly_themselves(pattern: str, other: str) -> None:
    assert included([pattern], pattern)
    assert included([pattern], other) == (other == pattern)
    assert not included([pattern], pattern + "x")


@given(st.text(max_size=60))
@settings(max_examples=300, deadline=None)
def test_double_star_matches_everything(name: str) -> None:
    assert included(["**"], name)
    assert included(["*", "**"], name)


@given(literal, st.text(max_size=20))
@settings(max_examples=200, deadline=None)
def test_a_later_negation_of_a_match_excludes(name: str, prefix: str) -> None:
    assert not included(["**", "!" + name], name)
    assert included(["**", "!" + name, name], name)  # and a later positive one includes again
    assert not included([name, "!**"], name)


@given(st.text(max_size=20), st.text(max_size=40))
@settings(max_examples=500, deadline=None)
def test_never_raises_except_value_error_at_compile(pattern: str, name: str) -> None:
    try:
        compiled = compile_pattern(pattern)
    except ValueError as err:
        assert "pattern" in str(err)
        return
    assert isinstance(compiled.matches(name), bool)
    assert isinstance(included([pattern], name), bool)


@given(st.from_regex(r"[a-z0-9*?+/.\-]{0,12}", fullmatch=True), st.text(alphabet="ab/.-", max_size=40))
@settings(max_examples=300, deadline=None)
def test_patterns_from_the_special_alphabet_compile_and_match(pattern: str, name: str) -> None:
    if pattern:
        assert isinstance(compile_pattern(pattern).matches(name), bool)


def test_star_never_crosses_a_slash() -> None:
    assert not included(["*"], "a/b")
    assert included(["*/*"], "a/b")
    assert not included(["a*"], "ab/c")


def test_many_stars_stay_fast() -> None:
    pattern = "**/" * 8 + "*a*a*a*a*b"
    assert not included([pattern], "a" * 40 + "/" + "a" * 40 + "c")
