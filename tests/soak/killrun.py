"""Kill the Snakemake controller at random points of a CM workflow and check what is left.

A small repository stands for an MLPerf run: cached installs (``tool-a``, ``tool-b``, three
``model`` nodes from a dynamic variation, ``tool-c`` over ``tool-a``) under a benchmark run
that is not cached (``bench``). Every cached script writes its payload in two steps with a
pause between them, so a half-built entry is easy to recognise, and every script refuses to
run over a dependency whose payload is half written (exit 9), so using a half entry fails
the run.

A chain starts Snakemake, waits until a random number of scripts have started (plus a random
pause), and SIGKILLs it: the controller alone (its running jobs go on as orphans, as after
``kill -9`` or the OOM killer) or its whole process group (as when the login session dies).
After each kill the cache is checked; then the next Snakemake run starts, and may be killed
again. The last run must finish, and:

* no entry with a completion marker ever held a half-written payload;
* an entry that was complete at any kill point is never rebuilt afterwards (its result file
  is byte-for-byte the same at the end);
* the benchmark node ran over complete dependencies, and no incomplete folder is left.

Used by ``tests/integration/test_kill.py`` (20 kill points) and ``tests/soak/soak_kill.py``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HEAD = "automation_alias: script\nautomation_uid: 5b4e0237da074764\n"

CHECK_DEPS = """\
for f in $(env | sed -n 's/^CM_PAYLOAD_[A-Z0-9_]*=//p'); do
  grep -qx complete "$f" || { echo "half-written dependency payload $f" >&2; exit 9; }
done
"""

BUILD = """\
echo "begin $PWD" >> "$CMSM_SOAK_LOG"
{check}echo partial > payload.txt
sleep "$CMSM_SOAK_SLEEP"
echo complete >> payload.txt
echo "CM_PAYLOAD_{var}=$PWD/payload.txt" >> tmp-run-env.out
echo "end $PWD" >> "$CMSM_SOAK_LOG"
"""

BENCH = """\
echo "begin $PWD" >> "$CMSM_SOAK_LOG"
{check}sleep "$CMSM_SOAK_SLEEP"
n=$(env | grep -c '^CM_PAYLOAD_')
echo "CM_BENCH_CHECKED=$n" >> tmp-run-env.out
echo "end $PWD" >> "$CMSM_SOAK_LOG"
"""

SNAKEFILE = """\
from cm_snakemake.compile.workflow import cm

rule all:
    input: cm.target("bench")

include: cm.rules()
"""

# scripts: alias -> (cached, deps, extra meta)
SCRIPTS = {
    "tool-a": (True, [], ""),
    "tool-b": (True, [], ""),
    "tool-c": (True, ["tool-a"], ""),
    "model": (True, ["tool-b"], "variations:\n  n.#:\n    env: {MODEL_N: '#'}\n"),
    "bench": (False, ["tool-c", "model,_n.1", "model,_n.2", "model,_n.3"], ""),
}
NODES = 7  # tool-a, tool-b, tool-c, model x3, bench
PAYLOADS_FOR_BENCH = 4  # the payloads of bench's own deps: tool-c and the three models


def write_repo(root: Path) -> Path:
    repo = root / "killrepo"
    (repo / "script").mkdir(parents=True)
    (repo / "cmr.yaml").write_text("alias: killrepo\nuid: 00000000000000c7\n")
    for uid, (alias, (cached, deps, extra)) in enumerate(SCRIPTS.items(), start=1):
        folder = repo / "script" / alias
        folder.mkdir()
        dep_lines = "".join(f"- tags: {d}\n" for d in deps)
        # each script exports its own payload's path only
        var = alias.upper().replace("-", "_") + ("_${MODEL_N}" if "n.#" in extra else "")
        exported = f"CM_PAYLOAD_{var.split('_$')[0]}*" if cached else "CM_BENCH_*"
        (folder / "_cm.yaml").write_text(
            f"alias: {alias}\nuid: '{uid:016x}'\ntags: [{alias}]\ncache: {str(cached).lower()}\n"
            + HEAD
            + f"new_env_keys: ['{exported}']\n"
            + (f"deps:\n{dep_lines}" if deps else "")
            + extra
        )
        body = BUILD if cached else BENCH
        (folder / "run.sh").write_text(body.format(check=CHECK_DEPS if deps else "", var=var))
    return repo


@dataclass
class Outcome:
    """What a series of kill chains did and found."""

    kills: int = 0
    controller_only: int = 0
    whole_group: int = 0
    runs: int = 0
    during_install: int = 0  # kills while a cached script was running
    during_benchmark: int = 0  # kills while the benchmark node was running
    recovered_messages: int = 0
    entries_kept_across_kills: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{self.kills} kill points ({self.controller_only} controller only, "
            f"{self.whole_group} whole process group; {self.during_install} during a "
            f"cached install, {self.during_benchmark} during the benchmark run), "
            f"{self.runs} Snakemake runs, "
            f"{self.entries_kept_across_kills} entries complete at a kill and reused, "
            f"{self.recovered_messages} stale-lock recoveries reported, "
            f"{len(self.problems)} problems, {self.seconds:.0f} s"
        )


class Chain:
    """One workflow directory, cache and log, killed again and again, then finished."""

    def __init__(
        self, root: Path, rng: random.Random, *, sleep: float = 0.4, rerun_incomplete: bool = True
    ) -> None:
        self.root = root
        self.rng = rng
        self.rerun_incomplete = rerun_incomplete
        root.mkdir(parents=True, exist_ok=True)
        self.log = root / "builds.log"
        self.log.touch()
        self.work = root / "wf"
        self.work.mkdir(exist_ok=True)
        (self.work / "Snakefile").write_text(SNAKEFILE)
        self.cache = root / "home" / "cache"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CMSM_")}
        self.env |= {
            "CMSM_HOME": str(root / "home"),
            "CMSM_SOAK_LOG": str(self.log),
            "CMSM_SOAK_SLEEP": f"{sleep:g}",
        }
        repo = write_repo(root)
        subprocess.run(
            [sys.executable, "-m", "cm_snakemake", "repo", "add", str(repo)],
            env=self.env,
            check=True,
            capture_output=True,
        )
        self.seen: dict[str, str] = {}  # complete entry -> digest of its result file
        self.groups: list[int] = []  # process groups started (orphans keep theirs)
        self.stderr = root / "run.err"
        self.outcome = Outcome()

    def _command(self) -> list[str]:
        snakefile = str(self.work / "Snakefile")
        cmd = [sys.executable, "-m", "snakemake", "-c2", "-d", str(self.work), "-s", snakefile]
        return [*cmd, "--rerun-incomplete"] if self.rerun_incomplete else cmd

    def _running(self) -> set[str]:
        """Folders of the scripts that started and have not ended (per the build log)."""
        lines = self.log.read_text().splitlines()
        begun = Counter(line[6:] for line in lines if line.startswith("begin "))
        ended = Counter(line[4:] for line in lines if line.startswith("end "))
        return {path for path, n in begun.items() if n > ended[path]}

    def _begins(self) -> int:
        return self.log.read_text().count("begin ")

    def complete_entries(self) -> dict[str, str]:
        found = {}
        for result in self.cache.glob("*/*/cmsm-result.json"):
            try:
                data = json.loads(result.read_text())
            except (OSError, ValueError):
                continue
            if data.get("format") == 1:
                found[str(result.parent)] = hashlib.sha256(result.read_bytes()).hexdigest()
        return found

    def check_no_half_entry(self) -> None:
        for entry in self.complete_entries():
            payload = Path(entry) / "payload.txt"
            text = payload.read_text() if payload.is_file() else ""
            if text.split() != ["partial", "complete"]:
                self.outcome.problems.append(f"complete entry with payload {text!r}: {entry}")

    def remember(self) -> None:
        for entry, digest in self.complete_entries().items():
            old = self.seen.setdefault(entry, digest)
            if old != digest:
                self.outcome.problems.append(f"entry rebuilt after it was complete: {entry}")

    def run_killed(self) -> bool:
        """Start Snakemake and kill it at a random point; False if it finished first."""
        before = self._begins()
        left = NODES - len(self.complete_entries()) - (1 if self._bench_done() else 0)
        wanted = before + self.rng.randint(1, max(1, left))
        pause = self.rng.uniform(0.0, 0.5)
        whole_group = self.rng.random() < 0.4
        proc = self._start()
        deadline = time.monotonic() + 120
        while proc.poll() is None and self._begins() < wanted and time.monotonic() < deadline:
            time.sleep(0.02)
        if proc.poll() is None:
            time.sleep(pause)
        if proc.poll() is not None:
            self._read_stderr(proc)
            return False
        running = self._running()
        if whole_group:
            os.killpg(proc.pid, signal.SIGKILL)
            self.outcome.whole_group += 1
        else:
            proc.kill()
            self.outcome.controller_only += 1
        self._read_stderr(proc)
        self.outcome.kills += 1
        self.outcome.during_install += any(str(self.cache) in p for p in running)
        self.outcome.during_benchmark += any("/results/bench/" in p for p in running)
        self.check_no_half_entry()
        self.remember()
        return True

    def _start(self) -> subprocess.Popen[bytes]:
        """Snakemake in a new session; its output goes to a file (orphaned jobs may hold the
        file open after a kill, and nothing has to drain it)."""
        self.outcome.runs += 1
        self.stderr = self.root / f"run-{self.outcome.runs}.err"
        with open(self.stderr, "wb") as err:
            proc = subprocess.Popen(
                self._command(),
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
        self.groups.append(proc.pid)
        return proc

    def _read_stderr(self, proc: subprocess.Popen[bytes]) -> str:
        proc.wait()
        err = self.stderr.read_text(errors="replace")
        if "was killed" in err:
            self.outcome.recovered_messages += 1
        if "cannot be locked" in err:
            self.outcome.problems.append("a run refused to start: stale Snakemake lock")
        return err

    def _bench_done(self) -> bool:
        return any((self.work / ".cmsm" / "results" / "bench").glob("*.json"))

    def finish(self) -> None:
        """Run to the end, then check the whole cache and the benchmark's result."""
        proc = self._start()
        proc.wait()
        err = self._read_stderr(proc)
        if proc.returncode != 0:
            self.outcome.problems.append(f"the run after the kills failed:\n{err[-3000:]}")
            return
        self.wait_for_orphans()
        self.check_no_half_entry()
        self.outcome.entries_kept_across_kills += len(self.seen)
        self.remember()
        if len(self.complete_entries()) != NODES - 1:
            self.outcome.problems.append(
                f"{len(self.complete_entries())} complete entries, expected {NODES - 1}"
            )
        leftovers = [
            p
            for p in self.cache.glob("*/*")
            if p.is_dir() and str(p) not in self.complete_entries()
        ]
        if leftovers:
            self.outcome.problems.append(f"incomplete folders left: {leftovers}")
        results = list((self.work / ".cmsm" / "results" / "bench").glob("*.json"))
        checked = [json.loads(r.read_text())["new_env"].get("CM_BENCH_CHECKED") for r in results]
        if checked != [str(PAYLOADS_FOR_BENCH)]:
            self.outcome.problems.append(f"bench result: {checked}")

    def wait_for_orphans(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for group in self.groups:
            while time.monotonic() < deadline:
                try:
                    os.killpg(group, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)

    def kill_orphans(self) -> None:
        for group in self.groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)


REPORTS: list[str] = []  # one summary per run_chains call, for the test session's summary
COUNTS = ("kills", "controller_only", "whole_group", "runs", "during_install",
          "during_benchmark", "recovered_messages", "entries_kept_across_kills")  # fmt: skip


def run_chains(
    root: Path, kills: int, *, seed: int, per_chain: int = 5, sleep: float = 0.4
) -> Outcome:
    """Kill chains until ``kills`` kill points were reached; every chain is then finished."""
    rng = random.Random(seed)
    total = Outcome()
    started = time.monotonic()
    n = 0
    while total.kills < kills:
        chain = Chain(root / f"chain-{n}", rng, sleep=sleep, rerun_incomplete=n % 2 == 0)
        try:
            for _ in range(per_chain):
                if total.kills + chain.outcome.kills >= kills or not chain.run_killed():
                    break
            chain.finish()
        finally:
            chain.kill_orphans()
        o = chain.outcome
        for name in COUNTS:
            setattr(total, name, getattr(total, name) + getattr(o, name))
        total.problems += [f"chain {n}: {p}" for p in o.problems]
        n += 1
        if o.problems or n > kills:  # stop at the first broken chain, or if no kill lands
            break
    total.seconds = time.monotonic() - started
    REPORTS.append(f"seed {seed}: {total.summary()}")
    return total
