"""Reading the YAML file: every problem at once, with its line and column, in the desk's language."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)

from bot.config.model import VigieConfig
from bot.config.references import cross_check
from bot.validation import format_location, french_message

# --- loading and error reporting -------------------------------------------------


@dataclass(frozen=True)
class ConfigProblem:
    location: str  # path inside the document, e.g. people[3].contacts.phone
    line: int | None
    message: str
    column: int | None = None
    quoted: str | None = None  # the offending line, for syntax errors


class ConfigError(Exception):
    def __init__(self, path: Path, problems: list[ConfigProblem], lang: str = "fr") -> None:
        self.path = path
        self.problems = sorted(problems, key=lambda p: (p.line or 0, p.column or 0))
        self.lang = lang
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        if self.lang == "en":
            lines = [f"Invalid configuration: {self.path} ({count} error(s))"]
        else:
            lines = [f"Configuration invalide : {self.path} ({count} erreur(s))"]
        for problem in self.problems:
            where = str(self.path)
            if problem.line:
                where += f":{problem.line}" + (f":{problem.column}" if problem.column else "")
            loc = f"{problem.location} : " if problem.location else ""
            lines.append(f"  {where}: {loc}{problem.message}")
            if problem.quoted is not None:
                lines.append(f"      {problem.line} | {problem.quoted}")
        return "\n".join(lines)


def _mark_of(root: yaml.Node | None, loc: tuple[int | str, ...]) -> tuple[int | None, int | None]:
    """Line and column (1-based) of the deepest node of ``loc`` present in the YAML document."""
    node = root
    mark = node.start_mark if node is not None else None
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    child, mark = value, key.start_mark
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            mark = child.start_mark
        if child is None:
            break
        node = child
    return (mark.line + 1, mark.column + 1) if mark is not None else (None, None)


def _line_of(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    return _mark_of(root, loc)[0]


# PyYAML's problems, as a desk manager editing the file would understand them.
_YAML_FR = (
    ("found character '\\t'", "tabulation interdite : indentez avec des espaces"),
    (
        "mapping values are not allowed",
        "« : » inattendu : une valeur qui contient « : » doit être entre guillemets",
    ),
    ("could not find expected ':'", "« : » manquant après la clé"),
    ("expected <block end>", "indentation incohérente, ou texte inattendu après une valeur"),
    ("expected ',' or ']'", "crochet « [ » non fermé"),
    ("expected ',' or '}'", "accolade « { » non fermée"),
    ("found unexpected end of stream", "fin du fichier inattendue : guillemet ou crochet non fermé ?"),
    ("found undefined alias", "alias (*nom) non défini"),
    ("found duplicate anchor", "ancre (&nom) en double"),
    ("did not find expected key", "clé attendue : indentation incohérente ?"),
    ("did not find expected '-' indicator", "élément de liste attendu (« - ») : indentation incohérente ?"),
)


def _unclosed_quote(lines: list[str], before: int) -> int | None:
    """The first line (0-based, before ``before``) that opens a quote it does not close."""
    for index, line in enumerate(lines[: before + 1]):
        text = line.split(" #", 1)[0]
        if text.lstrip().startswith("#"):
            continue
        doubles = len(re.findall(r'(?<!\\)"', text))
        if doubles % 2:
            return index
        if "'" in text and '"' not in text and text.count("'") % 2 and re.search(r"[:\-\[,]\s*'", text):
            return index
    return None


def _yaml_problem(exc: yaml.YAMLError, lines: list[str], lang: str) -> ConfigProblem:
    mark = getattr(exc, "problem_mark", None)
    reason = str(getattr(exc, "problem", None) or exc)
    line_index = mark.line if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    explained = next((fr for en, fr in _YAML_FR if en in reason), None)
    opened = _unclosed_quote(lines, line_index) if line_index is not None else None
    if opened is not None and opened < (line_index or 0):
        # The quote opened here swallowed the lines below: that is where the problem starts.
        line_index, column = opened, None
        explained = "guillemet ouvert sur cette ligne et jamais fermé"
    if lang == "en":
        message = f"unreadable YAML: {reason}"
    else:
        message = f"YAML illisible : {explained or reason}"
    quoted = lines[line_index] if line_index is not None and line_index < len(lines) else None
    return ConfigProblem(
        "", line_index + 1 if line_index is not None else None, message, column=column, quoted=quoted
    )


def _language(data: Any) -> str:
    desk = data.get("desk") if isinstance(data, dict) else None
    return "en" if isinstance(desk, dict) and desk.get("language") == "en" else "fr"


def parse_config(text: str, path: Path) -> VigieConfig:
    """The configuration, or every problem of the file at once (form and references), each with
    its line and column."""
    lines = text.splitlines()
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(path, [_yaml_problem(exc, lines, "fr")]) from exc
    lang = _language(data)
    if not isinstance(data, dict):
        message = (
            "the document must be a mapping (key: value)"
            if lang == "en"
            else ("le document doit être une section (clé: valeur)")
        )
        raise ConfigError(path, [ConfigProblem("", 1, message)], lang)

    def at(loc: tuple[int | str, ...], message: str) -> ConfigProblem:
        line, column = _mark_of(root, loc)
        return ConfigProblem(format_location(loc), line, message, column=column)

    problems: list[ConfigProblem] = []
    config: VigieConfig | None = None
    try:
        config = VigieConfig.model_validate(data)
    except ValidationError as exc:
        problems = [at(tuple(err["loc"]), french_message(dict(err), lang)) for err in exc.errors()]
    seen = {p.location for p in problems}
    crossed = cross_check(data, lang)
    problems += [at(loc, message) for loc, message in crossed if format_location(loc) not in seen]
    if problems:
        raise ConfigError(path, problems, lang)
    assert config is not None
    return config


def load_config(path: Path) -> VigieConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, [ConfigProblem("", None, "fichier introuvable")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [ConfigProblem("", None, f"fichier illisible : {exc}")]) from None
    return parse_config(text, path)
