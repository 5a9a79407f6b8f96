"""YAML loading that remembers line numbers, for errors a person can act on.

Catalogues and rulebooks are edited by hand; an error must point at the file,
the line and the field ("catalogues/x.yaml:41: item 'social.prayer': ...").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

LINE_KEY = "__line__"
KEY_LINES = "__key_lines__"  # {key: line} of each mapping, for errors about one key


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that records the 1-based line of every mapping."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping[LINE_KEY] = node.start_mark.line + 1
    mapping[KEY_LINES] = {
        str(key.value): key.start_mark.line + 1
        for key, _ in node.value
        if isinstance(key, yaml.ScalarNode)
    }
    return mapping  # type: ignore[return-value]


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class YamlError(ValueError):
    """A YAML file that cannot be used; the message names file and line."""


def load_yaml(path: Path) -> dict[str, Any]:
    """Load a YAML mapping, every nested mapping carrying its line under LINE_KEY."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise YamlError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise YamlError(f"{path}: expected a mapping at the top level")
    return data


def strip_lines(value: Any) -> Any:
    """Remove LINE_KEY entries recursively, for hashing or serialising."""
    if isinstance(value, dict):
        return {k: strip_lines(v) for k, v in value.items() if k not in (LINE_KEY, KEY_LINES)}
    if isinstance(value, list):
        return [strip_lines(v) for v in value]
    return value
