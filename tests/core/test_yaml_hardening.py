"""Hostile catalogue and rulebook files (issue 8): each refused in one line naming file and line.

Times and memory are measured by `benchmarks/bench_yaml.py` (figures in
benchmarks/RESULTS.md), not asserted here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from credence.core.catalogue import CatalogueError, default_catalogue_path, load_catalogue
from credence.core.rulebook import RulebookError, load_rulebook, preset_names, resolve_rulebook_path
from credence.core.yamlfile import LIMITS, YamlError, YamlLimits, _LineLoader, load_yaml

DEEP = 100_000


def alias_bomb(levels: int = 20, width: int = 75) -> bytes:
    """About 8 KB that PyYAML would expand to 75**20 strings."""
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return ("\n".join(lines) + "\n").encode()


def refused(tmp_path: Path, data: bytes, name: str = "x.yaml", **limits: int) -> str:
    """The one-line error for `data`, checked to name the file."""
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(YamlError) as info:
        load_yaml(path, YamlLimits(**limits) if limits else LIMITS)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(str(path).replace("\n", "\\n") + ":"), message
    return message


def line_of(message: str, path: Path) -> int:
    match = re.match(rf"{re.escape(str(path))}:(\d+): ", message)
    assert match, f"no file:line in {message!r}"
    return int(match.group(1))


def test_alias_bomb_is_refused_at_its_first_anchor(tmp_path: Path) -> None:
    bomb = alias_bomb()
    assert 7_000 < len(bomb) < 9_000
    message = refused(tmp_path, bomb)
    assert line_of(message, tmp_path / "x.yaml") == 1
    assert "anchor &a0 is not allowed" in message


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("a: &x 1\nb: *x\n", 1, "anchor &x"),
        ("a: 1\nb: *x\n", 2, "alias *x"),
        ("a: [&x {k: 1}]\n", 1, "anchor &x"),
        ("a:\n  b: &list\n    - 1\n", 2, "anchor &list"),
        ("a:\n  <<: *base\n", 2, "alias *base"),
    ],
)
def test_every_anchor_and_alias_is_refused(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    message = refused(tmp_path, text.encode())
    assert line_of(message, tmp_path / "x.yaml") == line
    assert words in message


@pytest.mark.parametrize(
    "text",
    [
        "a: !!str 1\n",
        "a: !!int '1'\n",
        "a: !!binary aGVsbG8=\n",
        "a: !!timestamp 2024-01-01\n",
        "a: !!python/object/apply:os.system ['true']\n",
        "a: !!python/name:os.system\n",
        "a: !foo 1\n",
        "a: ! 1\n",
        "a: !<tag:yaml.org,2002:str> 1\n",
        "a: !!seq [1]\n",
        "a: !!map {b: 1}\n",
        "a: !!set {b}\n",
        "a: !!omap [b: 1]\n",
        "a: !local\n  b: 1\n",
        "--- !!map\na: 1\n",
        "%TAG !e! tag:example.com,2000:\n---\na: !e!x 1\n",
    ],
)
def test_every_tag_is_refused(tmp_path: Path, text: str) -> None:
    message = refused(tmp_path, text.encode())
    line_of(message, tmp_path / "x.yaml")
    assert "tag " in message and "is not allowed" in message


def test_python_tags_are_named_as_written(tmp_path: Path) -> None:
    message = refused(tmp_path, b"a: !!python/object/apply:os.system ['true']\n")
    assert "tag !!python/object/apply:os.system is not allowed" in message


@pytest.mark.parametrize(
    "data",
    [
        b"a: " + b"[" * DEEP + b"]" * DEEP + b"\n",
        b"a: " + b"[" * DEEP,  # unclosed: refused before the end is read
        b"a:\n" + b"- " * DEEP + b"x\n",
        b"a: " + b"{a: " * (DEEP // 2) + b"}" * (DEEP // 2) + b"\n",
        b"? " * DEEP + b"x\n",
        b"- [" * (DEEP // 2),
    ],
    ids=["flow-lists", "unclosed", "block-lists", "flow-mappings", "keys", "mixed"],
)
def test_deep_nesting_is_refused(tmp_path: Path, data: bytes) -> None:
    message = refused(tmp_path, data)
    line_of(message, tmp_path / "x.yaml")
    assert f"nested deeper than {LIMITS.max_depth} levels" in message


def test_nesting_up_to_the_bound_is_accepted(tmp_path: Path) -> None:
    depth = LIMITS.max_depth
    ok = tmp_path / "ok.yaml"
    ok.write_text("a: " + "[" * (depth - 1) + "]" * (depth - 1) + "\n", encoding="utf-8")
    assert load_yaml(ok)["a"] == eval("[" * (depth - 1) + "]" * (depth - 1))
    block = "".join("  " * i + "k:\n" for i in range(depth))
    refused(tmp_path, (block + "  " * depth + "k: 1\n").encode())
    ok.write_text(block, encoding="utf-8")
    assert load_yaml(ok)["k"] is not None


def test_a_file_beyond_the_size_bound_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, b"a: '" + b"x" * LIMITS.max_bytes + b"'\n")
    assert f"larger than {LIMITS.max_bytes:,} bytes" in message
    ok = tmp_path / "ok.yaml"
    ok.write_bytes(b"a: '" + b"x" * (LIMITS.max_bytes - 6) + b"'\n")
    assert len(load_yaml(ok)["a"]) == LIMITS.max_bytes - 6


def test_too_many_values_are_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, b"a: [" + b"1," * 200 + b"]\n", max_nodes=100)
    assert "more than 100 values" in message


@pytest.mark.parametrize(
    ("data", "line", "offset"),
    [
        (b"a: 1\nb: \xff\n", 2, 8),
        (b"a: '\xc3\x28'\n", 1, 4),  # broken two-byte sequence
        (b"a: '\xed\xa0\x80'\n", 1, 4),  # an encoded surrogate
        (b"a: '\xc0\xaf'\n", 1, 4),  # overlong
        (b"\xef\xbb\xbfa: 1\n\n\xfe\n", 3, 9),  # offset counted from the first byte, BOM included
        (b"a: '\xe4\xb8'", 1, 4),  # truncated at the end
    ],
)
def test_invalid_utf8_is_refused_with_line_and_offset(
    tmp_path: Path, data: bytes, line: int, offset: int
) -> None:
    message = refused(tmp_path, data)
    assert line_of(message, tmp_path / "x.yaml") == line
    assert f"not UTF-8: byte 0x{data[offset]:02x} at offset {offset}" in message


@pytest.mark.parametrize(
    ("encoding", "name"),
    [("utf-16", "UTF-16"), ("utf-16-be", None), ("utf-32", "UTF-32")],
)
def test_utf16_and_utf32_are_refused(tmp_path: Path, encoding: str, name: str | None) -> None:
    data = ("\ufeff" if name is None else "") + "a: 1\n"
    message = refused(tmp_path, data.encode(encoding))
    assert line_of(message, tmp_path / "x.yaml") == 1
    assert f"file is {name or 'UTF-16'}; save it as UTF-8" in message


def test_utf8_with_a_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeffa: 中文\nb:\n  c: 2\n".encode())
    data = load_yaml(path)
    assert data["a"] == "中文" and data["b"]["c"] == 2
    assert data["b"]["__line__"] == 3


@pytest.mark.parametrize(
    ("data", "line", "words"),
    [
        (b"a: 1\nb: \x00\n", 2, "U+0000 is not allowed"),
        (b"a: 1\n\x1b[31m\n", 2, "U+001B is not allowed"),
        (b"a: 2024-13-45\n", 1, "cannot read value '2024-13-45'"),
        (b"a: 1\nb: " + b"9" * 5000 + b"\n", 2, "cannot read value '9999"),
        (b"a: [1\n", 2, "not valid YAML: expected ',' or ']'"),
        (b"a: 1\n---\nb: 2\n", 2, "not valid YAML"),
        (b"a:\n\tb: 1\n", 2, "not valid YAML"),
        (b"? [a]\n: 1\n", 1, "unhashable key"),
        (b"a: 'x\n\n", 3, "not valid YAML"),
    ],
)
def test_other_bad_files_are_one_line_errors(
    tmp_path: Path, data: bytes, line: int, words: str
) -> None:
    message = refused(tmp_path, data)
    assert line_of(message, tmp_path / "x.yaml") == line
    assert words in message


def test_a_file_name_with_a_line_break_stays_on_one_line(tmp_path: Path) -> None:
    message = refused(tmp_path, b"a: *x\n", name="evil\nname.yaml")
    assert "evil\\nname.yaml:1: alias *x" in message


def test_a_top_level_list_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_bytes(b"- 1\n")
    with pytest.raises(YamlError, match=r"list\.yaml: expected a mapping at the top level$"):
        load_yaml(path)


def test_the_loader_never_uses_the_c_parser() -> None:
    """libyaml's composer is C and cannot be overridden: the checks would not run."""
    assert issubclass(_LineLoader, yaml.parser.Parser)
    assert not any(cls.__module__ == "yaml._yaml" for cls in _LineLoader.__mro__)


def test_catalogue_and_rulebook_errors_carry_the_yaml_error(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_bytes(alias_bomb())
    with pytest.raises(CatalogueError, match=r"bomb\.yaml:1: anchor &a0 is not allowed"):
        load_catalogue(path)
    catalogue = load_catalogue(default_catalogue_path())
    with pytest.raises(RulebookError, match=r"bomb\.yaml:1: anchor &a0 is not allowed"):
        load_rulebook(path, catalogue)


def shipped_files() -> list[Path]:
    return [default_catalogue_path()] + [resolve_rulebook_path(n) for n in preset_names()]


@pytest.mark.parametrize("path", shipped_files(), ids=lambda p: p.name)
def test_shipped_files_are_plain_yaml(path: Path) -> None:
    """No anchors, aliases or tags, and far inside every bound."""
    text = path.read_text(encoding="utf-8")
    assert len(text.encode()) < LIMITS.max_bytes // 4
    depth = nodes = 0
    for event in yaml.parse(text):
        assert not isinstance(event, yaml.AliasEvent)
        assert getattr(event, "anchor", None) is None and getattr(event, "tag", None) is None
        nodes += isinstance(event, yaml.NodeEvent)
        depth += isinstance(event, yaml.CollectionStartEvent)
        depth -= isinstance(event, yaml.CollectionEndEvent)
        assert depth < LIMITS.max_depth // 4
    assert nodes < LIMITS.max_nodes // 4


def test_presets_still_load() -> None:
    catalogue = load_catalogue(default_catalogue_path())
    assert len(catalogue.items) == 50  # 48 + business-registration (11), resident-registration (12)
    for name in preset_names():
        assert load_rulebook(resolve_rulebook_path(name), catalogue).name
