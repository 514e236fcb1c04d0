#!/bin/bash
"${CM_PYTHON_BIN_WITH_PATH:-${CMSM_PYTHON:-python3}}" "${CM_TMP_CURRENT_SCRIPT_PATH}/preprocess.py"
