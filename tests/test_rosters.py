"""Who is on duty: rotations across daylight-saving changes, nights, weekends, holidays, overrides."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from escalation.rosters import ExtraOverride, RosterSchedule
from tests.support import make_config

PEOPLE = [
    {"id": pid, "name": name, "functions": ["referent"]}
    for pid, name in [
        ("alice", "Alice Martin"),
        ("bruno", "Bruno Petit"),
        ("chloe", "Chloé Bernard"),
        ("david", "David Roux"),
        ("eve", "Ève Leroy"),
    ]
]
ROSTER = {
    "id": "pfr",
    "name": "Astreinte PFR",
    "start": "2026-01-05",  # a Monday: week 0
    "handover": {"weekday": "lundi", "time": "09:00"},
    "slots": [
        {"titulaire": "alice", "suppleant": "bruno", "cadre": "chloe"},
        {"titulaire": "bruno", "suppleant": "alice", "cadre": "chloe"},
    ],
    "off_hours": {
        "working_hours": {
            "days": ["lundi", "mardi", "mercredi", "jeudi", "vendredi"],
            "start": "08:30",
            "end": "18:30",
        },
        "slots": [
            {"titulaire": "david", "suppleant": "eve", "cadre": "chloe"},
            {"titulaire": "eve", "suppleant": "david", "cadre": "chloe"},
        ],
    },
    "overrides": [
        # Alice on leave for a week: Ève replaces her wherever she is on duty.
        {
            "start": "2026-08-03T09:00",
            "end": "2026-08-10T09:00",
            "replace": "alice",
            "by": "eve",
            "reason": "congés",
        },
        # A swap: David holds the titulaire level one afternoon.
        {"start": "2026-06-02T14:00", "end": "2026-06-02T18:00", "level": "titulaire", "by": "david"},
    ],
}


def schedule() -> RosterSchedule:
    config = make_config(people=PEOPLE, rosters=[ROSTER])
    return RosterSchedule(config.rosters[0], config.desk.zone)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_weekly_rotation_hands_over_at_nine_local_after_the_march_change() -> None:
    s = schedule()
    # Monday 30 March 2026, first Monday of summer time: 09:00 CEST is 07:00 UTC.
    assert s.on_call(utc("2026-03-30T06:59:00+00:00")).titulaire == "bruno"
    assert s.on_call(utc("2026-03-30T07:00:00+00:00")).titulaire == "alice"
    # The week before, 09:00 CET was 08:00 UTC.
    assert s.on_call(utc("2026-03-23T07:59:00+00:00")).titulaire == "alice"
    assert s.on_call(utc("2026-03-23T08:00:00+00:00")).titulaire == "bruno"


def test_weekly_rotation_hands_over_at_nine_local_after_the_october_change() -> None:
    s = schedule()
    # Monday 26 October 2026, first Monday of winter time: 09:00 CET is 08:00 UTC.
    assert s.on_call(utc("2026-10-26T07:59:00+00:00")).titulaire == "bruno"
    assert s.on_call(utc("2026-10-26T08:00:00+00:00")).titulaire == "alice"


def test_the_night_of_the_clock_change_is_covered_without_a_gap() -> None:
    s = schedule()
    # Sunday 29 March: 01:59 CET then, one second later, 03:00 CEST. Weekend: off-hours rotation.
    before = s.on_call(utc("2026-03-29T01:59:00+01:00"))
    after = s.on_call(utc("2026-03-29T03:00:00+02:00"))
    assert before.off_hours and after.off_hours
    assert before.holders == after.holders == {"titulaire": "eve", "suppleant": "david", "cadre": "chloe"}
    # Sunday 25 October: 02:30 happens twice; both are covered by the same people.
    first = s.on_call(utc("2026-10-25T02:30:00+02:00"))
    second = s.on_call(utc("2026-10-25T02:30:00+01:00"))
    assert first.holders == second.holders


@pytest.mark.parametrize(
    ("local", "off_hours", "titulaire"),
    [
        ("2026-11-10T10:00:00+01:00", False, "alice"),  # Tuesday, working hours
        ("2026-11-10T20:00:00+01:00", True, "david"),  # Tuesday night
        ("2026-11-11T10:00:00+01:00", True, "david"),  # Armistice, a public holiday
        ("2026-11-12T10:00:00+01:00", False, "alice"),  # Thursday, working again
        ("2026-11-14T10:00:00+01:00", True, "david"),  # Saturday
        ("2026-11-16T08:45:00+01:00", False, "alice"),  # Monday before the 09:00 hand-over
        ("2026-11-16T09:00:00+01:00", False, "bruno"),  # after it
        ("2026-11-16T19:00:00+01:00", True, "eve"),  # the new week's night
    ],
)
def test_working_hours_nights_weekends_and_holidays(local: str, off_hours: bool, titulaire: str) -> None:
    on_call = schedule().on_call(utc(local))
    assert on_call.off_hours is off_hours
    assert on_call.titulaire == titulaire


def test_leave_override_replaces_the_person_on_every_level_she_holds() -> None:
    s = schedule()
    # Week of 3 August 2026 (week 30, even): Alice titulaire by day, Ève's rotation by night.
    day = s.on_call(utc("2026-08-04T10:00:00+02:00"))
    assert day.holders == {"titulaire": "eve", "suppleant": "bruno", "cadre": "chloe"}
    assert s.on_call(utc("2026-08-03T08:59:00+02:00")).suppleant == "alice"  # before the leave
    assert s.on_call(utc("2026-08-10T09:00:00+02:00")).suppleant == "alice"  # after it (week 31)


def test_level_override_and_run_time_relay() -> None:
    s = schedule()
    assert s.on_call(utc("2026-06-02T15:00:00+02:00")).titulaire == "david"
    assert s.on_call(utc("2026-06-02T18:00:00+02:00")).titulaire != "david"
    relay = ExtraOverride(
        utc("2026-06-03T10:00:00+02:00"), utc("2026-06-03T12:00:00+02:00"), by="chloe", level="titulaire"
    )
    config = make_config(people=PEOPLE, rosters=[ROSTER])
    with_relay = RosterSchedule(config.rosters[0], config.desk.zone, [relay])
    assert with_relay.on_call(utc("2026-06-03T11:00:00+02:00")).titulaire == "chloe"


def test_next_change_and_segments() -> None:
    s = schedule()
    friday_noon = utc("2026-03-27T12:00:00+01:00")
    change = s.next_change(friday_noon)
    assert change is not None
    assert change.at == utc("2026-03-27T18:30:00+01:00")  # the night rotation takes over
    assert change.titulaire == "eve"
    segments = list(s.segments(friday_noon, utc("2026-03-30T12:00:00+02:00")))
    starts = [
        (start.astimezone(s.zone).strftime("%a %H:%M"), on_call.titulaire)
        for start, _end, on_call in segments
    ]
    assert starts == [
        ("Fri 12:00", "bruno"),
        ("Fri 18:30", "eve"),
        ("Mon 08:30", "bruno"),  # working hours, still last week's rotation
        ("Mon 09:00", "alice"),  # hand-over, 09:00 CEST
    ]


def test_rotation_before_start_date_still_answers() -> None:
    # Asking about the past (e.g. an old signal) must not crash or pick a wrong slot parity.
    s = schedule()
    assert s.on_call(utc("2025-12-30T10:00:00+01:00")).titulaire == "bruno"  # week -1
