"""What hooks reach through ``cmind.access`` / ``mlc.access`` and ``i['automation']``, and what
a variation's ``state``, ``cache`` and ``new_state_keys`` do, on small repositories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..conftest import RepoMaker, cli

ASKING = """\
import json
import os
import zipfile

import cmind


def read(*parts):
    with open(os.path.join(*parts)) as fh:
        return fh.read()


def preprocess(i):
    env = i['env']
    here = os.getcwd()
    r = cmind.access({'action': 'download_file', 'automation': 'utils',
                      'url': env['CM_TEST_URL'], 'path': here})
    assert r['return'] == 0, r
    with zipfile.ZipFile('pack.zip', 'w') as z:
        z.writestr('top/inner/file.txt', 'zipped')
        z.writestr('../escape.txt', 'never')
    r = cmind.access({'action': 'unzip_file', 'automation': 'utils',
                      'filename': 'pack.zip', 'strip_folders': 1})
    assert r['return'] == 0, r
    r = cmind.access({'action': 'system', 'automation': 'utils', 'cmd': 'echo out; echo err >&2'})
    repos = cmind.access({'action': 'find', 'automation': 'repo', 'artifact': 'acc'})
    found = cmind.access({'action': 'search', 'automation': 'cache', 'tags': 'made,_big'})
    scripts = i['automation'].action_object.access(
        {'action': 'search', 'target': 'script', 'tags': 'made'})
    i['automation'].logger.info('logged')
    env['CM_SEEN'] = json.dumps({
        'downloaded': read(here, 'source.txt'),
        'unzipped': read(here, 'inner', 'file.txt'),
        'escaped': os.path.exists(os.path.join(here, '..', 'escape.txt')),
        'system': [r['ret'], r['stdout'], r['stderr']],
        'repos': [os.path.basename(a.path) for a in repos['list']],
        'cache': [a.meta['alias'] for a in found['list']],
        'scripts': [a.meta['alias'] for a in scripts['list']],
        'run_state': 'version_info' in i['input']['run_state'],
        'const': i['const'],
        'state': i['state'].get('from_variation'),
    })
    return {'return': 0}
"""

REFUSING = """\
import cmind


def preprocess(i):
    r = cmind.access({'action': 'rm', 'automation': 'cache', 'tags': 'x'})
    return r
"""


@pytest.fixture
def repo(make_repo: RepoMaker, tmp_path: Path) -> Path:
    (tmp_path / "source.txt").write_text("fetched")
    return make_repo(
        "acc",
        {
            "made": "alias: made\nuid: 'ac00000000000001'\ntags: [made]\ncache: false\n"
            "new_env_keys: [CM_MADE]\nnew_state_keys: [base_key]\n"
            "variations:\n  big:\n    cache: true\n    new_state_keys: [big_key]\n"
            "    state: {big_key: from-big, base_key: base}\n",
            "asking": "alias: asking\nuid: 'ac00000000000002'\ntags: [asking]\n"
            "deps: [{tags: 'made,_big'}]\nnew_env_keys: [CM_SEEN]\n"
            "variations:\n  v:\n    state: {from_variation: {apt: pkg}}\n"
            "    const: {CM_CONST_X: 'kept'}\n",
            "refusing": "alias: refusing\nuid: 'ac00000000000003'\ntags: [refusing]\n",
        },
        files={
            "made/run.sh": "echo CM_MADE=1 >> tmp-run-env.out\n",
            "asking/customize.py": ASKING,
            "refusing/customize.py": REFUSING,
        },
    )


def test_hooks_reach_utils_repos_caches_and_scripts(repo: Path, tmp_path: Path) -> None:
    assert cli("repo", "add", str(repo))[0] == 0
    url = (tmp_path / "source.txt").as_uri()
    code, out, err = cli("run", "asking,_v", f"--env.CM_TEST_URL={url}", "--json")
    assert code == 0, err
    seen = json.loads(json.loads(out)["new_env"]["CM_SEEN"])
    assert seen == {
        "downloaded": "fetched",
        "unzipped": "zipped",
        "escaped": False,
        "system": [0, "out", "err"],
        "repos": ["acc"],
        "cache": ["made"],  # the variation made the script cached; its entry has _big
        "scripts": ["made"],
        "run_state": True,
        "const": {"CM_CONST_X": "kept"},
        "state": {"apt": "pkg"},  # the variation's state reached the hook
    }


def test_a_variation_adds_state_keys_to_the_exports(repo: Path) -> None:
    assert cli("repo", "add", str(repo))[0] == 0
    code, out, err = cli("run", "made,_big", "--json")
    assert code == 0, err
    assert json.loads(out)["new_state"] == {"big_key": "from-big", "base_key": "base"}
    code, out, err = cli("run", "made", "--json")
    assert code == 0, err
    assert json.loads(out)["new_state"] == {}


def test_a_refused_action_names_script_hook_and_line(repo: Path) -> None:
    assert cli("repo", "add", str(repo))[0] == 0
    code, _, err = cli("run", "refusing")
    assert code == 2
    assert "script 'acc:refusing' failed in preprocess" in err
    assert "not supported: access action 'rm' on 'cache'" in err
    assert "customize.py:5" in err
    assert "Traceback" not in err


def test_an_expired_cache_entry_is_rebuilt(make_repo: RepoMaker) -> None:
    """MLC's cache_expiration: a fresh entry is reused; one past its time is rebuilt; the
    variation's value replaces the script's; a malformed value names the script."""
    meta = (
        "alias: stamp\nuid: 'ac00000000000004'\ntags: [stamp]\ncache: true\n"
        "cache_expiration: 2h\nnew_env_keys: [MLC_STAMP]\n"
        "variations:\n  now:\n    cache_expiration: '0'\n  bad:\n    cache_expiration: soon\n"
    )
    root = make_repo("exp", {"stamp": meta}, files={"stamp/run.sh": STAMP})
    (root / "meta.yaml").write_text("alias: exp\nuid: 'ac000000000000ff'\n")
    assert cli("repo", "add", str(root))[0] == 0

    def stamp(tags: str) -> tuple[str, str]:
        code, out, err = cli("run", tags, "--json")
        assert code == 0, err
        return str(json.loads(out)["new_env"]["MLC_STAMP"]), err

    first, _ = stamp("stamp")
    assert stamp("stamp")[0] == first  # within two hours: the same entry
    once, _ = stamp("stamp,_now")
    again, err = stamp("stamp,_now")  # expires at once: rebuilt every time
    assert again != once and "expired" in err
    code, _, err = cli("run", "stamp,_bad")
    assert code == 1 and "cache_expiration 'soon'" in err and "stamp" in err


STAMP = "echo MLC_STAMP=$(date +%s%N) >> tmp-run-env.out\n"


def test_warnings_output_cleaning_and_inherited_expiry(
    make_repo: RepoMaker, tmp_path: Path
) -> None:
    """Meta ``warnings`` (and a variation's ``warning``) are shown before a run that is not a
    cache hit; ``clean_output_files`` are removed from the caller's folder first, even on a
    hit; a dependency with ``inherit_cache_expiration`` expires as its parent does."""
    root = make_repo(
        "meta-effects",
        {
            "warned": "alias: warned\nuid: 'ac00000000000005'\ntags: [warned]\ncache: true\n"
            "warnings: ['needs a big disk']\nclean_output_files: [stale.out]\n"
            "variations:\n  big: {warning: 'downloads 2 GB'}\n",
            "holder": "alias: holder\nuid: 'ac00000000000006'\ntags: [holder]\n"
            "cache_expiration: '0'\nnew_env_keys: [MLC_STAMP]\n"
            "deps: [{tags: inner-stamp, inherit_cache_expiration: true}]\n",
            "inner": "alias: inner\nuid: 'ac00000000000007'\ntags: [inner-stamp]\ncache: true\n"
            "new_env_keys: [MLC_STAMP]\n",
        },
        files={"inner/run.sh": STAMP},
    )
    assert cli("repo", "add", str(root))[0] == 0
    Path("stale.out").write_text("old")
    code, _, err = cli("run", "warned,_big")
    assert code == 0, err
    assert "WARNINGS:" in err and "needs a big disk" in err and "downloads 2 GB" in err
    assert not Path("stale.out").exists()
    Path("stale.out").write_text("old")
    code, _, err = cli("run", "warned,_big")  # a cache hit: no warnings, files still cleaned
    assert code == 0 and "WARNINGS" not in err
    assert not Path("stale.out").exists()

    def stamp() -> str:
        code, out, err = cli("run", "holder", "--json")
        assert code == 0, err
        return str(json.loads(out)["new_env"]["MLC_STAMP"])

    assert stamp() != stamp()  # the inner entry inherits '0': rebuilt every time
    code, out, err = cli("run", "--tags=inner-stamp", "--json")
    assert code == 0, err
    plain = json.loads(out)["new_env"]["MLC_STAMP"]
    assert (
        json.loads(cli("run", "--tags=inner-stamp", "--json")[1])["new_env"]["MLC_STAMP"] == plain
    )


PROVIDER_HOOK = """\
import os


def preprocess(i):
    env = i['env']
    folder = os.path.join(env['CM_TMP_CURRENT_SCRIPT_PATH'], 'lib')
    env['+PYTHONPATH'] = [folder]
    return {'return': 0}
"""

USER_HOOK = """\
import provided_helper  # importable only once the dependency has run


def preprocess(i):
    env = i['env']
    env['CM_USED'] = provided_helper.VALUE + ':' + os_path(env)
    r = i['automation'].run_native_script({'run_script_input': i['run_script_input'],
                                            'env': env, 'script_name': 'probe'})
    return r


def os_path(env):
    return env['CM_TMP_CURRENT_SCRIPT_PATH'].rsplit('/', 1)[-1]
"""


PROBE = 'echo "CM_PROBED=${CM_TMP_CURRENT_SCRIPT_PATH##*/}" > tmp-run-env.out\n'


def test_customize_is_imported_after_the_dependencies_that_extend_sys_path(
    make_repo: RepoMaker,
) -> None:
    """With ``predeps: false`` CM imports ``customize.py`` only after the dependencies, so it
    may import a module a dependency put on the path (``+PYTHONPATH``); hooks and the native
    scripts they run see ``CM_TMP_CURRENT_SCRIPT_PATH``."""
    root = make_repo(
        "late",
        {
            "provider": "alias: provider\nuid: 'ac00000000000008'\ntags: [provider]\n"
            "new_env_keys: ['+PYTHONPATH']\n",
            "user": "alias: user\nuid: 'ac00000000000009'\ntags: [user]\npredeps: false\n"
            "deps: [{tags: provider}]\nnew_env_keys: [CM_USED, CM_PROBED]\n",
        },
        files={
            "provider/customize.py": PROVIDER_HOOK,
            "user/customize.py": USER_HOOK,
            "user/probe.sh": PROBE,
        },
    )
    (root / "script" / "provider" / "lib").mkdir()
    (root / "script" / "provider" / "lib" / "provided_helper.py").write_text("VALUE = 'ok'\n")
    assert cli("repo", "add", str(root))[0] == 0
    code, out, err = cli("run", "--tags=user", "--json")
    assert code == 0, err
    new_env = json.loads(out)["new_env"]
    assert new_env["CM_USED"] == "ok:user"
    assert new_env["CM_PROBED"] == "user"


def test_a_value_that_changes_every_run_does_not_renew_a_cached_caller(
    make_repo: RepoMaker,
) -> None:
    """A dependency that is not cached runs every time, with whatever env it receives; a
    value made afresh for each run (a uuid file name) must not give its cached caller a new
    entry every time (node_ident). A change of that dependency's own files still does."""
    root = make_repo(
        "volatile",
        {
            "builder": "alias: builder\nuid: 'ac0000000000000a'\ntags: [builder]\ncache: true\n"
            "new_env_keys: [MLC_STAMP]\npost_deps: [{tags: flags-reader}]\n",
            "flags": "alias: flags\nuid: 'ac0000000000000b'\ntags: [flags-reader]\n",
        },
        files={
            "builder/run.sh": STAMP,
            "flags/run.sh": 'echo "reading $CM_RUN_UUID" > /dev/null\n',
        },
    )
    assert cli("repo", "add", str(root))[0] == 0

    def built(uuid: str) -> tuple[str, bool]:
        code, out, err = cli("run", "--tags=builder", f"--env.CM_RUN_UUID={uuid}", "--json")
        assert code == 0, err
        data = json.loads(out)
        return str(data["new_env"]["MLC_STAMP"]), bool(data["from_cache"])

    first, _ = built("1111")
    again, hit = built("2222")
    assert hit and again == first
    (root / "script" / "flags" / "run.sh").write_text('echo "changed $CM_RUN_UUID"\n')
    changed, hit = built("3333")
    assert not hit and changed != first
