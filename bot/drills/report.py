"""A drill's report (text for chat and mail, Markdown, CSV, PDF) and the trend chart (PNG)."""

from __future__ import annotations

import csv
import io

from bot.drills.models import DRILL_LABELS, DrillRow, DrillState
from bot.durations import took
from escalation.context import PagingContext


def text(ctx: PagingContext, drill: DrillRow) -> str:
    """What the duty officers read after a drill, and the desk manager's mail."""
    m = drill.measures or {}
    when = ctx.local_day(drill.started_at or drill.due_at or drill.created_at)
    head = f"EXERCICE EXERCICE EXERCICE — Rapport de l'exercice n° {drill.id}"
    head += f" ({drill.schedule_id})" if drill.schedule_id else ""
    if drill.state == DrillState.MISSED.value:
        return f"{head} : manqué (le service était arrêté pendant sa fenêtre), prévu {when}."
    lines = [
        f"{head}, {when} — échelle « {drill.ladder_id} », signal {m.get('signal', '?')}.",
        f"Premier appel : {took(m.get('first_page_s'))} après le signal ; première remise : "
        f"{took(m.get('first_delivery_s'))}.",
    ]
    if m.get("ack_s") is not None:
        step = f"étape {m['acked_step']}" if m.get("acked_step") else "hors échelle"
        level = f", {ctx.level_label(m['acked_level'])}" if m.get("acked_level") else ""
        lines.append(
            f"Pris en charge en {took(m['ack_s'])} par {ctx.name(m.get('acked_by'))} ({step}{level}, "
            f"{m.get('acked_channel') or '?'})."
        )
    else:
        lines.append("Personne n'a pris l'alerte en charge avant la fin de l'exercice.")
    if m.get("silent"):
        lines.append("Appelés sans réponse : " + ", ".join(ctx.name(p) for p in m["silent"]) + ".")
    if m.get("failovers"):
        lines.append(f"Bascules vers un autre canal : {m['failovers']}.")
    if m.get("crisis"):
        armed = f"armée en {took(m['armed_s'])}" if m.get("armed_s") is not None else "non armée"
        joined = ", ".join(
            f"{ctx.name(p)} {took(s)}" for p, s in sorted((m.get("joined_s") or {}).items()) if s is not None
        )
        lines.append(
            f"Cellule de crise {m['crisis']} : {armed}"
            + (f" ; rejointe par {joined}" if joined else "")
            + "."
        )
    return "\n".join(lines)


def markdown(ctx: PagingContext, drills: list[DrillRow]) -> str:
    out = ["# Exercices d'alerte", ""]
    for drill in drills:
        out += [
            f"## Exercice n° {drill.id} — {DRILL_LABELS[DrillState(drill.state)]}",
            "",
            text(ctx, drill),
            "",
        ]
    return "\n".join(out)


def table(ctx: PagingContext, drills: list[DrillRow]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(
        ["exercice", "planification", "etat", "debut", "signal", "echelle", "premier_appel_s",
         "premiere_remise_s", "prise_en_charge_s", "par", "etape", "canal", "sans_reponse", "bascules",
         "cellule", "cellule_armee_s"]
    )  # fmt: skip
    for d in drills:
        m = d.measures or {}
        start = d.started_at or d.due_at
        writer.writerow(
            [d.id, d.schedule_id or "manuel", DRILL_LABELS[DrillState(d.state)],
             ctx.local(start, "%d/%m/%Y %H:%M") if start else "", m.get("signal", ""), d.ladder_id or "",
             m.get("first_page_s", ""), m.get("first_delivery_s", ""), m.get("ack_s", ""),
             m.get("acked_by") or "", m.get("acked_step") or "", m.get("acked_channel") or "",
             " ".join(m.get("silent") or []),
             m.get("failovers", ""), m.get("crisis") or "", m.get("armed_s", "")]
        )  # fmt: skip
    return out.getvalue().encode("utf-8-sig")


def chart_png(ctx: PagingContext, drills: list[DrillRow]) -> bytes:
    """The trend over the last drills: time to acknowledgement (minutes), each bar coloured by
    the step that answered; a drill nobody answered is a red cross at the top."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    from matplotlib.figure import Figure

    done = [d for d in drills if d.state == DrillState.DONE.value]
    figure = Figure(figsize=(8, 3.6), dpi=100)
    axes = figure.subplots()
    labels = [f"n° {d.id}\n{ctx.local(d.started_at or d.created_at, '%d/%m')}" for d in done]
    minutes = [((d.measures or {}).get("ack_s") or 0) / 60 for d in done]
    colours = {1: "#2e7d32", 2: "#f9a825", 3: "#ef6c00"}
    top = max(minutes, default=1) or 1
    for i, drill in enumerate(done):
        m = drill.measures or {}
        if m.get("ack_s") is None:
            axes.scatter([i], [top], marker="x", color="#c62828", s=80, zorder=3)
            axes.annotate("sans réponse", (i, top), ha="center", va="bottom", fontsize=7, color="#c62828")
            continue
        step = m.get("acked_step") or 0
        axes.bar([i], [minutes[i]], color=colours.get(step, "#6d4c41"))
        axes.annotate(f"étape {step}", (i, minutes[i]), ha="center", va="bottom", fontsize=7)
    axes.set_xticks(range(len(done)), labels, fontsize=7)
    axes.set_ylabel("prise en charge (min)")
    axes.set_title(
        "Exercices d'alerte : délai de prise en charge (couleur : étape qui a répondu)", fontsize=9
    )
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def pdf(ctx: PagingContext, drills: list[DrillRow]) -> bytes:
    from bot.crisis.documents import text_pdf

    return text_pdf(
        "Exercices d'alerte", markdown(ctx, drills)[len("# Exercices d'alerte") :], (chart_png(ctx, drills),)
    )
