#!/bin/bash
# Import CMSM_PYTHON_MODULE; install CMSM_PYTHON_PACKAGE with pip if the import fails.
"${CM_PYTHON_BIN_WITH_PATH:-${CMSM_PYTHON:-python3}}" "${CM_TMP_CURRENT_SCRIPT_PATH}/ensure.py"
