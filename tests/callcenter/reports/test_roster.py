"""The roster: the independent checker rule by rule, the CP-SAT generator judged by it,
swaps, and `callcenter roster generate|check`."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from callcenter import cli
from callcenter.reports.roster import (
    BANDS,
    LeaveRequest,
    Roster,
    RosterRules,
    Shift,
    Swap,
    apply_swap,
    check,
    coverage,
    holiday_shifts,
    need_shortfall,
    night_class,
    parse_csv,
    shift_catalogue,
    shortfall_slots,
    to_csv,
)
from callcenter.reports.roster_solver import generate

FEB = [date(2027, 2, d) for d in range(1, 29)]
# A legal 28-day pattern for one agent: 16 shifts (176 h), runs of at most 5, 12 rest days.
LEGAL = list("DDDDOOMMMNOODDDOOMMNOODDOOOO")
RULES = RosterRules(day_floor=0, night_floor=0)  # rule tests without coverage
SMALL_RULES = RosterRules(shifts=BANDS + shift_catalogue((8.0,), 60))


def one(codes: list[str] | str, agent: str = "8001") -> Roster:
    return Roster(2027, 2, {agent: list(codes)})


def rules_broken(roster: Roster, **kw: object) -> list[tuple[str, str | None]]:
    return [(v.rule, v.day.isoformat() if v.day else None)
            for v in check(roster, RULES, **kw)]  # type: ignore[arg-type]


def test_a_legal_month_breaks_no_rule() -> None:
    assert len(LEGAL) == 28 and LEGAL.count("O") == 12
    assert check(one(LEGAL), RULES) == []


def edit(day: int, code: str, base: list[str] = LEGAL) -> list[str]:
    out = list(base)
    out[day - 1] = code
    return out


@pytest.mark.parametrize(("codes", "expected"), [
    (edit(5, "X"), [("code", "2027-02-05")]),
    (LEGAL[:27], [("code", None)]),
    # 17 shifts = 187 h is within 176 ± 11; 18 is not
    (edit(27, "D"), []),
    (edit(27, "D", edit(28, "D")), [("hours", None)]),
    (edit(5, "D", edit(6, "D", edit(7, "O", edit(8, "O")))), [("consecutive", "2027-02-06")]),
    # N on day 10 ends 08:00 on day 11: a D at 08:00 has no rest
    (edit(11, "D"), [("min_rest", "2027-02-11")]),
    (edit(11, "N"), []),  # N after N: 12 h rest
    (edit(7, "L"), [("leave", "2027-02-07")]),
])
def test_each_broken_rule_is_listed_with_its_day(codes: list[str],
                                                 expected: list[tuple[str, str | None]]
                                                 ) -> None:
    assert sorted(rules_broken(one(codes))) == sorted(expected)


def test_too_few_rest_days_are_listed() -> None:
    # 5 on, 1 off all month: 24 shifts (hours broken too) and only 4 rest days.
    codes = list(("DDDDDO" * 5)[:28])
    found = {rule for rule, _ in rules_broken(one(codes))}
    assert {"rest_days", "hours"} <= found


def test_six_or_seven_days_in_a_row_only_with_the_exception() -> None:
    codes = list("DDDDDDDOOOOOOOMMMMMOOOOOMMMO")  # 7 in a row, 16 shifts
    assert ("consecutive", "2027-02-06") in rules_broken(one(codes))
    assert rules_broken(one(codes), exceptions=frozenset({"8001"})) == []
    eight = list("DDDDDDDDOOOOOOMMMMOOOOOMMMOO")
    assert ("consecutive", "2027-02-08") in rules_broken(one(eight),
                                                         exceptions=frozenset({"8001"}))


def test_approved_leave_must_be_on_the_roster_and_lowers_the_hours() -> None:
    leave = [LeaveRequest("8001", date(2027, 2, 6), date(2027, 2, 7), "team_lead")]
    codes = edit(6, "L", edit(7, "L"))
    assert rules_broken(one(codes), leave=leave) == []
    assert rules_broken(one(LEGAL), leave=leave) == [("leave", "2027-02-06"),
                                                    ("leave", "2027-02-07")]
    unapproved = [LeaveRequest("8001", date(2027, 2, 6), date(2027, 2, 7))]
    assert ("leave", "2027-02-06") in rules_broken(one(codes), leave=unapproved)


@pytest.mark.parametrize(("days", "approver", "hired", "earlier", "broken"), [
    (4, "team_lead", date(2026, 1, 1), (), 0),
    (6, "team_lead", date(2026, 1, 1), (), 1),      # more than 5 days: the manager approves
    (6, "manager", date(2026, 1, 1), (), 0),
    (4, "team_lead", date(2026, 12, 1), (), 1),     # less than 3 months' tenure
    (4, "team_lead", date(2026, 1, 1), (date(2027, 1, 10),), 1),  # second in the quarter
    (4, "team_lead", date(2026, 1, 1), (date(2026, 12, 10),), 0),  # last quarter's
    (16, "manager", date(2026, 1, 1), (), 1),       # at most 15 days
])
def test_consecutive_leave_rules(days: int, approver: str, hired: date,
                                 earlier: tuple[date, ...], broken: int) -> None:
    first = date(2027, 2, 3)
    request = LeaveRequest("8001", first, first + timedelta(days=days - 1), approver)
    found = [v for v in check(one(LEGAL), RULES, leave=[request], hired={"8001": hired},
                              earlier_long_leave={"8001": earlier}) if v.rule == "long_leave"]
    assert len(found) == broken, found


def test_coverage_below_the_floor_is_a_broken_rule() -> None:
    rules = RosterRules()  # floors 8 by day, 2 at night
    roster = one(LEGAL)
    found = check(roster, rules)
    assert {v.rule for v in found} == {"coverage"}
    assert len([v for v in found if v.rule == "coverage"]) == 28


def test_below_the_need_is_a_planning_warning_not_a_broken_rule() -> None:
    roster = one(LEGAL)  # 8001 works D (08:00-20:00) on 1 February
    need = {datetime(2027, 2, 1, 10): 2, datetime(2027, 2, 1, 10, 30): 1}
    assert check(roster, RULES) == []
    warnings = need_shortfall(roster, RULES, need)
    assert [(v.rule, v.day, v.detail) for v in warnings] == \
        [("need", date(2027, 2, 1), "below need 10:00 1<2")]
    assert shortfall_slots(roster, RULES, need) == 1
    assert need_shortfall(roster, RULES, {datetime(2027, 2, 1, 10): 1}) == []
    # Below the floor it is the broken rule ``coverage``, not a warning as well.
    floors = RosterRules(day_floor=2, night_floor=0)
    assert [v.rule for v in check(roster, floors)][:1] == ["coverage"]
    assert need_shortfall(roster, floors, need) == []


def test_night_classes_and_holiday_shifts_are_reported() -> None:
    assert [night_class(s) for s in BANDS] == ["", "", "big"]
    assert night_class(RosterRules().shift("2200+8")) == "big"  # type: ignore[arg-type]
    assert night_class(RosterRules().shift("1500+7")) == "small"  # type: ignore[arg-type]
    assert night_class(Shift("S", time(14), timedelta(hours=8), 7.0)) == "small"
    assert night_class(Shift("B", time(16), timedelta(hours=8), 7.0)) == "big"
    assert holiday_shifts(one(LEGAL), RULES, [date(2027, 2, 1), date(2027, 2, 5)]) == \
        {"8001": 1}


def test_an_approved_swap_exchanges_two_agents_codes_and_is_checked_again() -> None:
    other = edit(10, "O", edit(11, "D"))
    roster = Roster(2027, 2, {"8001": list(LEGAL), "8002": other})
    assert check(roster, RULES) == []
    day = date(2027, 2, 11)
    swapped = apply_swap(roster, Swap("8001", "8002", day, "team_lead"))
    assert (swapped.code("8001", day), swapped.code("8002", day)) == ("D", "O")
    assert roster.code("8001", day) == "O"  # the original is unchanged
    # 8001 worked the night before: the swap leaves no rest before the day shift.
    assert rules_broken(swapped) == [("min_rest", "2027-02-11")]
    with pytest.raises(ValueError, match="approval"):
        apply_swap(roster, Swap("8001", "8002", day))


def test_csv_round_trip_and_a_bad_header() -> None:
    roster = Roster(2027, 2, {"8001": list(LEGAL), "8002": list(LEGAL)})
    assert parse_csv(to_csv(roster)).codes == roster.codes
    with pytest.raises(ValueError, match="header"):
        parse_csv("agent,2027-02-02\n8001,D\n")


@functools.cache
def generated() -> tuple[Roster, tuple[LeaveRequest, ...], dict[datetime, int]]:
    agents = [f"80{i:02d}" for i in range(1, 23)]
    leave = (LeaveRequest("8003", date(2027, 2, 8), date(2027, 2, 11), "team_lead"),)
    # A daytime peak above the floor: 10 agents 09:30-11:30 every weekday.
    need = {datetime.combine(d, time(9, 30)) + k * timedelta(minutes=30): 10
            for d in FEB if d.weekday() < 5 for k in range(4)}
    # Hourly 8-hour shifts beside the bands keep the model small enough for a quick test.
    result = generate(2027, 2, agents, SMALL_RULES, need=need, leave=leave, time_limit_s=25)
    assert result.roster is not None, result.status
    return result.roster, leave, need


def test_the_generated_roster_breaks_no_rule_of_the_independent_checker() -> None:
    roster, leave, need = generated()
    assert check(roster, RosterRules(), leave=leave) == []
    assert need_shortfall(roster, RosterRules(), need) == []  # planned hard: 22 agents
    # exceed 1.05x the need in contracted hours, so the target plan falls back to it
    assert roster.codes["8003"][7:11] == ["L"] * 4
    have = coverage(roster, RosterRules())
    assert have[datetime(2027, 2, 3, 10)] >= 10
    assert min(v for k, v in have.items() if k.time() >= time(8)) >= 2


def test_roster_check_command_exits_0_when_clean_and_1_with_the_list(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    roster, _, _ = generated()
    path = tmp_path / "roster-2027-02.csv"
    path.write_text(to_csv(roster))
    (tmp_path / "roster-2027-02.leave.csv").write_text(
        "agent,first,last,approved_by\n8003,2027-02-08,2027-02-11,team_lead\n")
    assert cli.main(["roster", "check", str(path)]) == 0
    assert "no rule broken" in capsys.readouterr().out
    broken = Roster(2027, 2, {a: list(c) for a, c in roster.codes.items()})
    broken.codes["8001"][0:6] = list("DDDDDD")
    path.write_text(to_csv(broken))
    assert cli.main(["roster", "check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "consecutive: 8001 2027-02-06" in out
    path.write_text("nonsense\n")
    assert cli.main(["roster", "check", str(path)]) == 2


def test_roster_generate_command_writes_checks_and_keeps_the_roster(
        tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from callcenter.db.engine import create_engine, session_factory
    from callcenter.db.repositories import Store
    from callcenter.roster_store import SqlRosterStore

    monkeypatch.setenv("CALLCENTER_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("CALLCENTER_REPORTS_DAY_FLOOR", "1")
    monkeypatch.setenv("CALLCENTER_REPORTS_NIGHT_FLOOR", "1")
    leave = tmp_path / "leave.csv"
    leave.write_text("agent,first,last,approved_by\n8002,2027-02-15,2027-02-17,team_lead\n")
    out = tmp_path / "r.csv"
    assert cli.main(["roster", "generate", "--month", "2027-02", "--agents", "8001,8002,8003,8004",
                     "--floors-only", "--leave", str(leave), "--out", str(out), "--save",
                     "--time-limit", "20"]) == 0
    assert "no rule broken" in capsys.readouterr().out
    roster = parse_csv(out.read_text())
    assert roster.codes["8002"][14:17] == ["L", "L", "L"]
    assert (tmp_path / "r.leave.csv").exists()
    assert cli.main(["roster", "check", str(out)]) == 0

    async def stored() -> str | None:
        engine = create_engine(sqlite_url)
        try:
            found = await SqlRosterStore(Store(session_factory(engine))).roster("2027-02")
            return None if found is None else found.roster_csv
        finally:
            await engine.dispose()

    assert asyncio.run(stored()) == out.read_text()


# January 2027 ends with five working days in a row, the last a night shift (ends 08:00 on
# 1 February): a February that opens with a day shift breaks two rules across the boundary.
JAN_END = Roster(2027, 1, {"8001": [*"OOOOOODDDDOOOOOODDDDOOOOODDDDN", "N"]})


def test_the_previous_month_is_history_for_rest_and_runs_across_the_boundary() -> None:
    assert len(JAN_END.codes["8001"]) == 31
    feb = one(edit(1, "D"))  # D on 1 February after the night of 31 January
    assert rules_broken(feb) == []  # judged alone, nothing is wrong
    found = rules_broken(feb, previous=JAN_END)
    assert ("min_rest", "2027-02-01") in found
    assert ("consecutive", "2027-02-01") in found
    assert rules_broken(one(["O", *LEGAL[:-1]]), previous=JAN_END) == []


def test_the_generator_honours_the_previous_months_last_night_and_run() -> None:
    rules = RosterRules(day_floor=1, night_floor=1)
    previous = Roster(2027, 1, {a: list(JAN_END.codes["8001"]) for a in ("8001", "8002")}
                      | {a: list("O" * 31) for a in ("8003", "8004")})
    result = generate(2027, 2, ["8001", "8002", "8003", "8004"], rules, previous=previous,
                      time_limit_s=15)
    assert result.roster is not None, result.status
    assert check(result.roster, rules, previous=previous) == []
    assert result.coverage == "hard"  # the floors alone: nothing to plan below
    assert result.roster.codes["8001"][0] == "O" and result.roster.codes["8002"][0] == "O"


def test_roster_check_command_reads_the_previous_month(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    feb = tmp_path / "roster-2027-02.csv"
    feb.write_text(to_csv(one(edit(1, "D"))))
    jan = tmp_path / "roster-2027-01.csv"
    jan.write_text(to_csv(JAN_END))
    env_floors = {"CALLCENTER_REPORTS_DAY_FLOOR": "0", "CALLCENTER_REPORTS_NIGHT_FLOOR": "0"}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env_floors.items():
            mp.setenv(key, value)
        assert cli.main(["roster", "check", str(feb)]) == 0
        assert cli.main(["roster", "check", str(feb), "--previous", str(jan)]) == 1
    out = capsys.readouterr().out
    assert "min_rest: 8001 2027-02-01" in out and "consecutive: 8001 2027-02-01" in out


def test_users_team_puts_an_account_in_a_team_and_audits_it(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from callcenter.db.engine import create_engine, session_factory
    from callcenter.db.repositories import Store
    from callcenter.domain import Role
    from callcenter.service import add_user
    from callcenter.team_directory import SqlTeamDirectory

    async def team_audit() -> list[tuple[str, str, dict[str, object]]]:
        engine = create_engine(sqlite_url)
        try:
            entries = await Store(session_factory(engine)).audit.recent(action="user.team")
            return [(e.actor, e.target, dict(e.details)) for e in reversed(entries)]
        finally:
            await engine.dispose()

    async def setup_and(read: bool) -> frozenset[str]:
        engine = create_engine(sqlite_url)
        try:
            store = Store(session_factory(engine))
            if not read:
                for name, role in (("lead", Role.TEAM_LEAD), ("8001", Role.AGENT)):
                    await add_user(store, datetime(2027, 1, 1, tzinfo=UTC), username=name,
                                   display_name=name, role=role, password="password-1",
                                   agent_number="8001" if role is Role.AGENT else "",
                                   interface="PJSIP/8001" if role is Role.AGENT else "")
                return frozenset()
            lead = await store.users.by_username("lead")
            assert lead is not None
            return await SqlTeamDirectory(store).team_agents(lead.id)
        finally:
            await engine.dispose()

    monkeypatch.setenv("CALLCENTER_DATABASE_URL", sqlite_url)
    asyncio.run(setup_and(read=False))
    assert cli.main(["users", "team", "lead", "一组"]) == 0
    assert cli.main(["users", "team", "8001", "一组"]) == 0
    assert "user 8001: team 一组" in capsys.readouterr().out
    assert asyncio.run(setup_and(read=True)) == {"8001"}
    assert cli.main(["users", "team", "8001", ""]) == 0
    assert asyncio.run(setup_and(read=True)) == frozenset()
    assert cli.main(["users", "team", "nobody", "一组"]) != 0
    # every change is in the audit log, with the team before and after
    audit = asyncio.run(team_audit())
    assert [(target, details) for _, target, details in audit] == [
        ("lead", {"before": "", "after": "一组"}), ("8001", {"before": "", "after": "一组"}),
        ("8001", {"before": "一组", "after": ""})]
    assert all(actor.startswith("cli:") for actor, _, _ in audit)
