"""``prefetch``: fetch what a request's plan takes from the network into a bundle."""

from __future__ import annotations

from .._util.secretenv import given
from ..errors import EXIT_OK, UsageError
from ..offline.bundle import Bundle
from ..offline.prefetch import pip_target, prefetch
from ..plan.network import network_needs
from ..plan.planner import Planner
from ..plan.provider import IndexProvider
from ..runtime.facts import host_facts, load_facts
from .options import PATH, Command, Flag
from .run_cmd import accepted_inputs, report_choice
from .script_cmd import INPUT_ARGUMENTS, REQUEST_ARGUMENTS, InputOptions, open_index, request_from

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .main import Context

__all__ = ["PREFETCH", "PrefetchOptions"]


class PrefetchOptions(InputOptions):
    """The flags of ``prefetch``; any other flag is an input of the script."""

    out = Flag(PATH, None, "the bundle folder (made, or completed when it exists)",
               metavar="BUNDLE")  # fmt: skip


def _prefetch(options: PrefetchOptions, ctx: Context) -> int:
    query, artifact = request_from(options)
    if not str(query) and not artifact:
        example = 'cm-snakemake prefetch "get python3" --out=bundle'
        raise UsageError("prefetch needs a request", hint=f"Example: {example}")
    if not options.out:
        raise UsageError("prefetch needs --out=BUNDLE, the folder to fetch into")
    index = open_index(ctx)
    provider = IndexProvider(index)
    if options.no_facts:
        facts = None
    else:  # the target's facts plan what the target will plan
        facts = load_facts(options.facts) if options.facts else host_facts(index, ctx.reporter)
    inputs = options.inputs
    given(inputs)
    planner = Planner(provider, facts=(facts or {}).get("scripts"), reporter=ctx.reporter)
    plan, start = planner.plan_request(query, inputs, artifact=artifact)
    options.check_inputs(accepted_inputs(start))
    report_choice(ctx, query, artifact, plan.node(plan.root))
    index.flush()
    bundle = Bundle.open(str(options.out), create=True)
    target = pip_target(facts) if facts is not None and options.facts else {}
    report = prefetch(network_needs(plan), bundle, target=target, reporter=ctx.reporter)
    for line in report.lines():
        print(line, file=ctx.out)
    print(f"bundle: {bundle.root} (manifest.json lists every item)", file=ctx.out)
    return EXIT_OK


PREFETCH = Command(
    "prefetch", _prefetch, PrefetchOptions,
    synopsis='"TAGS" --out=BUNDLE [--facts=FILE] [--NAME=VALUE ...] [--env.KEY=V]',
    about="""Plan the request (as 'plan' does) and fetch everything its plan takes from the
network into the folder BUNDLE: downloads (checked against the checksums the scripts give),
git repositories (bare mirrors), and the pip packages the plan's pip installs need, with their
dependencies. manifest.json in BUNDLE says what each item is, where it came from, its checksum
and size. A second prefetch into the same folder only adds what is missing.

With --facts=FILE written by 'cm-snakemake facts' on the target machine, the plan is the
target's and pip downloads wheels for the target's Python version and platform.

Carry BUNDLE to the machine without network and run there with --offline=BUNDLE (or
CMSM_OFFLINE=BUNDLE, or the workflow config cm_offline); see docs/offline.md.""",
    arguments=(*REQUEST_ARGUMENTS, *INPUT_ARGUMENTS),
)  # fmt: skip
