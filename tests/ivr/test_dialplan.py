"""Static checks of dialplans/extensions.conf against the IVR it drives.

No Asterisk here: the file is parsed the way Asterisk reads the lines we use (contexts,
``exten =>`` / ``same =>`` with ``n(label)`` priorities) and checked for what would only show at
run time: AGI routes the server does not know, CC_* variables set but never used, Goto labels
that do not exist, a fallback path that never reaches Queue().
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from ivr.menu import HANDOFF_VARIABLES
from ivr.menu_config import load_menu
from ivr.prompts import load_catalogue
from ivr.service import ROUTES
from tests.conftest import TESTS_DIR

DIALPLAN = TESTS_DIR.parent / "dialplans" / "extensions.conf"
FIXTURE_DIALPLAN = TESTS_DIR / "fixtures" / "asterisk-22" / "config" / "extensions.conf"


@dataclass(frozen=True)
class Step:
    context: str
    exten: str
    label: str | None
    app: str
    args: str
    line: int


def parse(path: Path) -> tuple[dict[str, list[Step]], dict[str, dict[str, str]]]:
    """Contexts → steps in order, and the plain ``key = value`` sections."""
    contexts: dict[str, list[Step]] = {}
    plain: dict[str, dict[str, str]] = {}
    context = ""
    exten = ""
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if header := re.fullmatch(r"\[([^\]]+)\]", line):
            context = header.group(1)
            exten = ""
            if context in {"general", "globals"}:
                plain[context] = {}
            else:
                contexts[context] = []
            continue
        if context in plain:
            key, _, value = line.partition("=")
            plain[context][key.strip()] = value.strip()
            continue
        match = re.fullmatch(r"(exten|same)\s*=>\s*(.+)", line)
        assert match, f"line {number}: not an exten/same line: {raw!r}"
        body = match.group(2)
        if match.group(1) == "exten":
            exten, _, body = body.partition(",")
        else:
            assert exten, f"line {number}: 'same =>' before any 'exten =>' in [{context}]"
        priority, _, app_call = body.partition(",")
        label = re.fullmatch(r"n\(([a-z0-9_]+)\)", priority)
        assert priority in {"1", "n"} or label, f"line {number}: priority {priority!r}"
        app = re.fullmatch(r"(\w+)\((.*)\)", app_call)
        assert app, f"line {number}: not App(args): {app_call!r}"
        contexts[context].append(Step(context, exten, label.group(1) if label else None,
                                      app.group(1), app.group(2), number))
    return contexts, plain


CONTEXTS, PLAIN = parse(DIALPLAN)
GLOBALS = PLAIN["globals"]
TRUNK = CONTEXTS["from-trunk"]


def goto_targets(step: Step) -> list[str]:
    if step.app == "Goto":
        return [step.args]
    if step.app == "GotoIf":
        branches = step.args.rsplit("?", 1)[1]
        return [t for t in branches.split(":") if t]
    return []


def walk(steps: list[Step], start: int, *, take: dict[int, bool]) -> list[Step]:
    """Follow the dialplan from ``steps[start]``; ``take`` says which GotoIf (by line) jump."""
    labels = {s.label: i for i, s in enumerate(steps) if s.label}
    seen: list[Step] = []
    i = start
    while i < len(steps) and len(seen) < 100:
        step = steps[i]
        seen.append(step)
        if step.app in {"Hangup", "Queue"}:
            break
        if step.app == "Goto":
            if "," in step.args:  # into another context: the walk ends here
                break
            i = labels[step.args]
            continue
        if step.app == "GotoIf" and take.get(step.line, False):
            i = labels[goto_targets(step)[0]]
            continue
        i += 1
    return seen


def line_of(condition: str) -> int:
    [step] = [s for s in TRUNK if s.app == "GotoIf" and condition in s.args]
    return step.line


def test_the_contexts_exist() -> None:
    assert {"from-trunk", "cc-transfer", "agents", "supervisor"} <= set(CONTEXTS)
    assert PLAIN["general"] == {"static": "yes", "writeprotect": "yes", "clearglobalvars": "no"}


def test_it_follows_the_shape_of_the_dialplan_that_loaded_in_asterisk_22() -> None:
    fixture, _ = parse(FIXTURE_DIALPLAN)
    assert set(fixture) >= {"from-trunk", "cc-transfer", "agents"}
    assert TRUNK[0].exten == fixture["from-trunk"][0].exten == "4008000000"
    assert [s.app for s in TRUNK[:2]] == ["NoOp", "Answer"]


def test_agi_routes_are_exactly_the_ivr_routes() -> None:
    used = {m.group(1) for steps in CONTEXTS.values() for s in steps if s.app == "AGI"
            for m in [re.fullmatch(r"agi://\$\{CC_FASTAGI\}/([a-z]+)", s.args)] if m}
    every_agi = [s for steps in CONTEXTS.values() for s in steps if s.app == "AGI"]
    assert all(re.fullmatch(r"agi://\$\{CC_FASTAGI\}/[a-z]+", s.args) for s in every_agi)
    assert used == set(ROUTES)
    assert GLOBALS["CC_FASTAGI"] == "127.0.0.1:4573"


@pytest.mark.parametrize("variable", HANDOFF_VARIABLES)
def test_every_variable_the_ivr_sets_is_used_by_the_dialplan(variable: str) -> None:
    reads = [s for s in TRUNK if f"${{{variable}}}" in s.args]
    assert reads, f"{variable} is set by the IVR but never read in [from-trunk]"


def test_the_user_event_carries_the_ivr_result() -> None:
    [event] = [s for s in TRUNK if s.app == "UserEvent"]
    name, *pairs = event.args.split(",")
    assert name == "CcIvrResult"
    headers = dict(p.split(": ", 1) for p in pairs)
    assert headers == {
        "CcQueue": "${CC_QUEUE}", "CcMerchantId": "${CC_MERCHANT_ID}",
        "CcMerchantVerified": "${CC_MERCHANT_VERIFIED}", "CcIntent": "${CC_INTENT}",
        "CcIvrPath": "${CC_IVR_PATH}", "CcPriority": "${CC_PRIORITY}", "CcLang": "${CC_LANG}",
        "CcIvrOutcome": "${CC_IVR_OUTCOME}",
    }


def test_queue_gets_the_priority_the_recording_name_and_continues_for_the_survey() -> None:
    names = [(s.app, s.args) for s in TRUNK]
    queue = names.index(("Queue", "${CC_QUEUE},tc,,,${CC_WAIT},,,,,"))
    # 300 s in a queue without a fallback; CC_OVERFLOW_WAIT before overflowing otherwise
    assert ("Set", 'CC_WAIT=${IF($["${CC_NEXT_QUEUE}" = ""]?300:${CC_OVERFLOW_WAIT})}') \
        in names[:queue]
    assert ("Set", "QUEUE_PRIO=${CC_PRIORITY}") in names[:queue]
    assert ("Set", "MONITOR_FILENAME=${CC_MONITOR_DIR}/${UNIQUEID}") in names[:queue]
    assert names[queue + 2] == ("GotoIf", '$["${QUEUESTATUS}" = "CONTINUE"]?survey')


def test_every_goto_label_exists_in_its_context() -> None:
    for context, steps in CONTEXTS.items():
        for step in steps:
            for target in goto_targets(step):
                where, _, label = target.rpartition(",")
                into = where.split(",")[0] if where else context  # Goto(context,exten,label)
                labels = {s.label for s in CONTEXTS[into] if s.label}
                assert label in labels, f"[{context}] line {step.line}: no label {target!r}"


def test_key_1_in_a_queue_offers_the_call_back_and_only_a_booking_ends_the_call() -> None:
    steps = CONTEXTS["cc-queue-exit"]
    assert {s.exten for s in steps} == {"1"}  # app_queue: only these keys leave the queue
    apps = [(s.app, s.args) for s in steps]
    assert ("AGI", "agi://${CC_FASTAGI}/callback") in apps
    [event] = [a for app, a in apps if app == "UserEvent"]
    assert event.startswith("CcCallbackRequest,") and "${CC_CALLBACK_REF}" in event
    booked = walk(steps, 0, take={s.line: True for s in steps if s.app == "GotoIf"})
    assert booked[-1].app == "Hangup"
    not_booked = walk(steps, 0, take={s.line: False for s in steps if s.app == "GotoIf"})
    assert (not_booked[-1].app, not_booked[-1].args) == ("Goto", "from-trunk,4008000000,requeue")
    requeue = [s for s in CONTEXTS["from-trunk"] if s.label == "requeue"]
    assert requeue, "from-trunk has no requeue label"


def test_every_queue_leaves_to_the_call_back_context_and_offers_it() -> None:
    text = (DIALPLAN.parent / "queues.conf").read_text(encoding="utf-8")
    template = text.split("[hotline-queue](!)", 1)[1].split("\n[", 1)[0]
    assert "\ncontext = cc-queue-exit\n" in template
    assert re.search(r"(?m)^periodic-announce = .*/callback_offer$", template)
    assert re.search(r"(?m)^periodic-announce-frequency = \d+$", template)


def test_normal_ivr_result_is_published_then_queued() -> None:
    agi = next(i for i, s in enumerate(TRUNK) if s.app == "AGI")
    path = walk(TRUNK, agi, take={})
    # self-service? recording name, separate legs?, priority, the queue's fallback and wait,
    # nobody logged in (overflow)? then Queue()
    assert [s.app for s in path][-8:] == ["GotoIf", "Set", "ExecIf", "Set", "Set", "Set",
                                          "GotoIf", "Queue"]
    assert "UserEvent" in [s.app for s in path]


def test_caller_and_agent_legs_are_recorded_apart_when_configured() -> None:
    legs = next(s for s in TRUNK if s.app == "ExecIf" and "MONITOR_OPTIONS" in s.args)
    assert legs.args.startswith("$[${CC_RECORD_LEGS}]?Set(MONITOR_OPTIONS=")
    assert "r(${CC_MONITOR_DIR}/${UNIQUEID}-rx.wav)" in legs.args
    assert "t(${CC_MONITOR_DIR}/${UNIQUEID}-tx.wav)" in legs.args
    assert GLOBALS["CC_RECORD_LEGS"] == "0"


def test_whole_call_recording_starts_after_answer_only_when_configured() -> None:
    answer = next(i for i, s in enumerate(TRUNK) if s.app == "Answer")
    switch = line_of("!${CC_RECORD_WHOLE_CALL}")
    skipped = [s.app for s in walk(TRUNK, answer, take={switch: True})]
    assert "MixMonitor" not in skipped and "AGI" in skipped
    recorded = walk(TRUNK, answer, take={switch: False})
    apps = [s.app for s in recorded]
    assert apps.index("MixMonitor") < apps.index("AGI")
    [mix] = [s for s in recorded if s.app == "MixMonitor"]
    # the queue's file name, without b (the IVR is not bridged), legs as the queue's options
    assert mix.args == "${CC_MONITOR_DIR}/${UNIQUEID}.wav,${CC_WHOLE_OPTIONS}"
    legs = next(s for s in recorded if s.app == "ExecIf")
    assert legs.args.startswith("$[${CC_RECORD_LEGS}]?Set(CC_WHOLE_OPTIONS=r(")
    assert GLOBALS["CC_RECORD_WHOLE_CALL"] == "0"


def test_a_transfer_keeps_the_whole_call_recording_going() -> None:
    [stop] = [s for s in CONTEXTS["cc-transfer"] if "StopMixMonitor" in s.args]
    assert stop.app == "ExecIf" and stop.args == "$[!${CC_RECORD_WHOLE_CALL}]?StopMixMonitor()"


def test_unreachable_fastagi_server_still_queues_the_caller() -> None:
    agi = next(i for i, s in enumerate(TRUNK) if s.app == "AGI")
    path = walk(TRUNK, agi, take={line_of('"${AGISTATUS}" = "FAILURE"'): True})
    apps = [(s.app, s.args) for s in path]
    assert ("Set", "CC_QUEUE=${CC_DEFAULT_QUEUE}") in apps
    assert ("Set", "CC_PRIORITY=0") in apps
    assert apps[-1][0] == "Queue"
    assert "UserEvent" in [a for a, _ in apps]
    assert GLOBALS["CC_DEFAULT_QUEUE"] in load_menu().queues


def test_ivr_that_set_no_queue_is_routed_like_an_unreachable_one() -> None:
    agi = next(i for i, s in enumerate(TRUNK) if s.app == "AGI")
    path = walk(TRUNK, agi, take={line_of('"${CC_QUEUE}" = ""'): True})
    assert path[-1].app == "Queue"
    assert ("Set", "CC_IVR_PATH=noivr") in [(s.app, s.args) for s in path]


def test_self_service_publishes_and_hangs_up_without_queueing() -> None:
    agi = next(i for i, s in enumerate(TRUNK) if s.app == "AGI")
    self_service = [s.line for s in TRUNK if s.app == "GotoIf"
                    and '"${CC_IVR_OUTCOME}" = "self_service"' in s.args]
    path = walk(TRUNK, agi, take=dict.fromkeys(self_service, True))
    apps = [s.app for s in path]
    assert "UserEvent" in apps and "Queue" not in apps and apps[-1] == "Hangup"


def test_prompts_played_by_the_dialplan_are_in_the_catalogue() -> None:
    played = {s.args.rsplit("/", 1)[1] for steps in CONTEXTS.values() for s in steps
              if s.app == "Playback" and s.args.startswith("${CC_PROMPTS}/")}
    assert played and played <= load_catalogue().ids
    assert GLOBALS["CC_PROMPTS"] == load_menu().prompt_base


def test_agent_and_supervisor_phones_are_pjsip() -> None:
    assert [(s.exten, s.app, s.args) for s in CONTEXTS["agents"] if s.app == "Dial"] == [
        ("_80XX", "Dial", "PJSIP/${EXTEN},,")]
    assert any(s.app == "Dial" and s.args.startswith("PJSIP/") for s in CONTEXTS["supervisor"])


def test_transfer_keeps_priority_and_runs_the_survey() -> None:
    steps = CONTEXTS["cc-transfer"]
    assert steps[0].exten == "_[a-z]."
    apps = [(s.app, s.args) for s in steps]
    assert ("ExecIf", "$[!${CC_RECORD_WHOLE_CALL}]?StopMixMonitor()") in apps
    assert any(a == "Set" and v.startswith("QUEUE_PRIO=") and "CC_PRIORITY" in v for a, v in apps)
    assert ("AGI", "agi://${CC_FASTAGI}/survey") in apps


def test_the_queue_names_agree_across_queues_conf_the_product_menu_and_simulator() -> None:
    from callcenter.domain import HOTLINE_QUEUES
    from simulator.config import DEFAULT_QUEUES as SIMULATED_QUEUES

    conf = (DIALPLAN.parent / "queues.conf").read_text(encoding="utf-8")
    declared = tuple(re.findall(r"(?m)^\[(\w+)\]\(hotline-queue\)", conf))
    assert declared == HOTLINE_QUEUES == SIMULATED_QUEUES
    assert set(load_menu().queues) <= set(HOTLINE_QUEUES)
