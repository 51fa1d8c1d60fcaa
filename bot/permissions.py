"""Who may do what, whatever the way in: the desk's function rules (``permissions``) and what an
API token may do for whom. One place, so that chat, SMS, voice, e-mail links, HTTP, the CLI and
the console refuse the same things with the same words."""

from __future__ import annotations

from bot.config import VigieConfig
from bot.domain import FUNCTION_LABELS_FR, Function
from bot.settings import ApiToken
from bot.texts import t

# The guarded actions, as a refusal names them.
_ACTIONS = {
    "clore": {"fr": "clore un signal", "en": "closing a signal"},
    "relais": {"fr": "prendre le relais de l'astreinte", "en": "taking over the on-call duty"},
    "crise": {"fr": "ouvrir une cellule de crise", "en": "opening a crisis cell"},
    "diffusion": {"fr": "diffuser un message aux partenaires", "en": "relaying a message to the partners"},
    "exercice": {"fr": "lancer un exercice", "en": "starting a drill"},
    "maintenance": {"fr": "mettre une source en maintenance", "en": "putting a source in maintenance"},
}


def function_refusal(config: VigieConfig, person_id: str, action: str) -> str | None:
    """Why this person may not do that guarded action (``clore``, ``relais``), or None."""
    allowed = config.allowed_functions(action)
    person = config.person(person_id)
    held = list(person.functions) if person else []
    if set(held) & set(allowed):
        return None
    lang = config.desk.language

    def label(f: Function) -> str:
        return FUNCTION_LABELS_FR[f] if lang == "fr" else f.value

    return t(
        "access.function",
        lang,
        action=_ACTIONS.get(action, {}).get(lang, action),
        allowed=", ".join(label(f) for f in allowed) or t("cmd.nobody", lang),
        name=person.name if person else person_id,
        mine=", ".join(label(f) for f in held) or t("cmd.none", lang),
    )


def token_refusal(config: VigieConfig, token: ApiToken | None, person_id: str | None) -> str | None:
    """Why this API token may not act in that person's name (None: in the desk's), or None.
    No token: the person speaks for themselves (their own chat account, phone, signed link)."""
    if token is None or token.may_act_for(person_id):
        return None
    lang = config.desk.language
    if person_id is None:
        return t("access.token_desk", lang, token=token.name)
    person = config.person(person_id)
    return t("access.token_person", lang, token=token.name, name=person.name if person else person_id)
