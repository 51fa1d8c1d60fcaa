"""References between sections, checked on the document as written, so that they come in the
same run as the errors of form."""

from __future__ import annotations

from typing import Any

from bot.config.types import LEVELS


def _items(value: Any) -> list[tuple[int, dict[str, Any]]]:
    return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)] if isinstance(value, list) else []


def _section(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def cross_check(data: dict[str, Any], lang: str = "fr") -> list[tuple[tuple[int | str, ...], str]]:
    """References between sections, on the document as written (so that they are reported in the
    same run as the errors of form, whatever else is wrong): every name must exist."""
    people = {str(p.get("id")) for _, p in _items(data.get("people")) if p.get("id") is not None}
    found: list[tuple[tuple[int | str, ...], str]] = []

    def say(fr: str, en: str) -> str:
        return en if lang == "en" else fr

    def person(loc: tuple[int | str, ...], pid: Any) -> None:
        if isinstance(pid, str) and pid not in people:
            found.append(
                (
                    loc,
                    say(
                        f"personne inconnue « {pid} » (absente de people)",
                        f"unknown person “{pid}” (not in people)",
                    ),
                )
            )

    officers = data.get("duty_officers")
    for i, pid in enumerate(officers if isinstance(officers, list) else []):
        person(("duty_officers", i), pid)
    roster_ids: set[str] = set()
    for r, roster in _items(data.get("rosters")):
        rid = roster.get("id")
        if rid in roster_ids:
            found.append(
                (
                    ("rosters", r, "id"),
                    say(
                        f"identifiant de tableau d'astreinte en double « {rid} »",
                        f"duplicate roster id “{rid}”",
                    ),
                )
            )
        if isinstance(rid, str):
            roster_ids.add(rid)
        groups: list[tuple[tuple[int | str, ...], Any]] = [(("rosters", r, "slots"), roster.get("slots"))]
        off = _section(roster.get("off_hours"))
        if off:
            groups.append((("rosters", r, "off_hours", "slots"), off.get("slots")))
        for base, slots in groups:
            for s_index, slot in _items(slots):
                for level in LEVELS:
                    person((*base, s_index, level), slot.get(level))
        for o, override in _items(roster.get("overrides")):
            person(("rosters", r, "overrides", o, "by"), override.get("by"))
            person(("rosters", r, "overrides", o, "replace"), override.get("replace"))
    ladder_ids: set[str] = set()
    level_needs_roster = "est un niveau d'astreinte : préciser le roster de l'échelle"
    levels = ", ".join(LEVELS)
    for la, ladder in _items(data.get("ladders")):
        lid = ladder.get("id")
        if lid in ladder_ids:
            found.append(
                (
                    ("ladders", la, "id"),
                    say(f"identifiant d'échelle en double « {lid} »", f"duplicate ladder id “{lid}”"),
                )
            )
        if isinstance(lid, str):
            ladder_ids.add(lid)
        roster_ref = ladder.get("roster")
        if isinstance(roster_ref, str) and roster_ref not in roster_ids:
            found.append(
                (
                    ("ladders", la, "roster"),
                    say(f"tableau d'astreinte inconnu « {roster_ref} »", f"unknown roster “{roster_ref}”"),
                )
            )
        for st, step in _items(ladder.get("steps")):
            page = step.get("page")
            for t_index, target in enumerate(page if isinstance(page, list) else []):
                loc = ("ladders", la, "steps", st, "page", t_index)
                if not isinstance(target, str):
                    continue
                if target in LEVELS:
                    if roster_ref is None:
                        found.append(
                            (
                                loc,
                                say(
                                    f"« {target} » {level_needs_roster}",
                                    f"“{target}” is a level: give the ladder a roster",
                                ),
                            )
                        )
                elif target not in people:
                    found.append(
                        (
                            loc,
                            say(
                                f"« {target} » n'est ni un niveau ({levels}) ni une personne connue",
                                f"“{target}” is neither a level ({levels}) nor a known person",
                            ),
                        )
                    )
    twilio = _section(_section(data.get("channels")).get("twilio"))
    if twilio.get("enabled") is True:
        if not twilio.get("sms_from"):
            found.append(
                (
                    ("channels", "twilio", "sms_from"),
                    say(
                        "numéro d'envoi obligatoire quand Twilio est activé",
                        "sending number required when Twilio is enabled",
                    ),
                )
            )
        if not _section(data.get("desk")).get("public_url"):
            found.append(
                (
                    ("desk", "public_url"),
                    say(
                        "adresse publique obligatoire pour les webhooks Twilio",
                        "public URL required for Twilio's webhooks",
                    ),
                )
            )
    crisis = _section(data.get("crisis"))
    for composition, cell in _section(crisis.get("cells")).items():
        cell = _section(cell)
        where: tuple[int | str, ...] = ("crisis", "cells", composition)
        roster_ref = cell.get("roster")
        if isinstance(roster_ref, str) and roster_ref not in roster_ids:
            found.append(
                (
                    (*where, "roster"),
                    say(f"tableau d'astreinte inconnu « {roster_ref} »", f"unknown roster “{roster_ref}”"),
                )
            )
        for function, targets in _section(cell.get("functions")).items():
            for j, target in enumerate(targets if isinstance(targets, list) else []):
                spot: tuple[int | str, ...] = (*where, "functions", function, j)
                if target in LEVELS:
                    if not isinstance(roster_ref, str):
                        found.append(
                            (
                                spot,
                                say(
                                    f"« {target} » est un niveau : donnez un roster à cette composition",
                                    f"“{target}” is a level: give this composition a roster",
                                ),
                            )
                        )
                else:
                    person(spot, target)
        extra = cell.get("members")
        for j, pid in enumerate(extra if isinstance(extra, list) else []):
            person((*where, "members", j), pid)
    inform = crisis.get("inform")
    for j, pid in enumerate(inform if isinstance(inform, list) else []):
        person(("crisis", "inform", j), pid)
    email_on = _section(_section(data.get("channels")).get("email")).get("enabled") is True
    if crisis.get("upward") and not email_on:
        found.append(
            (
                ("crisis", "upward"),
                say(
                    "les points de situation partent par e-mail : activez channels.email",
                    "situation reports go by e-mail: enable channels.email",
                ),
            )
        )
    if _section(data.get("diffusion")).get("upward") and not email_on:
        found.append(
            (
                ("diffusion", "upward"),
                say(
                    "les rapports de diffusion et les retours POUR ACTION partent par e-mail : "
                    "activez channels.email",
                    "diffusion and FOR ACTION reports go by e-mail: enable channels.email",
                ),
            )
        )
    for i, token in _items(data.get("api_tokens")):
        act_as = token.get("act_as")
        for j, pid in enumerate(act_as if isinstance(act_as, list) else []):
            if pid != "*":
                person(("api_tokens", i, "act_as", j), pid)
    intake = _section(data.get("intake"))
    for i, route in _items(intake.get("routes")):
        ladder_ref = route.get("ladder")
        if isinstance(ladder_ref, str) and ladder_ref not in ladder_ids:
            found.append(
                (
                    ("intake", "routes", i, "ladder"),
                    say(f"échelle inconnue « {ladder_ref} »", f"unknown ladder “{ladder_ref}”"),
                )
            )
    drills = data.get("drills")
    schedules, where = (drills, ("drills",)) if isinstance(drills, list) else (
        _section(drills).get("schedules"), ("drills", "schedules"))  # fmt: skip
    for i, schedule in _items(schedules):
        ladder_ref = schedule.get("ladder")
        if isinstance(ladder_ref, str) and ladder_ref not in ladder_ids:
            found.append(
                (
                    (*where, i, "ladder"),
                    say(f"échelle inconnue « {ladder_ref} »", f"unknown ladder “{ladder_ref}”"),
                )
            )
    if _section(drills).get("report_to") and not email_on:
        found.append(
            (
                ("drills", "report_to"),
                say("les rapports d'exercice partent par e-mail : activez channels.email",
                    "drill reports go by e-mail: enable channels.email"),
            )
        )  # fmt: skip
    # Tokens named by a monitor must be declared, when tokens are declared here (the older
    # VIGIE_API_TOKENS form names its tokens in the environment only).
    tokens = {str(t.get("name")) for _, t in _items(data.get("api_tokens"))}
    for i, monitor in _items(data.get("heartbeats")):
        ladder_ref = monitor.get("ladder")
        if isinstance(ladder_ref, str) and ladder_ref not in ladder_ids:
            found.append(
                (
                    ("heartbeats", i, "ladder"),
                    say(f"échelle inconnue « {ladder_ref} »", f"unknown ladder “{ladder_ref}”"),
                )
            )
        for j, name in enumerate(monitor.get("tokens") or []):
            if isinstance(name, str) and tokens and name not in tokens:
                found.append(
                    (
                        ("heartbeats", i, "tokens", j),
                        say(f"jeton d'API inconnu « {name} » (absent de api_tokens)",
                            f"unknown API token “{name}” (not in api_tokens)"),
                    )
                )  # fmt: skip
    default = intake.get("default_ladder")
    if isinstance(default, str) and default not in ladder_ids:
        found.append(
            (
                ("intake", "default_ladder"),
                say(f"échelle inconnue « {default} »", f"unknown ladder “{default}”"),
            )
        )
    return found
