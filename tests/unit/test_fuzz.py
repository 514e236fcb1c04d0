"""Property-based fuzzing of every reader of outside input.

The property is the same for each target: whatever the input, the code either succeeds or
raises a :class:`~cm_snakemake.errors.CMSnakemakeError` whose message names the file, key,
script or argument at fault; no other exception ever comes out. Targets: the meta loader and
the typed meta, the script index behind the command line, the command-line grammar and the
whole command line, the variation resolver, and the readers of ``tmp-run-env.out`` and
``tmp-run-state.json``. Each target counts its cases (``tests/fuzzcount.py``); the counts are
printed at the end of the session. ``CMSM_FUZZ_SCALE=10`` runs ten times as many cases.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cm_snakemake.cli import options
from cm_snakemake.cli.grammar import Args, parse_args
from cm_snakemake.cli.main import main
from cm_snakemake.errors import CMSnakemakeError, MetaError, ScriptFailed, UsageError, Where
from cm_snakemake.meta.build import build_script_meta
from cm_snakemake.meta.keyed import KeyedDict
from cm_snakemake.meta.metafile import load_meta_files, load_yaml_text
from cm_snakemake.meta.model import DEP_LISTS, Dialect, ScriptMeta, to_jsonable
from cm_snakemake.plan.variations import VariationError, applied_metas, resolve_variations
from cm_snakemake.runtime.native import read_env_out, read_run_state

from ..conftest import RepoMaker, cli
from ..fuzzcount import case, timed

PATH = "fuzz/script/x/_cm.yaml"
SCALE = float(os.environ.get("CMSM_FUZZ_SCALE", "1"))


def fuzz(examples: int) -> Any:
    return settings(
        max_examples=max(1, int(examples * SCALE)),
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


@pytest.fixture(autouse=True)
def _time_each_test() -> Iterator[None]:
    with timed():
        yield


# -- strategies ------------------------------------------------------------------------------

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=24)  # fmt: skip
ARGV_TEXT = st.text(st.characters(blacklist_characters="\x00"), max_size=24)  # as argv may be
HOSTILE = ["", " ", "_x", "a,b", "x.#", "x.5", "../..", "a/b", "/etc/passwd", "a\nb", "a\rb",
           "$(touch pwned)", "`id`", ";rm -rf ~", "|x", "yes", "off", "no", "20.10", "~", "-",
           "*", "#", "a=b", "{}", "[]", "null", "1e400", "nan", "é", "\u2028",
           "\ufeff"]  # fmt: skip
WORDS = st.sampled_from(HOSTILE) | TEXT
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | WORDS
ANY: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(WORDS, inner, max_size=3),
    max_leaves=10,
)
KINDS = st.one_of(
    SCALARS, st.just([]), st.just({}), st.lists(SCALARS, min_size=1, max_size=3),
    st.lists(st.dictionaries(WORDS, SCALARS, max_size=2), min_size=1, max_size=2),
    st.dictionaries(WORDS, SCALARS, min_size=1, max_size=3),
    st.dictionaries(WORDS, st.dictionaries(WORDS, SCALARS, max_size=2)
                    | st.lists(SCALARS, max_size=2), min_size=1, max_size=2),
    ANY,
)  # fmt: skip

DEP_KEYS = ["tags", "names", "enable_if_env", "enable_if_any_env", "skip_if_env",
            "skip_if_any_env", "skip_if_fake_run", "dynamic", "env", "state", "const",
            "const_state", "version", "version_min", "version_max", "version_max_usable",
            "force_env_keys", "reuse_version", "update_tags_from_env",
            "update_tags_from_env_with_prefix", "update_tags_if_env", "update_meta_if_env",
            "inherit_variation_tags", "skip_inherit_variation_groups", "force_cache",
            "skip_cache", "extra_cache_tags", "force_new_env_keys", "force_new_state_keys",
            "ad", "add_deps", "adr", "add_deps_recursive", "continue_on_error",
            "ignore_missing", "cache_expiration", "inherit_cache_expiration", "input", "tag",
            "a b", "-x-"]  # fmt: skip
PATCH_KEYS = ["env", "default_env", "const", "state", "const_state", *DEP_LISTS, "add_deps",
              "ad", "add_deps_recursive", "adr", "input_mapping", "new_env_keys",
              "new_state_keys", "script_name", "default_version", "default_variations",
              "docker", "update_meta_if_env", "resources", "cache_expiration", "warnings",
              "warning"]  # fmt: skip
VARIATION_KEYS = [*PATCH_KEYS, "group", "default", "base", "alias", "grup"]
SCRIPT_KEYS = [*PATCH_KEYS, "alias", "uid", "tags", "sort", "cache", "can_force_cache",
               "local_env_keys", "clean_env_keys_post_deps", "docker_input_mapping",
               "variations", "default_variation", "valid_variation_combinations",
               "invalid_variation_combinations", "version", "version_min", "version_max",
               "versions", "env_key_mappings", "extra_cache_tags_from_env", "clean_files",
               "print_env_at_the_end", "print_files_if_script_error", "predeps",
               "min_cm_version", "min_mlc_version", "customize", "_base", "category", "tests",
               "variation_groups_order"]  # fmt: skip
MAPS = {"env", "default_env", "const", "state", "const_state", "input_mapping", "docker",
        "default_variations", "resources", "enable_if_env", "enable_if_any_env",
        "skip_if_env", "skip_if_any_env", "update_tags_if_env", "env_key_mappings",
        "update_tags_from_env_with_prefix", "print_env_at_the_end", "customize",
        "docker_input_mapping"}  # fmt: skip
LISTS = {"tags", "names", "new_env_keys", "new_state_keys", "warnings", "base",
         "local_env_keys", "force_env_keys", "clean_files", "update_tags_from_env",
         "valid_variation_combinations", "invalid_variation_combinations",
         "extra_cache_tags_from_env", "print_files_if_script_error"}  # fmt: skip


def _shaped(keys: list[str], value_for: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Mappings over ``keys`` (and a few random ones) whose values fit the key, mostly."""
    return st.lists(st.sampled_from(keys) | WORDS, unique=True, max_size=6).flatmap(
        lambda chosen: st.fixed_dictionaries({k: value_for(k) for k in chosen})
    )


def _value(key: str) -> st.SearchStrategy[Any]:
    if key in MAPS:
        return st.dictionaries(WORDS, ANY, max_size=3) | ANY
    if key in LISTS:
        return st.lists(WORDS | ANY, max_size=3) | WORDS | ANY
    if key in DEP_LISTS:
        return st.lists(DEP | ANY, max_size=3) | ANY
    if key in {"ad", "add_deps", "adr", "add_deps_recursive"}:
        return st.dictionaries(WORDS, DEP | ANY, max_size=2) | ANY
    if key == "variations":
        return st.dictionaries(WORDS, VARIATION | ANY, max_size=4) | ANY
    if key == "versions":
        return st.dictionaries(WORDS, PATCH | ANY, max_size=3) | ANY
    return ANY


DEP = _shaped(DEP_KEYS, _value)
PATCH = _shaped(PATCH_KEYS, _value)
VARIATION = _shaped(VARIATION_KEYS, _value)
IDENTITY = st.fixed_dictionaries(
    {"alias": WORDS, "uid": WORDS, "tags": st.lists(WORDS, max_size=3) | WORDS}
) | st.fixed_dictionaries({}, optional={"alias": ANY, "uid": ANY, "tags": ANY})
RAW_META = st.tuples(IDENTITY, _shaped(SCRIPT_KEYS, _value)).map(lambda p: {**p[1], **p[0]})

YAML_TRAPS = ["!!set {a}", "!!binary aGk=", "!!timestamp 2001-12-14", "!!omap [{a: 1}]",
              "!!pairs [{a: 1}]", "!!python/object:os.system {}", "!!python/name:os.system",
              "&a [*a]", "*nowhere", "<<: 1", "<<: [1]", "<<: {a: 1}", "? [a, b]\n: c",
              "{a: 1, a: 2}", "\t", ":", "- ", "'", '"', "\\", "%YAML 1.1\n---\n", "---\n",
              "...\n", "\ufeff", "\x85", "\u2028", "!!float nan", "!!int 99999999999999999999",
              "!!int 0x1F", "!!bool yes", "!!str", "!!null", "!<tag:yaml.org,2002:set> {a}",
              "!local x", "\x07", "\x1b[31m", "a: b: c", "[", "{", "]", "}", "!!binary [1]",
              "!!timestamp x", '"\\ud800"', "a: &x [1, 1]\nb: [*x, *x]"]  # fmt: skip
JSON_TRAPS = ["NaN", "-Infinity", "1e400", "9" * 5000, '"\\ud800"', '"\\ud83d\\ude00"', "[",
              "{", '{"a":}', "\ufeff", "\x00", "]", ",", '{"a": 1, "a": 2}', "true",
              "null"]  # fmt: skip
IDENT_YAML = "alias: x\nuid: '1'\ntags: [x]\n"
IDENT_JSON = '{"alias": "x", "uid": "1", "tags": ["x"], '


def _insert(text: str, at: int, piece: str) -> str:
    at = at % (len(text) + 1)
    return text[:at] + piece + text[at:]


def _deep(open_: str, close: str, prefix: str) -> st.SearchStrategy[str]:
    return st.integers(1, 1500).map(lambda n: prefix + open_ * n + close * n)


YAML_TEXT = st.one_of(
    TEXT,
    st.tuples(RAW_META.map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
              st.integers(0, 10**6), st.sampled_from(YAML_TRAPS) | TEXT).map(lambda t: _insert(*t)),
    st.lists(st.sampled_from(YAML_TRAPS) | WORDS, max_size=6).map("\n".join),
    st.sampled_from(YAML_TRAPS).map(lambda t: IDENT_YAML + "state: " + t),
    _deep("[", "]", IDENT_YAML + "state: "),
    _deep("{a: ", "}", IDENT_YAML + "env: "),
    _deep("- ", "", IDENT_YAML + "deps:\n"),
)  # fmt: skip
JSON_TEXT = st.one_of(
    RAW_META.map(json.dumps),
    st.tuples(RAW_META.map(json.dumps), st.integers(0, 10**6),
              st.sampled_from(JSON_TRAPS)).map(lambda t: _insert(*t)),
    st.sampled_from(JSON_TRAPS).map(lambda t: IDENT_JSON + '"state": ' + t + "}"),
    _deep("[", "]", IDENT_JSON + '"state": '),
    _deep('{"a": ', "}", IDENT_JSON + '"customize": '),
    ANY.map(json.dumps),
)  # fmt: skip
BYTES = st.one_of(
    st.binary(max_size=200),
    YAML_TEXT.map(str.encode),
    st.tuples(YAML_TEXT, st.binary(min_size=1, max_size=4)).map(lambda t: t[0].encode() + t[1]),
    st.sampled_from([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\x00"])
    .map(lambda b: IDENT_YAML.encode() + b"env:\n  A: " + b),
)  # fmt: skip


def _keyed(value: Any, path: str = PATH) -> Any:
    """The data as the meta loader returns it: every mapping a KeyedDict with key lines."""
    if isinstance(value, dict):
        result = KeyedDict(path)
        for line, (key, item) in enumerate(value.items(), start=1):
            result[str(key)] = _keyed(item, path)
            result.lines[str(key)] = Where(path, line)
        return result
    if isinstance(value, list):
        return [_keyed(item, path) for item in value]
    return value


def _check_built(meta: ScriptMeta) -> None:
    """What the index does with a typed meta: pickle it, and show it (as UTF-8 text)."""
    assert len(meta.digest) == 64
    again = pickle.loads(pickle.dumps(meta))
    assert json.dumps(to_jsonable(again)) == json.dumps(to_jsonable(meta))
    json.dumps(to_jsonable(meta), ensure_ascii=False).encode()


def _build(raw: KeyedDict, dialect: Dialect, files: tuple[str, ...] = ()) -> None:
    """Build the typed meta; an error or a warning must name one of the meta ``files``."""
    files = files or (raw.path,)
    try:
        meta, warnings = build_script_meta(raw, path="fuzz/x", meta_files=files, dialect=dialect)
    except MetaError as exc:
        assert str(exc).startswith(files), exc
        assert str(exc).rstrip() not in {f"{f}:" for f in files}  # and says what is wrong
        return
    _check_built(meta)
    assert all(str(w).startswith(files) for w in warnings), warnings


# -- 1. the meta loader and the typed meta ---------------------------------------------------


@fuzz(500)
@given(text=YAML_TEXT, dialect=st.sampled_from([Dialect.CM, Dialect.MLC]))
def test_meta_text_loads_or_fails_naming_the_file(text: str, dialect: Dialect) -> None:
    with case("meta loader"):
        try:
            data, duplicates = load_yaml_text(text, PATH)
        except MetaError as exc:
            assert str(exc).startswith(PATH), exc
            return
        assert all(isinstance(k, str) and line >= 1 for k, line in duplicates)
        if isinstance(data, KeyedDict):
            _build(data, dialect)


META_FILES = st.lists(st.tuples(st.sampled_from(["_cm.yaml", "_cm.json", "meta.yaml"]),
                                BYTES | JSON_TEXT.map(str.encode)),
                      min_size=1, max_size=2, unique_by=lambda f: f[0])  # fmt: skip


@fuzz(300)
@given(files=META_FILES)
def test_meta_files_load_or_fail_naming_the_file(
    tmp_path: Path, files: list[tuple[str, bytes]]
) -> None:
    with case("meta loader"):
        paths = []
        for name, data in files:
            path = tmp_path / name
            path.write_bytes(data)
            paths.append(path)
        try:
            raw, notes = load_meta_files(paths)
        except MetaError as exc:
            assert str(exc).startswith(tuple(map(str, paths))), exc
            return
        assert isinstance(raw, KeyedDict)
        assert all(note.startswith(tuple(map(str, paths))) for note in notes)
        _build(raw, Dialect.CM, tuple(map(str, paths)))


@fuzz(400)
@given(raw=RAW_META, dialect=st.sampled_from([Dialect.CM, Dialect.MLC]))
def test_typed_meta_builds_or_fails_naming_the_file_and_key(
    raw: dict[str, Any], dialect: Dialect
) -> None:
    with case("typed meta"):
        _build(_keyed(raw), dialect)


PLACES = {
    "script": (SCRIPT_KEYS, lambda d: d),
    "variation": (VARIATION_KEYS, lambda d: {"variations": {"v": d}}),
    "version": (PATCH_KEYS, lambda d: {"versions": {"1.0": d}}),
    "dependency": (DEP_KEYS, lambda d: {"deps": [d]}),
    "adr patch": (DEP_KEYS, lambda d: {"adr": {"name": d}}),
}


@pytest.mark.parametrize("place", list(PLACES))
def test_every_key_of_the_meta_takes_any_kind_of_value(place: str) -> None:
    keys, put = PLACES[place]

    @fuzz(250)
    @given(key=st.sampled_from(keys), value=KINDS)
    def check(key: str, value: Any) -> None:
        with case("typed meta"):
            _build(
                _keyed({"alias": "x", "uid": "1", "tags": ["x"], **put({key: value})}), Dialect.CM
            )

    check()


@fuzz(150)
@given(text=JSON_TEXT)
def test_typed_meta_from_json_text(tmp_path: Path, text: str) -> None:
    with case("typed meta"):
        path = tmp_path / "_cm.json"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            raw, _ = load_meta_files([path])
        except MetaError as exc:
            assert str(exc).startswith(str(path)), exc
            return
        _build(raw, Dialect.CM)


def test_the_index_behind_the_command_line_reports_broken_metas(make_repo: RepoMaker) -> None:
    root = make_repo("fuzzrepo", {"x": IDENT_YAML})
    assert cli("repo", "add", str(root))[0] == 0
    meta_file = root / "script" / "x" / "_cm.yaml"
    stamp = iter(range(10**9, 2 * 10**9))

    @fuzz(60)
    @given(data=BYTES)
    def check(data: bytes) -> None:
        with case("script index"):
            meta_file.write_bytes(data)
            tick = next(stamp) * 10**9  # a new signature for every case
            os.utime(meta_file, ns=(tick, tick))
            code, _, err = cli("show", "script", "x")
            assert code in (0, 1), err
            if code == 1:
                assert err.startswith("cm-snakemake error: ") or "warning: " in err, err
                assert str(meta_file) in err or "no script found for 'x'" in err, err
            code, _, err = cli("find", "--tags=x")
            assert code in (0, 1), err
            if "is skipped" in err:
                assert str(meta_file) in err, err

    check()


# -- 2. the command line ---------------------------------------------------------------------

FLAG_KEYS = st.sampled_from(["env", "adr", "x", "tags", "version_min", "a-b", "skip-cache",
                             "env.CM_X", "adr.python.version_min", "x.y.z", "", ".", "a..b",
                             "a.", ".a", "k,", "-", "=", "env.", "é.ü", "x.y",
                             "\udcff"]) | ARGV_TEXT  # fmt: skip
FLAG_VALUES = WORDS | ARGV_TEXT | st.sampled_from(["3.9", "a,b,,c", "=", "--x", "@x", "a\udcff"])
ARG = st.one_of(
    WORDS,
    ARGV_TEXT,
    st.builds(lambda k, v: f"--{k}={v}", FLAG_KEYS, FLAG_VALUES),
    st.builds(lambda k: f"--{k}", FLAG_KEYS),
    st.builds(lambda k: f"--{k}-", FLAG_KEYS),
    st.builds(lambda k, v: f"--{k},={v}", FLAG_KEYS, FLAG_VALUES),
    st.builds(lambda k, v: f"--env.{k}={v}", WORDS, FLAG_VALUES),
    st.builds(lambda k, v: f"--adr.{k}.version_min={v}", WORDS, FLAG_VALUES),
    st.sampled_from(["-flag", "-h", "-?", "-", "-1", "--", "@", "---", "--=", "--.", "-é", "@/",
                     "@.", "@" + "n" * 300, "@/nonexistent.json", "@/etc", "@\udcff.json"]),
    st.builds(lambda t: "@" + t, ARGV_TEXT),
    st.integers(1, 400).map(lambda n: "--" + ".".join(["k"] * n) + "=v"),
)  # fmt: skip
FILE_CONTENT = st.one_of(
    st.binary(max_size=100),
    ANY.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(WORDS, ANY, max_size=3).map(lambda v: json.dumps(v).encode()),
    st.dictionaries(WORDS, ANY, max_size=3)
    .map(lambda v: yaml.safe_dump(v, allow_unicode=True).encode()),
    YAML_TEXT.map(str.encode),
    JSON_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),
)  # fmt: skip


def _names_an_argument(message: str, argv: list[str]) -> bool:
    for arg in argv:
        if arg and (arg[:60] in message or repr(arg)[1:-1][:60] in message):
            return True
        if arg.startswith("@") and str(Path(arg[1:])) in message:
            return True
    return False


def _use_every_flag(args: Args) -> None:
    """What commands do with flags: read them as text and as yes/no (the rules of every
    command's flags)."""
    for key in list(args.flags):
        for kind in (options.TEXT, options.BOOL):
            try:
                options.Flag(kind, None, "").named(key).read(args)
            except UsageError as exc:
                assert f"--{key}" in str(exc), exc


def test_the_grammar_parses_or_names_the_argument(tmp_path: Path) -> None:
    suffixes = st.sampled_from([".json", ".yaml", ".yml", ""])

    @fuzz(400)
    @given(data=st.data(), contents=st.lists(st.tuples(suffixes, FILE_CONTENT), max_size=3))
    def check(data: st.DataObject, contents: list[tuple[str, bytes]]) -> None:
        with case("CLI grammar"):
            files = []
            for i, (suffix, content) in enumerate(contents):
                path = tmp_path / f"in{i}{suffix}"
                path.write_bytes(content)
                files.append(f"@{path}")
            pool = ARG | st.sampled_from(files) if files else ARG
            argv = data.draw(st.lists(pool, max_size=8), label="argv")
            try:
                args = parse_args(argv)
            except UsageError as exc:
                assert _names_an_argument(str(exc), argv), (str(exc), argv)
                return
            assert all(word in argv for word in args.positional)
            assert all(isinstance(key, str) for key in args.flags)
            _use_every_flag(args)

    check()


SCRIPTS = {
    "fz": """\
        alias: fz
        uid: '00000000000000f1'
        tags: [fz, fuzz]
        cache: true
        input_mapping: {level: CM_FZ_LEVEL}
        new_env_keys: [CM_FZ_*]
        deps:
          - tags: fz-dep
            names: [dep]
            skip_if_env: {CM_FZ_SKIP: ['yes']}
        variations:
          small: {group: size, default: true, env: {CM_FZ_SIZE: small}}
          big: {group: size}
          batch.#: {env: {CM_FZ_BATCH: '#'}}
          quant: {base: [big]}
        versions:
          '1.0': {env: {CM_FZ_V: '1'}}
    """,
    "fz-dep": """\
        alias: fz-dep
        uid: '00000000000000f2'
        tags: [fz-dep]
        new_env_keys: [CM_FZ_DEP]
    """,
}
REQUESTS = st.sampled_from(["fz", "fz", "fz", "fz,_batch.4", "script", "fz,_small",
                            "fz _batch.$(id)", "fz,_big", "fz,_big,_small", "fz,-fz",
                            "fuzz,_nope", "fz-dep", "f*", "fz,_quant", "nothing",
                            "--tags=fz,_batch.../..", "--tags=fz", "--tags", "--tags,=fz,x",
                            "fz,_batch.\n", "00000000000000f1", "fz,00000000000000f1",
                            "fuzzrepo:fz", ":fz", "fz\udcff"])  # fmt: skip
INPUT_KEYS = st.sampled_from(["version", "version_min", "version_max", "level", "tags", "name",
                              "const.CM_A", "adr.dep.tags", "adr.dep.version", "adr.dep",
                              "ad.dep.env.CM_Y", "env", "ad", "adr", "const", "path",
                              "add_deps_recursive.dep.tags", "extra_cache_tags", "skip_cache",
                              "force_new_env_keys", "force_cache", "adr.dep.env"])  # fmt: skip
INPUTS = st.one_of(
    st.builds(lambda k, v: f"--env.{k}={v}",
              st.sampled_from(["CM_FZ_SKIP", "CM_FZ_LEVEL", "CM_X", "PATH", "+PATH"]) | WORDS,
              FLAG_VALUES),
    st.builds(lambda k, v: f"--{k}={v}", INPUT_KEYS, FLAG_VALUES),
    st.builds(lambda k, v: f"--{k},={v}", INPUT_KEYS, FLAG_VALUES),
    st.builds(lambda k: f"--{k}", INPUT_KEYS),
    st.builds(lambda k: f"--{k}-", INPUT_KEYS),
    st.sampled_from(["--json", "--quiet", "--env.CM_FZ_SKIP=yes", "--help"]),
)  # fmt: skip
_UNSAFE = {"out", "jobs", "profile", "facts", "cache_dir", "dry_run", "new", "renew", "no_facts"}


def _safe(arg: str) -> bool:
    """Flags that would write files, start Snakemake or run scripts are left to other tests."""
    if not arg.startswith("--"):
        return True
    key = arg[2:].split("=", 1)[0].split(".", 1)[0].rstrip(",-").replace("-", "_")
    return key not in _UNSAFE


@pytest.mark.parametrize("command", ["run", "plan", "show", "find", "list", None])
def test_the_command_line_returns_an_exit_code_and_a_message(
    make_repo: RepoMaker, command: str | None
) -> None:
    scripts = {alias: textwrap.dedent(text) for alias, text in SCRIPTS.items()}
    assert cli("repo", "add", str(make_repo("fuzzrepo", scripts)))[0] == 0
    commands = st.just(command) if command else st.sampled_from(["help", "", "rnu", "-x"])

    @fuzz(40)
    @given(
        command=commands,
        request=REQUESTS.map(lambda r: [r]) | st.lists(REQUESTS, max_size=2),
        extra=st.lists(INPUTS | INPUTS | ARG.filter(_safe), max_size=4),
    )
    def check(command: str, request: list[str], extra: list[str]) -> None:
        with case("CLI main"):
            argv = [command, *request, *extra] if command else [*request, *extra]
            if command in ("run", "plan"):  # plan only: nothing runs, no host facts
                argv[1:1] = ["--dry-run", "--no-facts"] if command == "run" else ["--no-facts"]
            out, err = io.StringIO(), io.StringIO()
            code = main(argv, out=out, err=err)
            assert code in (0, 1, 2), (code, argv)
            if code != 0:
                assert "cm-snakemake error: " in err.getvalue() or "usage:" in out.getvalue()

    check()


# -- 3. the variation resolver ---------------------------------------------------------------

VNAMES = ["a", "b", "c", "d", "x.#", "a,b", "b,c", "p/q", "..", "n\nl", "$(id)", "_u", "", "y.#"]
REFS = st.sampled_from([*VNAMES, "x.1", "zz", "~a", "_a", "a ", "y.z.w"])
GROUPS = st.sampled_from(["g1", "g2", "g/3", "", "g\n"])
VAR_ENTRY = st.none() | st.fixed_dictionaries({}, optional={
    "group": GROUPS,
    "default": st.sampled_from([True, False, "yes", "no", "off", "maybe", ""]),
    "base": st.lists(REFS, max_size=3) | REFS,
    "alias": REFS,
    "default_variations": st.dictionaries(GROUPS, REFS, max_size=2),
    "env": st.dictionaries(st.sampled_from(["CM_A", "CM_#", "#"]),
                           st.sampled_from(["#", "v", "a#b", "$(id)"]), max_size=2),
    "script_name": st.sampled_from(["run-#", "x"]),
    "deps": st.lists(st.fixed_dictionaries({"tags": st.sampled_from(["t,_#", "u"])}),
                     max_size=2),
    "adr": st.dictionaries(st.sampled_from(["dep", "#"]),
                           st.fixed_dictionaries({"tags": st.sampled_from(["_#", "v"])}),
                           max_size=1),
})  # fmt: skip
VARIATION_META = st.fixed_dictionaries(
    {"alias": st.just("vt"), "uid": st.just("1"), "tags": st.just(["vt"]),
     "variations": st.dictionaries(st.sampled_from(VNAMES), VAR_ENTRY, max_size=8)},
    optional={"default_variation": REFS,
              "default_variations": st.dictionaries(GROUPS, REFS, max_size=2),
              "valid_variation_combinations": st.lists(st.lists(REFS, max_size=3), max_size=2),
              "invalid_variation_combinations": st.lists(st.lists(REFS, max_size=3),
                                                         max_size=2)},
)  # fmt: skip
REQUESTED = st.lists(st.sampled_from([*VNAMES, "x.1", "x.", "x.a.b", "zz", "x.$(id)", "x.../..",
                                      "y.\n", "x.#"]) | TEXT, max_size=4)  # fmt: skip


@fuzz(500)
@given(
    raw=VARIATION_META,
    requested=REQUESTED,
    excluded=st.lists(st.sampled_from(VNAMES) | TEXT, max_size=2),
)
def test_variations_resolve_or_fail_naming_the_script(
    raw: dict[str, Any], requested: list[str], excluded: list[str]
) -> None:
    with case("variation resolver"):
        try:
            meta, _ = build_script_meta(
                _keyed(raw), path="vt", meta_files=(PATH,), dialect=Dialect.CM
            )
        except MetaError as exc:
            assert str(exc).startswith(PATH), exc
            return
        try:
            resolved = resolve_variations(meta, requested, excluded)
        except VariationError as exc:
            assert str(exc).startswith("script 'vt': "), exc
            return
        explicit = tuple(dict.fromkeys(requested))
        assert resolved.explicit == explicit
        assert resolved.all[: len(explicit)] == explicit
        assert all(meta.variation(tag) is not None for tag in resolved.all)
        for group, members in meta.groups().items():
            chosen = [t for t in resolved.all if (v := meta.variation(t)) and v.name in members]
            assert len(chosen) <= 1, (group, chosen)
        applied = applied_metas(meta, resolved)
        if not resolved.all:
            assert applied == []
            return
        step = len(applied) // len(resolved.all)  # each variation, then the combined keys
        assert len(applied) == step * len(resolved.all)
        assert tuple(tag for tag, _ in applied[::step]) == resolved.all
        for tag, var in applied[::step]:
            if var.name.endswith(".#") and "#" not in tag:
                assert "#" not in json.dumps(to_jsonable(var.env)), (tag, var.env)


# -- 4. what a native script hands back ------------------------------------------------------

ENV_OUT_LINES = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", WORDS, WORDS),
    WORDS,
    st.sampled_from(["=", "==", "=x", "+PATH=/a:/b", " K = v ", "K=a=b", "\r", "\x0c", "\x85"]),
    st.integers(1, 200_000).map(lambda n: "K=" + "v" * n),
)  # fmt: skip
ENV_OUT_BYTES = st.one_of(
    st.binary(max_size=300),
    st.lists(ENV_OUT_LINES, max_size=8).map(lambda lines: "\n".join(lines).encode()),
    st.tuples(st.binary(max_size=40), st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80"]))
    .map(b"K=".join),
)  # fmt: skip
STATE_BYTES = st.one_of(
    st.binary(max_size=200),
    ANY.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(WORDS, ANY, max_size=4).map(lambda v: json.dumps(v).encode()),
    JSON_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),
    _deep("[", "]", "").map(str.encode),
    _deep('{"a": ', "}", "").map(str.encode),
    st.sampled_from([b"", b"\xef\xbb\xbf{}", b"{}\x00", b"\xff{}", b'{"a": NaN}', b"[]", b"1",
                     b'"text"', b"null", b"9" * 5000]),
)  # fmt: skip


@fuzz(300)
@given(data=ENV_OUT_BYTES)
def test_env_out_is_read_whatever_the_bytes(tmp_path: Path, data: bytes) -> None:
    with case("tmp-run-env.out reader"):
        path = tmp_path / "tmp-run-env.out"
        path.write_bytes(data)
        values, bad = read_env_out(path)
        lines = [ln for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]
        assert len(values) <= len(lines) - len(bad)
        for key, value in values.items():
            assert key and key == key.strip() and value == value.strip()
            assert "\n" not in key + value and "\r" not in key + value
        assert all("=" not in line or not line.partition("=")[0].strip() for line in bad)


@fuzz(300)
@given(data=STATE_BYTES)
def test_run_state_is_an_object_or_a_failure_naming_the_file(tmp_path: Path, data: bytes) -> None:
    with case("tmp-run-state.json reader"):
        path = tmp_path / "tmp-run-state.json"
        path.write_bytes(data)
        try:
            state = read_run_state(path, script="fz")
        except ScriptFailed as exc:
            assert f"script 'fz' failed in native script: {path} is " in str(exc), exc
            return
        assert isinstance(state, dict)
        assert json.dumps(state) == json.dumps(json.loads(data.decode("utf-8-sig")))


def test_a_missing_state_file_is_an_empty_state(tmp_path: Path) -> None:
    assert read_run_state(tmp_path / "tmp-run-state.json", script="fz") == {}


def test_a_run_whose_script_leaves_a_list_as_its_state_fails_naming_the_file(
    make_repo: RepoMaker,
) -> None:
    meta = "alias: lister\nuid: '00000000000000f3'\ntags: [lister]\nnew_state_keys: [x]\n"
    run = "echo '[1, 2]' > tmp-run-state.json\n"
    root = make_repo("lists", {"lister": meta}, files={"lister/run.sh": run})
    assert cli("repo", "add", str(root))[0] == 0
    code, _, err = cli("run", "lister")
    assert code == 2
    state = Path.cwd() / "tmp-run-state.json"
    assert (
        f"script 'lists:lister' failed in native script: {state} is not a JSON object but a list"
    ) in err
    (root / "script" / "lister" / "run.sh").write_text("echo '{\"x\": 2}' > tmp-run-state.json\n")
    code, out, err = cli("run", "lister", "--json")  # an object is merged into the state
    assert code == 0, err
    assert json.loads(out)["new_state"] == {"x": 2}


def test_errors_are_project_errors() -> None:
    """The properties above rely on every reader's error deriving from the project's base."""
    for error in (MetaError, UsageError, ScriptFailed, VariationError):
        assert issubclass(error, CMSnakemakeError)
