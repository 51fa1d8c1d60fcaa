"""User-facing texts, French by default, English available."""

from __future__ import annotations

import re
from typing import Any

TEXTS: dict[str, dict[str, str]] = {
    "receipt.created": {
        "fr": "Signal reçu, référence {reference}. Il est enregistré et transmis à l'astreinte.",
        "en": "Signal received, reference {reference}. It is stored and passed to the on-call team.",
    },
    "receipt.duplicate": {
        "fr": "Signal déjà reçu : rattaché à la référence {reference}, toujours en cours de traitement.",
        "en": "Signal already received: attached to reference {reference}, still being handled.",
    },
    "event.received": {
        "fr": "Signal reçu par {channel}",
        "en": "Signal received by {channel}",
    },
    "event.duplicate": {
        "fr": "Nouvelle occurrence reçue par {channel} (doublon n°{count})",
        "en": "New occurrence received by {channel} (duplicate #{count})",
    },
    "event.source_resolved": {
        "fr": "La source signale la fin de l'alerte ({detail})",
        "en": "The source reports the alert as resolved ({detail})",
    },
    "exercise.prefix": {"fr": "EXERCICE EXERCICE EXERCICE\n", "en": "EXERCISE EXERCISE EXERCISE\n"},
    "exercise.banner": {"fr": "EXERCICE EXERCICE EXERCICE ", "en": "EXERCISE EXERCISE EXERCISE "},
    "exercise.spoken": {"fr": "Exercice, exercice, exercice. ", "en": "Exercise, exercise, exercise. "},
    "page.text": {
        "fr": "{prefix}Signal {reference} — {title}\n{details}Vous êtes appelé(e) en tant que {role} "
        "(étape {step}/{steps}{pass_note}).{body}",
        "en": "{prefix}Signal {reference} — {title}\n{details}You are paged as {role} "
        "(step {step}/{steps}{pass_note}).{body}",
    },
    "page.pass": {"fr": ", passage {number}", "en": ", round {number}"},
    "page.relay": {
        "fr": "Diffuser aux partenaires (texte et pièces jointes) : /diffuser {reference} <groupes>",
        "en": "Relay to the partners (text and attachments): /diffuser {reference} <groups>",
    },
    "page.action": {
        "fr": "POUR ACTION : désignez le responsable avec /suite {reference} <personne> [échéance 18h], "
        "puis /suite {reference} fait <compte rendu> rédige le retour à l'échelon national.",
        "en": "FOR ACTION: name its owner with /suite {reference} <person> [échéance 18h], then "
        "/suite {reference} fait <account> drafts the report back upward.",
    },
    "page.details": {
        "fr": "Gravité : {severity} · Catégorie : {category} · Reçu le {received}\n",
        "en": "Severity: {severity} · Category: {category} · Received {received}\n",
    },
    "page.role.person": {"fr": "personne désignée", "en": "named person"},
    "action.ack": {"fr": "Je prends", "en": "I take it"},
    "action.escalate": {"fr": "Escalader", "en": "Escalate"},
    "notice.acknowledged": {
        "fr": "Pris en charge par {name} à {time} — {reference} « {title} »",
        "en": "Taken by {name} at {time} — {reference} “{title}”",
    },
    "notice.resolved": {
        "fr": "Signal clos par {name} à {time} — {reference} « {title} »",
        "en": "Closed by {name} at {time} — {reference} “{title}”",
    },
    "notice.crisis": {
        "fr": (
            "Passé en cellule de crise par {name} à {time} — {reference} « {title} » : "
            "l'astreinte s'arrête, la cellule prend la suite."
        ),
        "en": (
            "Taken into a crisis cell by {name} at {time} — {reference} “{title}”: paging stops, "
            "the cell takes over."
        ),
    },
    "notice.exhausted": {
        "fr": "{prefix}ALERTE SANS RÉPONSE — {reference} « {title} » : personne n'a pris en charge "
        "après {steps} étape(s) et {passes} passage(s) de l'échelle. Le signal reste ouvert et non acquitté.",
        "en": "{prefix}UNANSWERED ALERT — {reference} “{title}”: nobody took it after {steps} step(s) "
        "and {passes} round(s) of the ladder. The signal stays open and unacknowledged.",
    },
    "notice.handover": {
        "fr": "Relève d'astreinte « {roster} » : vous êtes {role} à partir du {start}{until}.",
        "en": "On-call hand-over “{roster}”: you are {role} from {start}{until}.",
    },
    "notice.handover.until": {"fr": " jusqu'au {end}", "en": " until {end}"},
    "event.ladder_started": {"fr": "Échelle « {ladder} » démarrée", "en": "Ladder “{ladder}” started"},
    "event.no_ladder": {
        "fr": "Aucune échelle configurée : personne n'est appelé",
        "en": "No ladder configured: nobody is paged",
    },
    "event.step": {
        "fr": "Étape {step}/{steps}{pass_note} : appel de {names}",
        "en": "Step {step}/{steps}{pass_note}: paging {names}",
    },
    "event.step_empty": {
        "fr": "Étape {step}/{steps} : personne à appeler ({detail}), passage à l'étape suivante",
        "en": "Step {step}/{steps}: nobody to page ({detail}), moving on",
    },
    "event.level_vacant": {"fr": "niveau {level} non pourvu", "en": "level {level} not staffed"},
    "event.unreachable": {
        "fr": "{name} injoignable : {reason}",
        "en": "{name} unreachable: {reason}",
    },
    "event.no_usable_channel": {
        "fr": "aucun canal utilisable (préférences : {channels})",
        "en": "no usable channel (preferences: {channels})",
    },
    "event.all_unreachable": {
        "fr": "Personne de l'étape {step} n'est joignable : escalade immédiate",
        "en": "Nobody at step {step} can be reached: escalating now",
    },
    "event.repeat": {
        "fr": "Aucune réponse : l'échelle reprend (passage {number})",
        "en": "No answer: ladder repeats (round {number})",
    },
    "event.exhausted": {
        "fr": "Échelle terminée sans réponse : cadres prévenus ({names})",
        "en": "Ladder ended unanswered: duty officers told ({names})",
    },
    "event.acknowledged": {
        "fr": "Pris en charge par {name} ({channel})",
        "en": "Taken by {name} ({channel})",
    },
    "event.escalated": {
        "fr": "Escalade immédiate demandée par {name}",
        "en": "Immediate escalation requested by {name}",
    },
    "event.crisis": {
        "fr": "Passé en crise {crisis} par {name}",
        "en": "Taken into crisis {crisis} by {name}",
    },
    "event.maintenance": {
        "fr": "Source « {source} » en maintenance jusqu'à {until}{motif} : appel différé à la fin "
        "de la fenêtre",
        "en": "Source “{source}” in maintenance until {until}{motif}: paging held until the window ends",
    },
    "event.resolved": {"fr": "Signal clos par {name}{note}", "en": "Signal closed by {name}{note}"},
    "event.delivered": {
        "fr": "Message remis à {name} par {channel}",
        "en": "Message delivered to {name} by {channel}",
    },
    "event.delivery_failed": {
        "fr": "Échec de remise à {name} par {channel} : {reason}",
        "en": "Delivery to {name} by {channel} failed: {reason}",
    },
    "event.failover": {
        "fr": "Bascule vers {channel} pour {name}",
        "en": "Failing over to {channel} for {name}",
    },
    # The chat commands (the grammar: bot/grammar.py).
    "cmd.help": {
        "fr": "Commandes Vigie :\n"
        "/signal <texte> — signaler (ou écrivez simplement au bot)\n"
        "/prendre <réf> — prendre en charge (ou répondez « ok » au message d'alerte)\n"
        "/escalader <réf> — appeler tout de suite l'étape suivante\n"
        "/statut [réf] — signaux ouverts, ou l'état d'un signal\n"
        "/astreinte — qui est d'astreinte maintenant, et la prochaine relève\n"
        "/relais [durée] — prendre l'astreinte (titulaire) maintenant, ex. /relais 12h\n"
        "/clore <réf> [motif] — clore un signal\n"
        "/aide — cette aide\n"
        "Cellule de crise : /crise /rejoindre /roles /role /decision /action /demande /info /fait "
        "/actions /point /phase /retex (voir le README)\n"
        "Partenaires : /diffuser /diffusion statut|relancer|confirmer /suite (message POUR ACTION)\n"
        "Alias anglais : /ack /escalate /status /oncall /takeover /close /help",
        "en": "Vigie commands:\n"
        "/signal <text> — raise a signal (or just write to the bot)\n"
        "/ack <ref> — take it (or answer « ok » to the page)\n"
        "/escalate <ref> — page the next step now\n"
        "/status [ref] — open signals, or one signal's state\n"
        "/oncall — who is on duty now, and the next hand-over\n"
        "/takeover [duration] — take the titulaire's duty now, e.g. /takeover 12h\n"
        "/close <ref> [reason] — close a signal\n"
        "/help — this help\n"
        "Crisis cell: /crisis /join /functions /function /decision /action /request /note /done "
        "/actions /point /phase /debrief (see the README)\n"
        "Partners: /diffuse /diffusion status|chase|confirm /followup (a message FOR ACTION)\n"
        "French names: /prendre /escalader /statut /astreinte /relais /clore /aide",
    },
    "cmd.unknown": {
        "fr": "Commande inconnue « /{spelled} ». Tapez /aide pour la liste des commandes.",
        "en": "Unknown command “/{spelled}”. Type /help for the list of commands.",
    },
    "action.who": {"fr": "Précisez qui.", "en": "Say who."},
    "crisis.title_needed": {
        "fr": "Donnez un titre à la crise : /crise <titre>, ou /crise <réf. du signal> [plan ORSAN] [titre].",
        "en": "Give the crisis a title: /crisis <title>, or /crisis <signal ref> [ORSAN plan] [title].",
    },
    "crisis.no_signal": {"fr": "aucun signal", "en": "no signal"},
    "crisis.entry.opened": {
        "fr": "Crise ouverte par {name} : « {title} »{plan} ; signaux : {signals}.",
        "en": "Crisis opened by {name}: “{title}”{plan}; signals: {signals}.",
    },
    "crisis.entry.functions": {"fr": "Fonctions : {list}.", "en": "Functions: {list}."},
    "crisis.entry.called": {"fr": "Membres appelés : {names}.", "en": "Members called: {names}."},
    "crisis.entry.joined": {
        "fr": "{name} rejoint la cellule ({via}).",
        "en": "{name} joins the cell ({via}).",
    },
    "crisis.entry.armed": {
        "fr": "Cellule armée à {time} : décision et pilotage ont rejoint.",
        "en": "Cell armed at {time}: decision and pilotage have joined.",
    },
    "crisis.entry.assigned": {
        "fr": "Fonction {function} : {name} (par {by}).",
        "en": "Function {function}: {name} (by {by}).",
    },
    "crisis.entry.freed": {
        "fr": "Fonction {function} libérée par {name}.",
        "en": "Function {function} freed by {name}.",
    },
    "crisis.entry.corrects": {
        "fr": "Correction de l'entrée n° {number} : {text}",
        "en": "Correction of entry no. {number}: {text}",
    },
    "crisis.entry.deleted": {
        "fr": "Message supprimé dans {platform} (entrée n° {number}) ; il disait : {text}",
        "en": "Message deleted in {platform} (entry no. {number}); it said: {text}",
    },
    "crisis.entry.corrects_unknown": {
        "fr": "Message modifié dans {platform} : {text}",
        "en": "Message edited in {platform}: {text}",
    },
    "crisis.entry.deleted_unknown": {
        "fr": "Message supprimé dans {platform} ; il disait : {text}",
        "en": "Message deleted in {platform}; it said: {text}",
    },
    "crisis.entry.done": {"fr": "Action n° {number} faite{note}", "en": "Action no. {number} done{note}"},
    "crisis.entry.answered": {
        "fr": "Demande n° {number} satisfaite{note}",
        "en": "Request no. {number} answered{note}",
    },
    "crisis.opened": {
        "fr": (
            "Crise {reference} ouverte : « {title} ». {called} membre(s) appelé(s). Fonctions : {functions}."
        ),
        "en": "Crisis {reference} opened: “{title}”. {called} member(s) called. Functions: {functions}.",
    },
    "crisis.functions_none": {"fr": "aucune attribuée (/role)", "en": "none assigned (/role)"},
    "crisis.call": {
        "fr": (
            "{banner}CELLULE DE CRISE {reference} — « {title} », ouverte par {opener}.{role} "
            "Rejoignez la cellule : bouton « Je rejoins », /rejoindre {reference}, ou par SMS "
            "« {reference} OK »."
        ),
        "en": (
            "{banner}CRISIS CELL {reference} — “{title}”, opened by {opener}.{role} Join the "
            "cell: “I'm joining” button, /join {reference}, or by SMS “{reference} OK”."
        ),
    },
    "crisis.call.role": {"fr": " Votre fonction : {functions}.", "en": " Your function: {functions}."},
    "crisis.action.join": {"fr": "Je rejoins", "en": "I'm joining"},
    "crisis.armed": {
        "fr": "Cellule de crise {reference} armée à {time} — « {title} ».",
        "en": "Crisis cell {reference} armed at {time} — “{title}”.",
    },
    "crisis.joined": {
        "fr": "Vous avez rejoint la cellule {reference} « {title} ».",
        "en": "You have joined the cell {reference} “{title}”.",
    },
    "crisis.already_joined": {
        "fr": "Vous avez déjà rejoint {reference}.",
        "en": "You have already joined {reference}.",
    },
    "crisis.assign_refused": {
        "fr": (
            "Refusé : seuls la décision, le pilotage ou la personne qui a ouvert la crise "
            "attribuent les fonctions ({name} n'est rien de cela)."
        ),
        "en": (
            "Refused: only decision, pilotage or the person who opened the crisis assign "
            "functions ({name} is none of them)."
        ),
    },
    "crisis.function_vacant": {
        "fr": "La fonction {function} est déjà vacante.",
        "en": "Function {function} is already vacant.",
    },
    "crisis.already_holds": {
        "fr": "{name} tient déjà la fonction {function}.",
        "en": "{name} already holds {function}.",
    },
    "crisis.roles.head": {
        "fr": "Fonctions de {reference} « {title} » :",
        "en": "Functions of {reference} “{title}”:",
    },
    "crisis.roles.vacant": {"fr": "— vacante —", "en": "— vacant —"},
    "crisis.roles.not_joined": {"fr": " (pas encore rejoint)", "en": " (not joined yet)"},
    "crisis.no_such_action": {
        "fr": "Aucune action ni demande n° {number} dans cette crise.",
        "en": "No action or request no. {number} in this crisis.",
    },
    "crisis.logged_in": {
        "fr": "entrée n° {number} enregistrée dans la main courante de {reference}.",
        "en": "entry no. {number} logged in the main courante of {reference}.",
    },
    "crisis.logged": {
        "fr": "Entrée n° {number} ({kind}) enregistrée.",
        "en": "Entry no. {number} ({kind}) logged.",
    },
    "crisis.which": {
        "fr": (
            "Précisez la crise : tapez la commande dans son salon, ou ajoutez sa référence "
            "({prefix}-2026-0001)."
        ),
        "en": "Say which crisis: type the command in its room, or add its reference ({prefix}-2026-0001).",
    },
    "crisis.not_found": {"fr": "Aucune crise {reference}.", "en": "No crisis {reference}."},
    "crisis.closed": {"fr": "La crise {reference} est close.", "en": "Crisis {reference} is closed."},
    "crisis.usage.role": {
        "fr": "/role <fonction> <personne>, ou /role <fonction> - pour la libérer (fonctions : {functions}).",
        "en": "/role <function> <person>, or /role <function> - to free it (functions: {functions}).",
    },
    "crisis.unknown_person": {"fr": "Personne inconnue « {who} ».", "en": "Unknown person “{who}”."},
    "crisis.text_needed": {"fr": "Ajoutez le texte : {usage}", "en": "Add the text: {usage}"},
    "crisis.not_member": {
        "fr": (
            "Vous n'êtes pas membre de la cellule {reference} : rejoignez-la d'abord (/rejoindre "
            "{reference})."
        ),
        "en": "You are not a member of the cell {reference}: join it first (/join {reference}).",
    },
    "crisis.external": {
        "fr": (
            "Message enregistré dans la main courante ; les commandes sont réservées aux "
            "personnes de l'annuaire."
        ),
        "en": "Message logged; commands are for people of the directory.",
    },
    "crisis.brief": {
        "fr": (
            "{banner}CELLULE DE CRISE {reference} — « {title} »\nOuverte le {opened} par "
            "{opener}.{plan}\nSignaux : {signals}\nFonctions : {functions}\nChaque message de ce "
            "salon est enregistré dans la main courante. Commandes : /decision, /action, "
            "/demande, /info, /fait, /role, /roles."
        ),
        "en": (
            "{banner}CRISIS CELL {reference} — “{title}”\nOpened on {opened} by "
            "{opener}.{plan}\nSignals: {signals}\nFunctions: {functions}\nEvery message of this "
            "room is logged in the main courante. Commands: /decision, /action, /request, /info, "
            "/done, /role, /roles."
        ),
    },
    "crisis.entry.room": {"fr": "Salon {platform} créé : {name}.", "en": "{platform} room created: {name}."},
    "crisis.entry.room_failed": {
        "fr": "{count} membre(s) n'ont pas pu y être invités.",
        "en": "{count} member(s) could not be invited.",
    },
    "crisis.room_unreachable": {
        "fr": (
            "Le salon {platform} de la crise {reference} n'a pas pu être créé ({error}) ; Vigie réessaie "
            "et continue d'enregistrer la main courante par les autres voies (SMS, mél, CLI, API)."
        ),
        "en": (
            "The {platform} room of crisis {reference} could not be created ({error}); Vigie retries "
            "and keeps logging the main courante by the other ways (SMS, mail, CLI, API)."
        ),
    },
    "crisis.vacant": {
        "fr": (
            "{reference} « {title} » : fonction(s) {functions} toujours vacante(s) (crise ouverte "
            "à {since}). Attribuez-la : /role {first} <personne>."
        ),
        "en": (
            "{reference} “{title}”: function(s) {functions} still vacant (crisis opened at {since}). "
            "Assign it: /role {first} <person>."
        ),
    },
    "crisis.entry.vacant": {
        "fr": "Rappel envoyé : fonction(s) {functions} vacante(s).",
        "en": "Reminder sent: function(s) {functions} vacant.",
    },
    "crisis.topic": {
        "fr": "{reference} · {title} · {functions}",
        "en": "{reference} · {title} · {functions}",
    },
    "access.function": {
        "fr": "Refusé : {action} est réservé aux fonctions {allowed} ({name} : {mine}).",
        "en": "Refused: {action} is for the functions {allowed} ({name}: {mine}).",
    },
    "access.token_person": {
        "fr": "Refusé : le jeton « {token} » ne peut pas agir au nom de {name}.",
        "en": "Refused: the token “{token}” may not act for {name}.",
    },
    "access.token_desk": {
        "fr": (
            "Refusé : le jeton « {token} » n'agit qu'au nom des personnes qu'il nomme : précisez « person »."
        ),
        "en": "Refused: the token “{token}” acts only for the people it names: give “person”.",
    },
    "access.scope": {
        "fr": "Refusé : le jeton « {token} » n'a pas la portée « {scope} » (ses portées : {scopes}).",
        "en": "Refused: the token “{token}” lacks the scope “{scope}” (its scopes: {scopes}).",
    },
    "cmd.nobody": {"fr": "personne", "en": "nobody"},
    "cmd.none": {"fr": "aucune", "en": "none"},
    "cmd.reference_needed": {
        "fr": "Précisez la référence du signal : {usage}",
        "en": "Give the signal's reference: {usage}",
    },
    "cmd.signal_needed": {
        "fr": "Précisez le signal : /signal <description>, ou écrivez simplement votre message.",
        "en": "Describe the signal: /signal <description>, or just write your message.",
    },
    "cmd.no_open_signal": {"fr": "Aucun signal ouvert.", "en": "No open signal."},
    "cmd.open_signals": {"fr": "Signaux ouverts ({count}) :", "en": "Open signals ({count}):"},
    "cmd.open_exercises": {"fr": "Exercices en cours ({count}) :", "en": "Exercises running ({count}):"},
    "cmd.exercises_hidden": {
        "fr": "(+ {count} exercice(s) en cours, masqué(s) : /signaux exercices)",
        "en": "(+ {count} exercise(s) running, hidden: /signals exercises)",
    },
    "cmd.line.taken": {"fr": "{head} — pris en charge par {name}", "en": "{head} — taken by {name}"},
    "cmd.line.no_ladder": {"fr": "{head} — aucune échelle", "en": "{head} — no ladder"},
    "cmd.line.unanswered": {
        "fr": "{head} — SANS RÉPONSE (échelle terminée)",
        "en": "{head} — UNANSWERED (ladder ended)",
    },
    "cmd.line.step": {
        "fr": "{head} — étape {step}/{steps} : {names} appelé(s)",
        "en": "{head} — step {step}/{steps}: {names} paged",
    },
    "cmd.relay.no_roster": {
        "fr": "Aucun tableau d'astreinte configuré : pas de relais possible.",
        "en": "No roster configured: no takeover possible.",
    },
    "cmd.relay.bad_duration": {
        "fr": "{error}. Exemple : /relais 12h",
        "en": "{error}. Example: /takeover 12h",
    },
    "cmd.relay.too_long": {
        "fr": "Un relais dure au plus 31 jours ; pour plus, modifiez le tableau d'astreinte.",
        "en": "A takeover lasts at most 31 days; for longer, change the roster.",
    },
    "cmd.relay.notice": {
        "fr": "{name} prend le relais de l'astreinte « {roster} » (titulaire) jusqu'au {until}.",
        "en": "{name} takes over the “{roster}” duty (titulaire) until {until}.",
    },
    "cmd.relay.done": {
        "fr": "Relais enregistré : vous êtes titulaire de l'astreinte « {roster} » jusqu'au {until}.",
        "en": "Takeover recorded: you hold the “{roster}” duty (titulaire) until {until}.",
    },
    # Answers to what people do (take, escalate, close), on every channel.
    "action.unknown_person": {
        "fr": "Personne inconnue « {person} » : absente de l'annuaire.",
        "en": "Unknown person “{person}”: not in the directory.",
    },
    "action.not_found": {
        "fr": "Aucun signal avec la référence « {reference} ».",
        "en": "No signal with reference “{reference}”.",
    },
    "action.already_closed": {"fr": "{reference} est déjà clos.", "en": "{reference} is already closed."},
    "action.already_taken": {
        "fr": "{reference} est déjà pris en charge par {name} (à {time}).",
        "en": "{reference} was already taken by {name} (at {time}).",
    },
    "action.taken": {
        "fr": "{reference} pris en charge par {name} à {time}.",
        "en": "{reference} taken by {name} at {time}.",
    },
    "action.taken.exercise": {
        "fr": "EXERCICE EXERCICE EXERCICE — {reference} pris en charge par {name} à {time}, "
        "{took} après le signal. Merci ! Le rapport de l'exercice suit.",
        "en": "EXERCISE EXERCISE EXERCISE — {reference} taken by {name} at {time}, {took} after the "
        "signal. Thank you! The drill's report follows.",
    },
    "action.no_ladder": {
        "fr": "{reference} n'a pas d'échelle d'astreinte à faire avancer.",
        "en": "{reference} has no on-call ladder to move on.",
    },
    "action.not_active.acknowledged": {
        "fr": "{reference} est déjà pris en charge par {name}.",
        "en": "{reference} was already taken by {name}.",
    },
    "action.not_active.resolved": {"fr": "{reference} est clos.", "en": "{reference} is closed."},
    "action.not_active.exhausted": {
        "fr": "{reference} est arrivé au bout de l'échelle sans réponse.",
        "en": "{reference} went through the whole ladder unanswered.",
    },
    "action.escalated": {
        "fr": "{reference} : escalade immédiate vers l'étape suivante.",
        "en": "{reference}: escalating to the next step now.",
    },
    "action.closed": {"fr": "{reference} clos par {name}.", "en": "{reference} closed by {name}."},
    "action.desk": {"fr": "l'équipe de permanence", "en": "the duty desk"},
    "event.mail_reply": {"fr": "Courriel de {sender} : {subject}", "en": "E-mail from {sender}: {subject}"},
    "notice.channel_down": {
        "fr": "Vigie : le canal {channel} est indisponible depuis {time} ({error}). Les alertes passent "
        "par les autres canaux de chacun ; Vigie réessaie et vous préviendra de son rétablissement.",
        "en": "Vigie: the {channel} channel has been unavailable since {time} ({error}). Alerts go "
        "through everyone's other channels; Vigie keeps retrying and will tell you when it is back.",
    },
    "notice.channel_up": {
        "fr": "Vigie : le canal {channel} est rétabli depuis {time} (indisponible depuis {since}).",
        "en": "Vigie: the {channel} channel is back since {time} (unavailable since {since}).",
    },
    "event.internal_error": {
        "fr": "Erreur interne lors de l'échelle, nouvel essai dans {seconds} s : {error}",
        "en": "Internal error in the ladder, retrying in {seconds} s: {error}",
    },
    # Points de situation, closure, RETEX (bot/crisis/points.py, closure.py, retex.py).
    "point.refused": {
        "fr": "Refusé : {action} est réservé à la décision ou au pilotage de la cellule ({holders}).",
        "en": "Refused: {action} is for the cell's decision or pilotage ({holders}).",
    },
    "point.action.validate": {"fr": "valider le point de situation", "en": "validating the situation report"},
    "point.action.phase": {"fr": "changer de phase", "en": "changing the phase"},
    "point.action.close": {"fr": "clore la crise", "en": "closing the crisis"},
    "point.holders_none": {"fr": "aucune des deux n'est attribuée", "en": "neither is held"},
    "point.unknown_phase": {
        "fr": "Phase « {phase} » inconnue. Phases : {phases}.",
        "en": "Unknown phase “{phase}”. Phases: {phases}.",
    },
    "point.same_phase": {
        "fr": "La crise est déjà en phase {phase}.",
        "en": "The crisis is already in phase {phase}.",
    },
    "point.entry.phase": {
        "fr": "Phase {phase} (un point toutes les {cadence}), décidée par {name}.{next}",
        "en": "Phase {phase} (a report every {cadence}), decided by {name}.{next}",
    },
    "point.next_is": {"fr": " Prochain point à {time}.", "en": " Next report at {time}."},
    "point.not_armed": {
        "fr": (
            "Pas encore de point de situation : le premier est prévu une cadence après l'armement de "
            "la cellule."
        ),
        "en": "No situation report yet: the first is due one cadence after the cell is armed.",
    },
    "point.none_pending": {
        "fr": "Aucun point de situation en préparation pour {reference}.",
        "en": "No situation report in preparation for {reference}.",
    },
    "point.usage": {
        "fr": (
            "Usage : /point (voir le projet) · /point <section> <texte> (sections : {sections}) · "
            "/point prochain 16:00 · /point valider"
        ),
        "en": (
            "Usage: /point (show the draft) · /point <section> <text> (sections: {sections}) · "
            "/point prochain 16:00 · /point valider"
        ),
    },
    "point.bad_time": {
        "fr": "Heure illisible « {value} » : écrivez par exemple 16:00 ou 16h.",
        "en": "Unreadable time “{value}”: write e.g. 16:00 or 16h.",
    },
    "point.entry.rescheduled": {
        "fr": "Point de situation n° {number} fixé à {time} par {name}.",
        "en": "Situation report no. {number} set for {time} by {name}.",
    },
    "point.entry.announces": {
        "fr": "Le point n° {number} annoncera le suivant à {time} ({name}).",
        "en": "Report no. {number} will announce the next one at {time} ({name}).",
    },
    "point.entry.amended": {
        "fr": "Point n° {number}, {section} : {text}",
        "en": "Report no. {number}, {section}: {text}",
    },
    "point.amended": {
        "fr": (
            "Point n° {number} : section {section} modifiée (entrée n° {entry}). /point pour relire, "
            "/point valider pour envoyer."
        ),
        "en": (
            "Report no. {number}: section {section} changed (entry no. {entry}). /point to read it, "
            "/point valider to send it."
        ),
    },
    "point.prompt": {
        "fr": (
            "{mentions}projet du point de situation n° {number} à valider avant {time}. "
            "Complétez : /point <section> <texte> ; validez : /point valider.\n\n{draft}"
        ),
        "en": (
            "{mentions}draft of situation report no. {number}, to validate before {time}. "
            "Fill in: /point <section> <text>; validate: /point valider.\n\n{draft}"
        ),
    },
    "point.entry.prompted": {
        "fr": "Projet du point n° {number} (prévu à {time}) posté pour {names}.",
        "en": "Draft of report no. {number} (due at {time}) posted for {names}.",
    },
    "point.remind.due": {
        "fr": (
            "{reference} : le point de situation n° {number} était attendu à {time} et n'est pas "
            "validé. /point pour le relire, /point valider pour l'envoyer."
        ),
        "en": (
            "{reference}: situation report no. {number} was due at {time} and is not validated. "
            "/point to read it, /point valider to send it."
        ),
    },
    "point.remind.late": {
        "fr": (
            "{reference} : le point de situation n° {number} attendu à {time} n'est toujours pas "
            "validé ({late} min de retard ; pilotage : {pilotage})."
        ),
        "en": (
            "{reference}: situation report no. {number} due at {time} is still not validated ({late} "
            "min late; pilotage: {pilotage})."
        ),
    },
    "point.entry.unvalidated": {
        "fr": "Point n° {number} attendu à {time} : non validé à l'heure ; rappel à {names}.",
        "en": "Report no. {number} due at {time}: not validated on time; reminder to {names}.",
    },
    "point.next_estimate": {
        "fr": "{cadence} après sa validation (vers {time})",
        "en": "{cadence} after it is validated (about {time})",
    },
    "point.shown": {
        "fr": "{draft}\n\nÀ valider avant {time} : /point valider (décision ou pilotage).",
        "en": "{draft}\n\nTo validate before {time}: /point valider (decision or pilotage).",
    },
    "point.entry.late": {
        "fr": "Point n° {number} attendu à {time} : non validé, {late} min de retard ; rappel à {names}.",
        "en": "Report no. {number} due at {time}: not validated, {late} min late; reminder to {names}.",
    },
    "point.validated": {
        "fr": (
            "Point de situation n° {number} validé par {name} à {time}{late}. Envoyé à : {upward}. "
            "Prochain point à {next}."
        ),
        "en": (
            "Situation report no. {number} validated by {name} at {time}{late}. Sent to: {upward}. "
            "Next report at {next}."
        ),
    },
    "point.validated_final": {
        "fr": "Point de sortie de crise (n° {number}) validé par {name} à {time}{late}. Envoyé à : {upward}.",
        "en": "Final situation report (no. {number}) validated by {name} at {time}{late}. Sent to: {upward}.",
    },
    "point.late_by": {"fr": ", avec {late} min de retard", "en": ", {late} min late"},
    "point.upward_none": {"fr": "personne (crisis.upward vide)", "en": "nobody (crisis.upward is empty)"},
    "point.mail.subject": {
        "fr": "{banner}[Vigie] {reference} — Point de situation n° {number}{final} — {title}",
        "en": "{banner}[Vigie] {reference} — Situation report no. {number}{final} — {title}",
    },
    "point.mail.final": {"fr": " (sortie de crise)", "en": " (end of crisis)"},
    "point.mail.seal": {
        "fr": (
            "Validé par {name} le {time}.\nEmpreinte de la main courante à l'entrée n° {entry} (ce point) : "
            "{hash}\nConservez-la : elle permet de vérifier plus tard que rien n'a été réécrit "
            "(vigie verify {reference} --entry {entry})."
        ),
        "en": (
            "Validated by {name} on {time}.\nMain courante hash at entry no. {entry} (this report): "
            "{hash}\nKeep it: it lets you check later that nothing was rewritten "
            "(vigie verify {reference} --entry {entry})."
        ),
    },
    "point.bounced": {
        "fr": (
            "{reference} : le point de situation n° {number} n'a pas pu être remis à {address} "
            "({reason}). Transmettez-le autrement (export : vigie export {reference})."
        ),
        "en": (
            "{reference}: situation report no. {number} could not be delivered to {address} "
            "({reason}). Pass it on another way (export: vigie export {reference})."
        ),
    },
    "point.entry.bounced": {
        "fr": "Point n° {number} non remis à {address} : {reason}.",
        "en": "Report no. {number} not delivered to {address}: {reason}.",
    },
    "action.due": {
        "fr": (
            "{reference} : l'action n° {number} arrive à échéance ({time}) : {text}. Une fois faite : "
            "/fait {number}."
        ),
        "en": "{reference}: action no. {number} is due ({time}): {text}. Once done: /fait {number}.",
    },
    "action.entry.reminded": {
        "fr": "Action n° {number} à échéance ({time}) : rappel à {name}.",
        "en": "Action no. {number} due ({time}): reminder to {name}.",
    },
    "actions.none": {"fr": "{reference} : aucune action en cours.", "en": "{reference}: no open action."},
    "actions.head": {"fr": "{reference} — actions en cours :", "en": "{reference} — open actions:"},
    "closure.already": {
        "fr": "Clôture de {reference} déjà demandée : validez le point de sortie (/point valider).",
        "en": "Closing {reference} already asked: validate the final report (/point valider).",
    },
    "closure.entry.asked": {
        "fr": "Clôture demandée par {name}{reason} : point de sortie de crise (n° {number}) à valider.",
        "en": "Closing asked by {name}{reason}: final situation report (no. {number}) to validate.",
    },
    "closure.asked": {
        "fr": (
            "Clôture de {reference} demandée. Le projet du point de sortie de crise (n° {number}) est "
            "posté ; la crise sera close à sa validation (/point valider)."
        ),
        "en": (
            "Closing {reference} asked. The draft of the final report (no. {number}) is posted; the "
            "crisis closes when it is validated (/point valider)."
        ),
    },
    "closure.room": {
        "fr": (
            "Crise {reference} close à {time} par {name}{reason}. Merci à toutes et à tous. Chacun va "
            "recevoir les questions du RETEX à chaud."
        ),
        "en": (
            "Crisis {reference} closed at {time} by {name}{reason}. Thank you all. Everyone will get "
            "the hot-debrief questions."
        ),
    },
    "closure.entry.sealed": {
        "fr": "Main courante close par {name} à {time} après l'entrée n° {count} (empreinte : {hash}).",
        "en": "Main courante closed by {name} at {time} after entry no. {count} (hash: {hash}).",
    },
    "event.crisis_closed": {
        "fr": "Clos avec la crise {crisis} par {name}",
        "en": "Closed with crisis {crisis} by {name}",
    },
    "retex.question": {
        "fr": (
            "{banner}RETEX à chaud {reference} « {title} » — question {index}/{total} :\n{question}\n"
            "Répondez à ce message, ou /retex <votre réponse> (/retex passer pour passer). Réponses "
            "reçues jusqu'au {until}."
        ),
        "en": (
            "{banner}Hot debrief {reference} “{title}” — question {index}/{total}:\n{question}\n"
            "Reply to this message, or /retex <your answer> (/retex passer to skip). Answers taken "
            "until {until}."
        ),
    },
    "retex.question_sms": {
        "fr": (
            "{banner}RETEX {reference} — question {index}/{total} : {question} Répondez « RETEX "
            "<votre réponse> » (RETEX PASSER pour passer)."
        ),
        "en": (
            "{banner}Debrief {reference} — question {index}/{total}: {question} Answer “RETEX <your "
            "answer>” (RETEX PASSER to skip)."
        ),
    },
    "retex.thanks": {
        "fr": "Merci : vos réponses au RETEX de {reference} sont enregistrées.",
        "en": "Thank you: your debrief answers for {reference} are recorded.",
    },
    "retex.recorded": {
        "fr": "Réponse {index}/{total} enregistrée.",
        "en": "Answer {index}/{total} recorded.",
    },
    "retex.none": {
        "fr": "Aucun RETEX en cours pour vous.",
        "en": "No debrief waiting for you.",
    },
    "retex.over": {
        "fr": "Le RETEX à chaud de {reference} est clos depuis le {until} : réponse non enregistrée.",
        "en": "The hot debrief of {reference} closed on {until}: answer not recorded.",
    },
    "retex.cold": {
        "fr": (
            "RETEX à froid de {reference} « {title} » (crise close le {closed}) : à organiser. Le "
            "document pré-rempli (chronologie, réponses à chaud) : vigie retex {reference} --format pdf, "
            "ou GET /api/v1/crises/{reference}/retex?format=pdf."
        ),
        "en": (
            "Cold debrief of {reference} “{title}” (closed on {closed}): to hold. The pre-filled "
            "document (timeline, hot answers): vigie retex {reference} --format pdf, or "
            "GET /api/v1/crises/{reference}/retex?format=pdf."
        ),
    },
}


# « de » / « le » / « que » before a placeholder: elided when the value starts with a vowel sound
# (« appel d'Alice Martin »). Only at placeholders, never inside what people wrote.
_ELIDABLE = re.compile(r"\b(de|le|que) \{(\w+)\}")
_VOWEL = re.compile(r"^[AEIOUYÀÂÄÉÈÊËÎÏÔÖÙÛÜaeiouyàâäéèêëîïôöùûü]")


def elide(template: str, values: dict[str, Any]) -> str:
    def one(match: re.Match[str]) -> str:
        word, name = match.group(1), match.group(2)
        if _VOWEL.match(str(values.get(name, ""))):
            return f"{word[:-1]}'{{{name}}}"
        return match.group(0)

    return _ELIDABLE.sub(one, template)


def t(key: str, lang: str = "fr", **values: Any) -> str:
    entry = TEXTS[key]
    template = entry.get(lang, entry["fr"])
    if lang == "fr" or lang not in entry:
        template = elide(template, values)
    return template.format(**values)
