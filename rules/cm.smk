# Include this file in your own Snakefile to use CM scripts as building blocks:
#
#     from cm_snakemake.snake import cm
#
#     rule report:
#         input: cm.target("get python3")
#         output: "python.txt"
#         run:
#             env = cm.env(input[0])
#             open(output[0], "w").write(env["CM_PYTHON_VERSION"] + "\n")
#
#     include: "path/to/cm-snakemake/rules/cm.smk"
#
# It declares one rule per CM script of the requests asked for with cm.target (which must come
# before this include), one job per plan node. The same rules ship inside the package:
# `include: cm.rules()` works without a checkout.

from cm_snakemake.snake import cm as _cm_rules

include: _cm_rules.rules()
