"""`bmtrace diff --isolate`: for each diverged stage, replay B's inputs into A's stage function.

If A's function, given B's inputs, reproduces B's outputs, the stage only inherits error from an
earlier stage; if not, the stage introduces error of its own (the vendor's step 5/7, automated).
"""
from __future__ import annotations

import sys

from ..compare import Status
from ..errors import ReplayError, UntrustedCodeError
from . import replay_call
from .target import target_from_identity, unwrap_traced
from .trust import ImportPolicy


def isolate_stages(result, run_a, run_b, trust_recorded=False, log=None, rerun=None):
    """Fill ``local`` and ``introduces`` on the stage entries of ``result``; set ``result.isolation``.

    The stage functions are the ones run A's trace names; by default only those defined in the user's own
    source files are imported (see ``bmtrace.replayer.trust``); ``trust_recorded=True`` imports whatever
    the trace names. ``log`` (default: a line on stderr) is told each function imported or refused.
    ``rerun`` (a ``rerun.Program`` running program B) lets stages replay cannot test be tested by
    substitution (``isolate_substitution``); every entry gets ``tested_by``/``untested_reason``.
    """
    log = log or _to_stderr
    calls_a = {c.id: c for c in run_a.calls()}
    calls_b = {c.id: c for c in run_b.calls()}
    policy = ImportPolicy.for_run(run_a, trust_recorded=trust_recorded)
    targets = {}
    for entry in result.stages:
        if entry.status == Status.ALIGNED:
            entry.introduces = False
            continue
        if entry.status != Status.DIVERGED:
            continue
        call_a, call_b = calls_a.get(entry.call_a), calls_b.get(entry.call_b)
        if call_a is None or call_b is None:
            entry.local = {"status": "unavailable", "reason": "no recorded call on both sides to replay"}
            continue
        try:
            fn = _target(targets, call_a, policy, log)
            replayed = replay_call(call_b, fn, result.rules, templates={t.name: t for t in call_a.inputs})
        except ReplayError as exc:
            entry.local = {"status": "unavailable", "reason": str(exc)}
            if isinstance(exc, UntrustedCodeError):
                entry.local["needs"] = "--trust-recorded"
            continue
        entry.local = replayed.metrics()
        entry.local["direction"] = "A's %s on B's recorded inputs vs B's recorded outputs" % call_a.stage
        entry.local["tensors"] = [t.to_json() for t in replayed.tensors]
        entry.introduces = None if replayed.status == Status.ERROR else not replayed.passed
    from .isolate_substitution import complete_isolation, finish_summary

    complete_isolation(result, run_a, run_b, rerun)
    result.isolation = finish_summary(summarize(result), result)
    result.isolation["imported"] = list(policy.imported)
    result.isolation["trust_recorded"] = policy.trust_recorded
    return result


def _to_stderr(line):
    print("bmtrace: isolate: %s" % line, file=sys.stderr)


def _target(cache, call_a, policy, log):
    identity = call_a.function if isinstance(call_a.function, dict) else {}
    key = repr(sorted((str(k), str(v)) for k, v in identity.items()))
    if key not in cache:
        try:
            before = len(policy.imported)
            cache[key] = unwrap_traced(target_from_identity(call_a.function, policy))
            if len(policy.imported) > before:  # (an auto-recorded library call is rebuilt, not imported)
                log("imported %s (stage %s of run A)" % (policy.imported[-1], call_a.stage))
            else:
                log("redoing stage %s of run A as recorded: %s" % (call_a.stage, identity.get("op")))
        except ReplayError as exc:
            cache[key] = exc
            log("not replaying stage %s: %s" % (call_a.stage, exc))
    if isinstance(cache[key], ReplayError):
        raise cache[key]
    return cache[key]


def summarize(result):
    """Which stage introduces error first (run A's stage order), and which only inherit it."""
    order = {name: i for i, name in enumerate(result.stage_order)}
    introducing, inheriting, unknown = set(), set(), set()
    for entry in result.stages:
        if entry.status != Status.DIVERGED:
            continue
        if entry.introduces:
            introducing.add(entry.stage)
        elif entry.introduces is False:
            inheriting.add(entry.stage)
        else:
            unknown.add(entry.stage)
    inheriting -= introducing
    ranked = sorted(introducing, key=lambda s: order.get(s, len(order)))
    first = ranked[0] if ranked else None
    message = None
    if first:
        rest = sorted(inheriting, key=lambda s: order.get(s, len(order)))
        message = "introduced at %s" % first
        if len(ranked) > 1:
            message += "; also introduced at %s" % ", ".join(ranked[1:])
        if rest:
            message += "; %s only inherit%s it" % (", ".join(rest), "s" if len(rest) == 1 else "")
    elif inheriting:
        message = "every diverged stage only inherits error given identical inputs; check the stages "
        message += "recorded before them, or the inputs of the first one"
    untested_stages = unknown - introducing - inheriting
    if untested_stages:
        untested = "not tested: %s" % ", ".join(sorted(untested_stages, key=lambda s: order.get(s, len(order))))
        if any((e.local or {}).get("needs") for e in result.stages if e.stage in untested_stages):
            untested += (" (the trace names code outside your own source files, which is not imported without "
                         "--trust-recorded)")
        message = "%s; %s" % (message, untested) if message else untested
    return {"introduced_at": first, "introducing": ranked,
            "inheriting": sorted(inheriting, key=lambda s: order.get(s, len(order))),
            "not_replayable": sorted(unknown, key=lambda s: order.get(s, len(order))), "message": message}
