# The rules of the CM targets a Snakefile asked for with cm.target(...): one rule per CM
# script, one job per plan node (the node key is the {key} wildcard). Include it after the
# targets are declared:
#
#     from cm_snakemake.snake import cm
#     rule all:
#         input: cm.target("get python3")
#     include: cm.rules()
#
# It may be included again (two included Snakefiles that each include it): the later include
# adds the new nodes to the rules already declared.
#
# A native script that runs longer than the cm_timeout resource (minutes: the script's
# resources.timeout, else config cm_timeout, else no limit; --set-resources overrides) is
# stopped and its job fails with a message.
#
# Every job runs "python -m cm_snakemake job" for its node; nothing is resolved here.
# Detection scripts run in the controller (localrule) unless the config (or a profile's
# `config:` entry) sets cm_localrules=false; scripts that fetch from the network (downloads,
# git clones, pip installs) too, unless cm_network_on_submit_host=false. Short jobs (a
# runtime resource of at most cm_tiny_minutes, default 10) are in the group "cm-tiny", which
# a cluster profile's group-components packs into few jobs; cm_group_tiny=false: no group.
#
# With config cm_offline=BUNDLE (or CMSM_OFFLINE), the run takes its downloads, git clones
# and pip packages from a bundle `cm-snakemake prefetch` made; see docs/offline.md.

from cm_snakemake.compile.workflow import cm as _cm
from snakemake.logging import logger as _cm_logger
from snakemake.exceptions import WorkflowError as _CMWorkflowError
from cm_snakemake.errors import CMSnakemakeError as _CMError

# After a controller killed in this directory: its stale lock goes, and the CM results its
# jobs finished are kept (see cm_snakemake/controller.py).
for _cm_message in _cm.controller_started(workflow):
    _cm_logger.warning(_cm_message)

_CM_PLAN = _cm.merged_plan(config.get("cm_plans", []))

# Offline (config cm_offline, or CMSM_OFFLINE): every network need of the targets must be in
# the prefetch bundle, checked here, before any job runs; the jobs take their items from it.
try:
    _cm.go_offline(config.get("cm_offline"), config.get("cm_plans", []))
except _CMError as _cm_error:
    raise _CMWorkflowError(_cm_error.render()) from None


def _cm_declare(spec):
    # Built inside a function: the rule's values are bound here, not to a loop variable.
    rule:
        name: spec.name
        input: spec.inputs()
        output: spec.output
        params: key=lambda wildcards: wildcards.key
        wildcard_constraints: key="[0-9a-f]{32}"
        threads: spec.resource("threads", 1)
        resources:
            mem_mb=spec.resource("mem_mb", 1000),
            runtime=spec.resource("runtime", 60),
            disk_mb=spec.resource("disk_mb", 1000),
            gpus=spec.resource("gpus", 0),
            cm_timeout=spec.timeout(str(config.get("cm_timeout", 0))),
        localrule: spec.is_local(config)
        group: spec.group(config)
        message: f"CM script {spec.alias}: node {{wildcards.key}}"
        shell: _cm.shell()


for _cm_spec in _cm.rule_specs(_CM_PLAN, workflow):
    _cm_declare(_cm_spec)
