"""The directory (annuaire) in the store, kept in step with the configuration."""

from __future__ import annotations

from sqlmodel import select

from bot.clock import Clock
from bot.config import Person, VigieConfig
from bot.db import Database
from bot.models import ContactRow, PersonRow


def _contacts(person: Person) -> dict[str, str]:
    c = person.contacts
    values = {
        "phone": c.phone,
        "email": str(c.email) if c.email else None,
        "telegram": str(c.telegram_id) if c.telegram_id is not None else None,
        "slack": c.slack_id,
        "matrix": c.matrix_id,
    }
    return {kind: value for kind, value in values.items() if value}


async def sync_directory(db: Database, config: VigieConfig, clock: Clock) -> None:
    """Upsert configured people and contacts; people who left are kept but marked inactive,
    since signals and history still refer to them."""
    now = clock.now()
    wanted = {p.id: p for p in config.people}
    async with db.transaction() as session:
        await db.serialize(session, "directory")  # two instances starting at once: one after the other
        rows = {row.id: row for row in (await session.exec(select(PersonRow))).all()}
        for person_id, row in rows.items():
            if person_id not in wanted and row.active:
                row.active = False
                row.updated_at = now
                session.add(row)
        for person in config.people:
            row = rows.get(person.id) or PersonRow(id=person.id, name=person.name, updated_at=now)
            row.name = person.name
            row.functions = [f.value for f in person.functions]
            row.active = True
            row.updated_at = now
            session.add(row)
        await session.flush()
        existing = {(c.person_id, c.kind): c for c in (await session.exec(select(ContactRow))).all()}
        for person in config.people:
            values = _contacts(person)
            for kind, value in values.items():
                contact = existing.pop((person.id, kind), None) or ContactRow(
                    person_id=person.id, kind=kind, value=value
                )
                contact.value = value
                session.add(contact)
        for stale in existing.values():
            await session.delete(stale)
