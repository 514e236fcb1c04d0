"""Import a module, or install its package with pip, under a lock.

Jobs of one workflow run side by side, and two pip installs into one Python at the same time
can break each other (both unpacking a shared dependency), so installs into one Python take
turns. Writes the package's version to tmp-run-env.out.
"""

import fcntl
import hashlib
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import tempfile


def lock_path() -> str:
    name = hashlib.sha1(sys.prefix.encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"cmsm-pip-{name}.lock")


def main() -> int:
    package = os.environ.get("CMSM_PYTHON_PACKAGE", "")
    module = os.environ.get("CMSM_PYTHON_MODULE", "")
    key = os.environ.get("CMSM_PYTHON_KEY", "")
    if not (package and module and key):
        print(
            "get-python-package needs a variation naming the package, for example _onnxruntime",
            file=sys.stderr,
        )
        return 2
    with open(lock_path(), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if importlib.util.find_spec(module) is None:
            print(f"installing {package} into {sys.executable}", file=sys.stderr)
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    package,
                ],
                check=False,
            )
            if done.returncode != 0:
                print(
                    f"pip could not install {package} into {sys.executable}.\n"
                    f"Install it yourself ({sys.executable} -m pip install {package}), or "
                    "point pip at a reachable index or a folder of wheels (PIP_INDEX_URL, "
                    "PIP_FIND_LINKS).",
                    file=sys.stderr,
                )
                return 1
            importlib.invalidate_caches()
    version = importlib.metadata.version(package)
    with open("tmp-run-env.out", "a", encoding="utf-8") as out:
        out.write(f"CM_PYTHONLIB_{key}_VERSION={version}\n")
        out.write(f"CM_PYTHONLIB_{key}_PYTHON={sys.executable}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
