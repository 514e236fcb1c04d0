"""Read meta files (YAML and JSON) into plain data that remembers where each key was.

YAML 1.1 turns ``yes``/``off`` into booleans, ``20.10`` into the float ``20.1`` and a
digit-only uid into an integer. CM then stringifies these values, so ``off`` reaches a shell
script as ``False`` and version ``20.10`` as ``20.1``. We read every *plain* YAML scalar as the
text its author wrote; the typed layer (:mod:`cm_snakemake.meta.model`) converts the fields that are
booleans or numbers. Quoting a value or not therefore never changes its meaning.

Mappings are returned as :class:`KeyedDict`, a ``dict`` that also knows the line of each key,
so later warnings and errors can name ``file:line``.

Every later step walks meta data recursively, so data nested deeper than :data:`MAX_DEPTH`
levels, or that YAML aliases expand to more than :data:`MAX_VALUES` values, is refused here
with a :class:`~cm_snakemake.errors.MetaError`, as are the YAML types JSON has no form for
(``!!set``, ``!!binary``, ``!!timestamp``, ``!!omap``, ``!!pairs``) and JSON text with a lone
surrogate escape (``"\\ud800"``), which no UTF-8 file or terminal can take.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, ClassVar

import yaml

from ..errors import MetaError, Where
from .keyed import KeyedDict

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "MAX_DEPTH",
    "MAX_VALUES",
    "KeyedDict",
    "load_json_file",
    "load_meta_files",
    "load_yaml_file",
    "load_yaml_text",
]

MAX_DEPTH = 64
MAX_VALUES = 1_000_000
_SURROGATE = re.compile("[\ud800-\udfff]")  # JSON's "\\ud800" alone: not UTF-8, ever

_BASE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TEXT_TAGS = {
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:timestamp",
}


class _TextLoader(_BASE_LOADER):  # type: ignore[misc,valid-type]
    """A safe loader that keeps plain scalars as text and records key lines."""

    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, Any]]]] = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in _TEXT_TAGS]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    duplicates: list[tuple[str, int]]


def _construct_mapping(loader: _TextLoader, node: yaml.MappingNode) -> KeyedDict:
    loader.flatten_mapping(node)
    result = KeyedDict(loader.name)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = "" if key is None else str(key)
        line = key_node.start_mark.line + 1
        if key in result:
            loader.duplicates.append((key, line))
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = Where(loader.name, line)
    return result


_TextLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _unsupported(loader: _TextLoader, node: yaml.Node) -> Any:
    tag = node.tag.replace("tag:yaml.org,2002:", "!!")
    raise yaml.constructor.ConstructorError(
        None, None, f"the YAML type {tag} is not supported in meta files", node.start_mark
    )


for _name in ("set", "binary", "timestamp", "omap", "pairs"):
    _TextLoader.add_constructor(f"tag:yaml.org,2002:{_name}", _unsupported)


def _checked(name: str) -> Any:
    """The safe constructor of ``!!<name>`` (int, float, bool), with a YAML error for a bad
    value such as ``!!int x`` instead of the constructor's own ValueError."""
    construct = yaml.SafeLoader.yaml_constructors[f"tag:yaml.org,2002:{name}"]

    def checked(loader: _TextLoader, node: yaml.Node) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, KeyError, IndexError):
            raise yaml.constructor.ConstructorError(
                None, None, f"'{node.value}' is not a valid !!{name}", node.start_mark
            ) from None

    return checked


for _name in ("int", "float", "bool"):
    _TextLoader.add_constructor(f"tag:yaml.org,2002:{_name}", _checked(_name))


def _check_shape(data: Any, path: str) -> None:
    """Raise :class:`MetaError` for data nested too deeply or expanding to too many values."""
    memo: dict[int, tuple[int, int]] = {}  # id of a list or mapping -> (height, values)

    def fail(key: str | None, message: str, hint: str = "Flatten the value.") -> MetaError:
        where = data.where(key) if isinstance(data, KeyedDict) else Where(path)
        return MetaError(where, message, key=key, hint=hint)

    def measure(value: Any, depth: int, key: str | None) -> tuple[int, int]:
        if isinstance(value, str) and _SURROGATE.search(value):
            raise fail(
                key,
                f"the text {value!r:.40} holds a lone surrogate, not a character",
                "Write the character itself, or its UTF-16 pair of escapes.",
            )
        if not isinstance(value, dict | list):
            return 0, 1
        found = memo.get(id(value))
        if found is None:
            if depth >= MAX_DEPTH:
                raise fail(key, f"nested deeper than {MAX_DEPTH} levels")
            memo[id(value)] = (MAX_DEPTH + 1, MAX_VALUES + 1)  # met again while inside: a cycle
            height, count = 0, 1
            pairs = value.items() if isinstance(value, dict) else ((key, v) for v in value)
            for name, item in pairs:
                if isinstance(value, dict):
                    measure(name, depth + 1, key)
                item_height, item_count = measure(item, depth + 1, key if depth else name)
                height, count = max(height, item_height), count + item_count
                if count > MAX_VALUES:
                    raise fail(
                        key,
                        f"expands to more than {MAX_VALUES} values (YAML aliases)",
                        "Write the value out instead of repeating aliases.",
                    )
            found = memo[id(value)] = (height + 1, count)
        if depth + found[0] > MAX_DEPTH:
            raise fail(key, f"nested deeper than {MAX_DEPTH} levels")
        return found

    measure(data, 0, None)


def load_yaml_text(text: str, path: str) -> tuple[Any, list[tuple[str, int]]]:
    """Parse YAML ``text``; return the data and the ``(key, line)`` of duplicated keys."""
    loader = _TextLoader(text)
    loader.name = path
    loader.duplicates = []
    try:
        data = loader.get_single_data()
    except RecursionError:
        raise MetaError(Where(path), f"nested deeper than {MAX_DEPTH} levels") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.problem and exc.context and exc.context_mark is not None:
            problem += f" ({exc.context} that starts at line {exc.context_mark.line + 1})"
        raise MetaError(
            Where(path, line),
            f"broken YAML: {problem}",
            hint="Fix the file (check indentation, quotes and colons) and run the command again.",
        ) from None
    except yaml.YAMLError as exc:
        raise MetaError(Where(path), f"broken YAML: {exc}") from None
    finally:
        loader.dispose()
    _check_shape(data, path)
    return data, loader.duplicates


def load_yaml_file(path: Path) -> tuple[Any, list[tuple[str, int]]]:
    """Read and parse one YAML file (see :func:`load_yaml_text`)."""
    return load_yaml_text(_read_text(path), str(path))


def load_json_file(path: Path) -> tuple[Any, list[tuple[str, int]]]:
    """Read one JSON file; objects become :class:`KeyedDict` without line information."""
    duplicates: list[tuple[str, int]] = []

    def _pairs(pairs: list[tuple[str, Any]]) -> KeyedDict:
        result = KeyedDict(str(path))
        for key, value in pairs:
            if key in result:
                duplicates.append((key, 0))
            result[key] = value
        return result

    text = _read_text(path)
    try:
        data = json.loads(text, object_pairs_hook=_pairs)
    except json.JSONDecodeError as exc:
        raise MetaError(
            Where(str(path), exc.lineno),
            f"broken JSON: {exc.msg} (column {exc.colno})",
            hint="Fix the file (check commas, quotes and brackets) and run the command again.",
        ) from None
    except ValueError as exc:  # a number with more digits than Python converts
        raise MetaError(Where(str(path)), f"broken JSON: {exc}") from None
    except RecursionError:
        raise MetaError(Where(str(path)), f"nested deeper than {MAX_DEPTH} levels") from None
    _check_shape(data, str(path))
    return data, duplicates


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise MetaError(Where(str(path)), f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise MetaError(Where(str(path)), f"cannot read: {exc.strerror}") from None


def load_meta_files(paths: list[Path]) -> tuple[KeyedDict, list[str]]:
    """Load a script's meta files in order and shallow-merge them (later files win per key).

    This is CM's rule for ``_cm.yaml`` + ``_cm.json``: the JSON file's top-level keys replace
    the YAML file's. Returns the merged mapping and messages about duplicated keys.
    """
    merged: KeyedDict | None = None
    notes: list[str] = []
    for path in paths:
        loader = load_json_file if path.suffix == ".json" else load_yaml_file
        data, duplicates = loader(path)
        if data is None:
            data = KeyedDict(str(path))
        if not isinstance(data, KeyedDict):
            raise MetaError(
                Where(str(path)), f"the file must hold a mapping, not {type(data).__name__}"
            )
        for key, line in duplicates:
            at = f"{path}:{line}" if line else str(path)
            notes.append(f"{at}: key '{key}' is written twice; the later value wins")
        if merged is None:
            merged = data
        else:
            for key, value in data.items():
                merged[key] = value
                merged.lines[key] = data.where(key)
    if merged is None:
        raise MetaError(Where("(no meta file)"), "no meta file given")
    return merged, notes
