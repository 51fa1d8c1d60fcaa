"""The partners directory: the configuration's partners and those imported from CSV, kept in the
store so that an import takes effect in a running service at once. An import is all or nothing:
every bad row is reported with its line and field, and nothing is written unless all are good.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Partner, VigieConfig
from bot.db import Database
from bot.diffusion.models import PartnerRow

CONFIG, CSV = "config", "csv"
COLUMNS = ("id", "name", "kind", "finess", "department", "email", "phone", "groups")
# French headers (and a few usual spellings) for the same columns.
_HEADERS = {
    "identifiant": "id",
    "nom": "name",
    "raison-sociale": "name",
    "type": "kind",
    "categorie": "kind",
    "departement": "department",
    "dept": "department",
    "courriel": "email",
    "mail": "email",
    "e-mail": "email",
    "adresse-alerte": "email",
    "telephone": "phone",
    "tel": "phone",
    "telephone-astreinte": "phone",
    "groupes": "groups",
}
_FIELD_FR = {
    "id": "id",
    "name": "nom",
    "kind": "type",
    "finess": "finess",
    "department": "département",
    "email": "e-mail",
    "phone": "téléphone",
    "groups": "groupes",
}


def _header(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().strip().lower()
    plain = "-".join(folded.replace("_", " ").split())
    return _HEADERS.get(plain, plain)


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"ligne {self.line}, {_FIELD_FR.get(self.field, self.field)} : {self.message}"


def parse_csv(data: bytes) -> tuple[list[Partner], list[RowError]]:
    """Partners from a CSV file (UTF-8, with or without BOM; comma or semicolon separated)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [RowError(1, "fichier", f"pas en UTF-8 (octet {exc.start}) : enregistrez-le en UTF-8")]
    try:
        dialect: Any = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    rows = list(reader)
    if not rows:
        return [], [RowError(1, "fichier", "fichier vide")]
    headers = [_header(h) for h in rows[0]]
    errors = [RowError(1, h, "colonne inconnue") for h in headers if h not in COLUMNS]
    errors += [RowError(1, c, "colonne manquante") for c in ("id", "name") if c not in headers]
    if errors:
        return [], errors
    partners: list[Partner] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(headers):
            errors.append(RowError(number, "ligne", f"{len(row)} colonnes au lieu de {len(headers)}"))
            continue
        values: dict[str, Any] = {
            h: cell.strip() for h, cell in zip(headers, row, strict=True) if cell.strip()
        }
        if "groups" in values:
            values["groups"] = [g.strip() for g in values["groups"].split(";") if g.strip()]
        try:
            partner = Partner.model_validate(values)
        except ValidationError as exc:
            for problem in exc.errors():
                where = str(problem["loc"][0]) if problem["loc"] else "ligne"
                message = str(problem["msg"]).removeprefix("Value error, ")
                errors.append(RowError(number, where, message))
            continue
        if partner.id in seen:
            errors.append(RowError(number, "id", f"« {partner.id} » déjà à la ligne {seen[partner.id]}"))
            continue
        seen[partner.id] = number
        partners.append(partner)
    return partners, errors


def _row(partner: Partner, source: str, now: datetime) -> PartnerRow:
    return PartnerRow(
        id=partner.id,
        source=source,
        name=partner.name,
        kind=partner.kind,
        finess=partner.finess,
        department=partner.department,
        email=str(partner.email) if partner.email else None,
        phone=partner.phone,
        telegram_id=partner.telegram_id,
        slack_id=partner.slack_id,
        groups=list(partner.groups),
        updated_at=now,
    )


_COMPARED = ("name", "kind", "finess", "department", "email", "phone", "telegram_id", "slack_id", "groups")


def _differs(old: PartnerRow, new: PartnerRow) -> bool:
    return any(getattr(old, f) != getattr(new, f) for f in _COMPARED)


@dataclass
class ImportResult:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.added)} ajouté(s), {len(self.changed)} modifié(s), {len(self.removed)} retiré(s), "
            f"{self.unchanged} inchangé(s)"
        )


async def _replace(
    session: AsyncSession, partners: list[Partner], source: str, now: datetime, *, write: bool
) -> ImportResult:
    """Make the partners of ``source`` exactly these; what changed."""
    result = ImportResult()
    existing = {p.id: p for p in (await session.exec(select(PartnerRow))).all()}
    wanted = {p.id: _row(p, source, now) for p in partners}
    for pid, row in wanted.items():
        old = existing.get(pid)
        if old is not None and old.source != source:
            where = "la configuration" if old.source == CONFIG else "l'import CSV"
            result.errors.append(RowError(0, "id", f"« {pid} » est déjà un partenaire de {where}"))
            continue
        if old is None:
            result.added.append(pid)
            if write:
                session.add(row)
        elif _differs(old, row):
            result.changed.append(pid)
            if write:
                for name in (*_COMPARED, "updated_at"):
                    setattr(old, name, getattr(row, name))
                session.add(old)
        else:
            result.unchanged += 1
    for pid, old in existing.items():
        if old.source == source and pid not in wanted:
            result.removed.append(pid)
            if write:
                await session.delete(old)
    return result


async def import_csv(db: Database, data: bytes, now: datetime, *, dry_run: bool = False) -> ImportResult:
    """The CSV file becomes the imported partners (those of the configuration stay as they are)."""
    partners, errors = parse_csv(data)
    if errors:
        return ImportResult(errors=errors)
    async with db.transaction() as session:
        await db.serialize(session, "partners")
        result = await _replace(session, partners, CSV, now, write=False)
        if result.errors or dry_run:
            return result
        return await _replace(session, partners, CSV, now, write=True)


async def sync_config(db: Database, config: VigieConfig, now: datetime) -> None:
    """At start: the configuration's partners in the store (a CSV partner of the same id wins
    nothing: the configuration's check refuses the clash at import)."""
    async with db.transaction() as session:
        await db.serialize(session, "partners")  # two instances starting at once
        existing = {p.id for p in (await session.exec(select(PartnerRow))).all() if p.source == CSV}
        keep = [p for p in config.partners if p.id not in existing]
        await _replace(session, keep, CONFIG, now, write=True)


async def list_partners(db: Database, group: str | None = None) -> list[PartnerRow]:
    async with db.read_session() as session:
        rows = list((await session.exec(select(PartnerRow).order_by(col(PartnerRow.id)))).all())
    return [p for p in rows if group is None or group in p.groups]


async def in_groups(session: AsyncSession, groups: list[str]) -> list[PartnerRow]:
    """The partners of any of these groups (``tous``: every partner)."""
    rows = list((await session.exec(select(PartnerRow).order_by(col(PartnerRow.id)))).all())
    if "tous" in groups or "all" in groups:
        return rows
    return [p for p in rows if set(p.groups) & set(groups)]
