#!/bin/bash
# The downloaded (and verified) file is the model.
{
  echo "CM_ML_MODEL_FILE_WITH_PATH=${CM_DOWNLOAD_DOWNLOADED_PATH}"
  echo "CM_ML_MODEL_NAME=resnet50"
  echo "CM_ML_MODEL_OUTPUT_NAME=ArgMax:0"
  echo "CM_ML_MODEL_LABEL_OFFSET=1"
  echo "CM_ML_MODEL_PRECISION=fp32"
} >> tmp-run-env.out
