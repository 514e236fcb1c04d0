"""cm-snakemake's own implementation of the ``cmind.utils`` helpers real scripts call.

A CM script's ``customize.py`` does ``from cmind import utils`` (or ``import cmind`` and then
``cmind.utils.X``) and calls a handful of helpers. This module provides exactly those helpers,
with CM 4.2.0's call contract: the same positional and keyword parameters, and a result dict
``{'return': 0, ...}`` on success or ``{'return': N, 'error': text}`` (N > 0) on failure, with the
same codes (16: file not found, 4: the file cannot be parsed, 1: any other error). It is written
for this project from the observed behaviour of ``cmind``; no code is taken from it.

Where cmind raises, so do these helpers (reading a missing file without ``check_if_exists``,
writing a value JSON cannot encode), so scripts fail in the same places. The few deliberate
differences turn a crash or a silently wrong answer into a plain result:

* :func:`safe_load_json` with one argument (or an empty ``file_name``) reads that file; cmind
  looks for ``<path>/`` and always answers ``{}``.
* :func:`load_yaml_and_json`: an empty YAML file counts as ``{}`` (cmind crashes on it), and a
  file whose top level is not a mapping is an error with code 4 (cmind crashes or merges junk).
* :func:`merge_dicts`: with ``append_lists``, a key whose old value is not a list gets a new list
  (cmind calls ``.append`` on the old value and crashes).
* :func:`get_current_date_time` reads ``timezone`` with :mod:`zoneinfo` (cmind needs ``pytz``);
  an unknown zone is an error with code 1.
* :func:`debug_here` never starts a remote debugger: it returns an object whose ``breakpoint()``
  does nothing, and says so on stderr when cmind would have waited for a debugger.

Any other ``cmind.utils`` name raises :class:`UnsupportedHelper` (see ``docs/compatibility.md``).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import sys
import uuid
from typing import TYPE_CHECKING, Any, NoReturn

from ...errors import Unsupported

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    # reading and writing files
    "load_txt",
    "save_txt",
    "load_json",
    "safe_load_json",
    "save_json",
    "load_yaml_and_json",
    "load_json_or_yaml",
    # dictionaries and env values
    "merge_dicts",
    "check_if_true_yes_on",
    # identifiers and time
    "gen_uid",
    "get_current_date_time",
    # debugging
    "debug_here",
    # errors
    "UnsupportedHelper",
]

#: A CM result dict: ``{'return': 0, ...}`` or ``{'return': N, 'error': text}``.
Result = dict[str, Any]

_FILE_NOT_FOUND = 16
_CANNOT_PARSE = 4
_OTHER_ERROR = 1
_UNKNOWN_EXTENSION = 1
_TRUE_WORDS = ("true", "yes", "on")


class UnsupportedHelper(Unsupported, NotImplementedError, AttributeError):
    """A script used a ``cmind.utils`` helper that cm-snakemake does not implement.

    It is also an :class:`AttributeError`, so ``hasattr(utils, name)`` and
    ``getattr(utils, name, default)`` answer as for any missing attribute.
    """

    def __init__(self, name: str, module: str = "cmind.utils") -> None:
        super().__init__(
            f"not supported: {module}.{name} (cm-snakemake implements the helpers real "
            "scripts use; see docs/compatibility.md)"
        )
        self.name = name


def __getattr__(name: str) -> NoReturn:
    """Reject every ``cmind.utils`` helper that is not implemented here."""
    if name.startswith("__") and name.endswith("__"):
        # Protocol probes (``__path__``, ``__wrapped__``, ...) get the usual answer.
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    raise UnsupportedHelper(name)


# --- reading and writing files ----------------------------------------------------------------


def load_txt(  # noqa: PLR0913 - cmind's signature, parameters may be passed by position
    file_name: str,
    encoding: str = "utf8",
    remove_after_read: bool = False,
    check_if_exists: bool = False,
    split: bool = False,
    match_text: str = "",
    fail_if_no_match: str = "",
    debug: bool = False,
) -> Result:
    """Read a text file (universal newlines) into ``string``.

    ``split`` adds ``list``, the text split on ``\\n`` (a final newline gives a last ``''``).
    ``match_text`` adds ``match``, the :func:`re.search` match object or None; with
    ``fail_if_no_match`` a failed search is ``{'return': 1, 'error': fail_if_no_match,
    'string': text}``. ``remove_after_read`` deletes the file once read. A missing file is
    ``{'return': 16}`` with ``check_if_exists``, else :class:`FileNotFoundError`.
    """
    if check_if_exists and not os.path.isfile(file_name):
        return {"return": _FILE_NOT_FOUND, "error": f"{file_name} was not found"}
    with open(file_name, encoding=encoding) as stream:
        text = stream.read()
    if remove_after_read:
        os.remove(file_name)
    result: Result = {"return": 0, "string": text}
    if split:
        result["list"] = text.split("\n")
    if match_text != "":
        match = re.search(match_text, text)
        if debug:
            print(match)
        if match is None and fail_if_no_match != "":
            return {"return": _OTHER_ERROR, "error": fail_if_no_match, "string": text}
        result["match"] = match
    return result


def save_txt(file_name: str, string: str = "", encoding: str = "utf8") -> Result:
    """Write ``string`` to ``file_name`` as is, with ``\\n`` line ends on every platform."""
    with open(file_name, "w", encoding=encoding, newline="\n") as stream:
        stream.write(string)
    return {"return": 0}


def load_json(file_name: str, check_if_exists: bool = False, encoding: str = "utf8") -> Result:
    """Read a JSON file into ``meta`` (any JSON value, usually a dict).

    A missing file is ``{'return': 16}`` with ``check_if_exists``, else
    :class:`FileNotFoundError`; bad JSON or bad encoding is ``{'return': 4}``.
    """
    if check_if_exists and not os.path.isfile(file_name):
        return {"return": _FILE_NOT_FOUND, "error": f"File {file_name} not found"}
    with open(file_name, encoding=encoding) as stream:
        try:
            meta = json.load(stream)
        except (ValueError, RecursionError) as exc:  # also bad encoding (UnicodeDecodeError)
            return {"return": _CANNOT_PARSE, "error": f"detected problem in {file_name}: {exc}"}
    return {"return": 0, "meta": meta}


def safe_load_json(path: str, file_name: str = "", encoding: str = "utf8") -> Result:
    """Read ``path``/``file_name`` as JSON; ``meta`` is ``{}`` if it is missing or broken.

    Always returns ``{'return': 0, 'meta': ...}``. ``safe_load_json('', f)`` and
    ``safe_load_json(f)`` read ``f``.
    """
    target = path if file_name in ("", path) else os.path.join(path, file_name)
    loaded = load_json(target, check_if_exists=True, encoding=encoding)
    return {"return": 0, "meta": loaded["meta"] if loaded["return"] == 0 else {}}


def save_json(
    file_name: str,
    meta: Any = None,
    indent: int | None = 2,
    sort_keys: bool = True,
    encoding: str = "utf8",
) -> Result:
    """Write ``meta`` (``{}`` if omitted) as JSON with sorted keys, ASCII only, and a final newline.

    A value JSON cannot encode raises :class:`TypeError` and leaves the file untouched (cmind
    has already emptied it by then).
    """
    text = json.dumps({} if meta is None else meta, indent=indent, sort_keys=sort_keys)
    with open(file_name, "w", encoding=encoding, newline="\n") as stream:
        stream.write(text + "\n")
    return {"return": 0}


def _load_yaml(file_name: str, check_if_exists: bool, encoding: str) -> Result:
    import yaml

    if check_if_exists and not os.path.isfile(file_name):
        return {"return": _FILE_NOT_FOUND, "error": f"File {file_name} not found"}
    with open(file_name, encoding=encoding) as stream:
        try:
            meta = yaml.load(stream, Loader=yaml.SafeLoader)  # pure Python: cmind's messages
        except (yaml.YAMLError, ValueError, RecursionError) as exc:
            return {"return": _CANNOT_PARSE, "error": f"detected problem in {file_name}: {exc}"}
    return {"return": 0, "meta": meta}


def load_yaml_and_json(
    file_name_without_ext: str, check_if_exists: bool = False, encoding: str = "utf8"
) -> Result:
    """Read ``<name>.yaml`` then ``<name>.json`` and merge them key by key (JSON wins).

    Either file may be missing; if both are, ``{'return': 16}`` (``check_if_exists`` is
    accepted and, as in cmind, changes nothing). YAML is read with YAML 1.1 typing as cmind
    does (``off`` is False). A file that cannot be parsed or whose top level is not a mapping
    is ``{'return': 4}``.
    """
    del check_if_exists  # part of cmind's signature; a missing pair is always an error
    merged: dict[str, Any] = {}
    found = False
    for extension in (".yaml", ".json"):
        file_name = file_name_without_ext + extension
        if extension == ".yaml":
            loaded = _load_yaml(file_name, True, encoding)
        else:
            loaded = load_json(file_name, check_if_exists=True, encoding=encoding)
        if loaded["return"] == _FILE_NOT_FOUND:
            continue
        found = True
        if loaded["return"] > 0:
            return loaded
        meta = {} if loaded["meta"] is None else loaded["meta"]
        if not isinstance(meta, dict):
            return {
                "return": _CANNOT_PARSE,
                "error": f"detected problem in {file_name}: the top level is not a mapping",
            }
        merged.update(meta)
    if not found:
        return {
            "return": _FILE_NOT_FOUND,
            "error": f"YAML and JSON file {file_name_without_ext} not found",
        }
    return {"return": 0, "meta": merged}


def load_json_or_yaml(
    file_name: str, check_if_exists: bool = False, encoding: str = "utf8"
) -> Result:
    """Read a ``.json`` or ``.yaml`` file into ``meta``; another extension is ``{'return': 1}``.

    A missing file is ``{'return': 16}`` with ``check_if_exists``, else
    :class:`FileNotFoundError`.
    """
    if file_name.endswith(".json"):
        return load_json(file_name, check_if_exists=check_if_exists, encoding=encoding)
    if file_name.endswith(".yaml"):
        return _load_yaml(file_name, check_if_exists, encoding)
    return {
        "return": _UNKNOWN_EXTENSION,
        "error": f"file extension must be .json or .yaml in {file_name}",
    }


# --- dictionaries and env values -------------------------------------------------------------


def merge_dicts(i: dict[str, Any]) -> Result:
    """Merge ``i['dict2']`` into ``i['dict1']`` in place and return it as ``dict1``.

    Key by key: a dict merges into a dict recursively (a new key takes dict2's dict itself,
    not a copy); a list replaces the old value with a new list of its items, or, with
    ``append_lists``, is appended to the old list (only items not already there with
    ``append_unique``); anything else replaces the old value. Keys in ``ignore_keys`` are
    skipped. Nothing happens when the two dicts are equal. As in cmind, nested dicts are
    merged with ``append_lists`` only: ``append_unique`` and ``ignore_keys`` apply to the top
    level.
    """
    target: dict[str, Any] = i["dict1"]
    source: dict[str, Any] = i["dict2"]
    if target == source:
        return {"return": 0, "dict1": target}
    append_lists = i.get("append_lists", False)
    append_unique = i.get("append_unique", False)
    ignore_keys = i.get("ignore_keys", [])
    for key, value in source.items():
        if key in ignore_keys:
            continue
        if type(value) is dict:
            if key in target and type(target[key]) is dict:
                merge_dicts({"dict1": target[key], "dict2": value, "append_lists": append_lists})
            else:
                target[key] = value
        elif type(value) is list:
            old = target.get(key)
            items: list[Any] = old if append_lists and isinstance(old, list) else []
            for item in value:
                if not append_unique or item not in items:
                    items.append(item)
            target[key] = items
        else:
            target[key] = value
    return {"return": 0, "dict1": target}


def check_if_true_yes_on(env: Mapping[str, Any], key: str) -> bool:
    """True if ``str(env[key]).lower()`` is ``true``, ``yes`` or ``on`` (a missing key: False)."""
    return str(env.get(key, "")).lower() in _TRUE_WORDS


# --- identifiers and time --------------------------------------------------------------------


def gen_uid() -> Result:
    """Return a new CM uid in ``uid``: 16 random lowercase hex digits."""
    return {"return": 0, "uid": uuid.uuid4().hex[:16]}


def get_current_date_time(i: dict[str, Any]) -> Result:
    import zoneinfo

    """Return the current local time (or in ``i['timezone']``, e.g. ``Europe/Paris``).

    ``array`` holds ``date_year``, ``date_month``, ``date_day``, ``time_hour``,
    ``time_minute`` and ``time_second`` as ints; ``iso_datetime`` is
    :meth:`datetime.datetime.isoformat` of the same instant (microseconds included when not
    zero, the UTC offset only with a timezone).
    """
    zone_name = str(i.get("timezone", "")).strip()
    zone: datetime.tzinfo | None = None
    if zone_name != "":
        try:
            zone = zoneinfo.ZoneInfo(zone_name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            return {"return": _OTHER_ERROR, "error": f"unknown timezone '{zone_name}': {exc}"}
    now = datetime.datetime.now(zone)
    array = {
        "date_year": now.year,
        "date_month": now.month,
        "date_day": now.day,
        "time_hour": now.hour,
        "time_minute": now.minute,
        "time_second": now.second,
    }
    return {"return": 0, "array": array, "iso_datetime": now.isoformat()}


# --- debugging -------------------------------------------------------------------------------


class _NoDebugger:
    """What :func:`debug_here` returns: ``breakpoint()`` does nothing."""

    def breakpoint(self) -> None:
        """Do nothing (cmind would stop here in an attached debugger)."""


def debug_here(
    module_path: str,
    host: str = "localhost",
    port: int = 5678,
    text: str = "",
    env: Mapping[str, str] | None = None,
    env_debug_uid: str = "",
) -> _NoDebugger:
    """Stand in for cmind's remote-debugging hook: never starts or waits for a debugger.

    cmind starts ``debugpy`` and waits for a client unless ``env_debug_uid`` is given and
    differs from ``CM_TMP_DEBUG_UID`` (read from ``env``, or ``os.environ`` if ``env`` is
    empty). Here the caller always goes on; when cmind would have waited, one line on stderr
    says that the breakpoint was skipped.
    """
    del host, port, text
    if env_debug_uid != "":
        values: Mapping[str, str] = env if env else os.environ
        wanted = str(values.get("CM_TMP_DEBUG_UID", "")).strip()
        if wanted.lower() != env_debug_uid.lower():
            return _NoDebugger()
    print(
        f"cm-snakemake: remote debugging is not supported, breakpoint in {module_path} skipped",
        file=sys.stderr,
    )
    return _NoDebugger()
