#!/bin/bash
# Import CMSM_PYTHON_MODULE; install CMSM_PYTHON_PACKAGE with pip if the import fails.
set -u
if [ -z "${CMSM_PYTHON_PACKAGE:-}" ]; then
  echo "get-python-package needs a variation naming the package, for example _onnxruntime" >&2
  exit 2
fi
py="${CM_PYTHON_BIN_WITH_PATH:-${CMSM_PYTHON:-python3}}"
if ! "$py" -c "import ${CMSM_PYTHON_MODULE}" 2> /dev/null; then
  echo "installing ${CMSM_PYTHON_PACKAGE} into ${py}" >&2
  if ! "$py" -m pip install --disable-pip-version-check -q "${CMSM_PYTHON_PACKAGE}"; then
    echo "pip could not install ${CMSM_PYTHON_PACKAGE} into ${py}." >&2
    echo "Install it yourself (${py} -m pip install ${CMSM_PYTHON_PACKAGE}), or point pip" >&2
    echo "at a reachable index or a folder of wheels (PIP_INDEX_URL, PIP_FIND_LINKS)." >&2
    exit 1
  fi
fi
version=$("$py" -c "import importlib.metadata as m; print(m.version('${CMSM_PYTHON_PACKAGE}'))") || exit 1
echo "CM_PYTHONLIB_${CMSM_PYTHON_KEY}_VERSION=${version}" >> tmp-run-env.out
echo "CM_PYTHONLIB_${CMSM_PYTHON_KEY}_PYTHON=${py}" >> tmp-run-env.out
