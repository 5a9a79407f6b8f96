"""YAML loading that remembers line numbers, for errors a person can act on.

Catalogues and rulebooks are edited by hand; an error must point at the file,
the line and the field ("catalogues/x.yaml:41: item 'social.prayer': ...").

They are also input from outside: a rulebook may come from anyone who can
hand an operator a file. So only plain YAML is read, within YamlLimits.
Anchors and aliases are refused (an 8 KB "billion laughs" file expands to
gigabytes once hashed), so are tags (`!!python/...`, `!foo`, even `!!str`:
nothing here needs them), deep nesting (PyYAML's composer is recursive), too
many values, large files and bytes that are not UTF-8. Each check runs as the
file is scanned or parsed, before anything is built, and every failure is one
`YamlError` line "file:line: reason".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

LINE_KEY = "__line__"
KEY_LINES = "__key_lines__"  # {key: line} of each mapping, for errors about one key


@dataclass(frozen=True, slots=True)
class YamlLimits:
    """Bounds on one file; the defaults are far above what a real catalogue needs."""

    max_bytes: int = 256 << 10  # pure-Python PyYAML: ~0.5 MB/s at worst; default catalogue 26 KB
    max_depth: int = 32  # nested mappings and lists; the shipped files use at most 6
    max_nodes: int = 20_000  # values of any kind; the default catalogue has 1,802


LIMITS = YamlLimits()

_UTF8_BOM = b"\xef\xbb\xbf"
_OTHER_BOMS = {
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\xfe\xff": "UTF-16",
    b"\xff\xfe": "UTF-16",
}


class YamlError(ValueError):
    """A YAML file that cannot be used; the message names file and line."""


class _Refused(yaml.MarkedYAMLError):
    """Valid YAML this loader will not read; carries the mark of the offending node."""


class _LineLoader(yaml.SafeLoader):
    """SafeLoader (pure Python, never the C parser) that records the 1-based line
    of every mapping and refuses aliases, anchors, tags, deep nesting and too
    many nodes, each as its event arrives and before any object is built."""

    def __init__(self, stream: str, limits: YamlLimits) -> None:
        super().__init__(stream)
        self._limits = limits
        self._depth = 0
        self._nodes = 0

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        """Refuse `[[[[...` while scanning: the scanner looks up to 1,024
        characters ahead for a possible key, which is slow for deep brackets."""
        if self.flow_level >= self._limits.max_depth:
            raise _Refused(problem=_too_deep(self._limits), problem_mark=self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
        self._nodes += 1
        problem = _refusal(event, self._depth, self._nodes, self._limits)
        if problem:
            raise _Refused(problem=problem, problem_mark=event.start_mark)  # type: ignore[arg-type]
        nests = isinstance(event, yaml.CollectionStartEvent)
        self._depth += nests
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= nests

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """Turn a plain scalar PyYAML cannot build (`2024-13-45`, a 5,000-digit
        integer) into an error with its line instead of a ValueError."""
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                problem=f"cannot read value {_excerpt(node)}: {exc}", problem_mark=node.start_mark
            ) from None


def _refusal(event: yaml.Event, depth: int, nodes: int, limits: YamlLimits) -> str | None:
    """Why the node starting at `event` is refused, or None."""
    if isinstance(event, yaml.AliasEvent):
        return f"alias *{event.anchor} is not allowed; write the value out"
    if isinstance(event, yaml.NodeEvent) and event.anchor is not None:
        return f"anchor &{event.anchor} is not allowed; write the value out"
    if isinstance(event, yaml.ScalarEvent | yaml.CollectionStartEvent) and event.tag is not None:
        tag = event.tag.replace("tag:yaml.org,2002:", "!!")
        return f"tag {tag} is not allowed; write plain values"
    if isinstance(event, yaml.CollectionStartEvent) and depth >= limits.max_depth:
        return _too_deep(limits)
    if nodes > limits.max_nodes:
        return f"more than {limits.max_nodes:,} values in one file"
    return None


def _too_deep(limits: YamlLimits) -> str:
    return f"nested deeper than {limits.max_depth} levels"


def _excerpt(node: yaml.Node) -> str:
    value = str(node.value)
    return repr(value if len(value) <= 40 else value[:40] + "...")


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in node.value:  # a key twice would silently keep the last value
        name = str(key.value)
        if name in seen:
            raise _Refused(None, None, f"key {_excerpt(key)} appears twice", key.start_mark)
        seen.add(name)
    mapping = loader.construct_mapping(node, deep=True)
    mapping[LINE_KEY] = node.start_mark.line + 1
    mapping[KEY_LINES] = {
        str(key.value): key.start_mark.line + 1
        for key, _ in node.value
        if isinstance(key, yaml.ScalarNode)
    }
    return mapping  # type: ignore[return-value]


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path, limits: YamlLimits = LIMITS) -> dict[str, Any]:
    """Load a YAML mapping, every nested mapping carrying its line under LINE_KEY."""
    return parse_yaml(read_yaml_text(path, limits), str(path), limits)


def read_yaml_text(path: Path, limits: YamlLimits = LIMITS) -> str:
    """A YAML file's text, read within `limits` (what `load_yaml` parses)."""
    return _read_text(path, limits.max_bytes)


def parse_yaml(text: str, where: str, limits: YamlLimits = LIMITS) -> dict[str, Any]:
    """Parse YAML text kept elsewhere (a published rulebook); `where` names it in errors."""
    if len(text.encode("utf-8", "surrogatepass")) > limits.max_bytes:
        raise YamlError(_one_line(f"{where}: larger than {limits.max_bytes:,} bytes"))
    try:
        loader = _LineLoader(text, limits)
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f"{where}:{mark.line + 1}" if mark else where
        problem = exc.problem or exc.context or type(exc).__name__
        what = "" if isinstance(exc, _Refused) else "not valid YAML: "
        raise YamlError(_one_line(f"{at}: {what}{problem}")) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise YamlError(
            _one_line(f"{where}:{line}: character U+{exc.character:04X} is not allowed in YAML")
        ) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise YamlError(_one_line(f"{where}: not valid YAML: {exc}")) from None
    if not isinstance(data, dict):
        raise YamlError(_one_line(f"{where}: expected a mapping at the top level"))
    return data


def _read_text(path: Path, max_bytes: int) -> str:
    """The file as text: at most `max_bytes`, strict UTF-8, a UTF-8 BOM dropped."""
    if path.exists() and not path.is_file():  # a FIFO or device would block or never end
        raise YamlError(_one_line(f"{path}: not a regular file"))
    try:
        with path.open("rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise YamlError(_one_line(f"{path}: cannot read: {exc.strerror}")) from None
    if len(raw) > max_bytes:
        raise YamlError(_one_line(f"{path}: larger than {max_bytes:,} bytes; refusing to read it"))
    skipped = len(_UTF8_BOM) if raw.startswith(_UTF8_BOM) else 0
    raw = raw[skipped:]
    for bom, encoding in _OTHER_BOMS.items():
        if raw.startswith(bom):
            raise YamlError(_one_line(f"{path}:1: file is {encoding}; save it as UTF-8"))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        offset = exc.start + skipped
        raise YamlError(
            _one_line(f"{path}:{line}: not UTF-8: byte 0x{raw[exc.start]:02x} at offset {offset}")
        ) from None


def _one_line(message: str) -> str:
    """Escape line breaks and other unprintable characters (file names included)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


def strip_lines(value: Any) -> Any:
    """Remove LINE_KEY entries recursively, for hashing or serialising."""
    if isinstance(value, dict):
        return {k: strip_lines(v) for k, v in value.items() if k not in (LINE_KEY, KEY_LINES)}
    if isinstance(value, list):
        return [strip_lines(v) for v in value]
    return value
