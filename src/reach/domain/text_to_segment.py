"""``POST /api/segments/text-to-segment`` without a language model: a fixed, documented set
of English phrasings, parsed deterministically into conditions. Anything else is answered
``success: false`` with a ``failureReason`` that lists what is understood.

Understood (the noun is any of customers / users / contacts / people / members, or the
caller's ``userCustomVerb``, singular or plural; case does not matter):

* ``<noun> named Ada`` / ``named Ada Lovelace`` → firstName (and lastName) equals
* ``<noun> with a phone`` / ``without an email`` → exists / not_exists (any segment field)
* ``<noun> whose birthday is in March`` → between_month_day over that month
* ``<noun> whose <field> is <value>`` → equals (true/false/numbers typed)
* ``<noun> who opted out of email|sms`` → emailOptOut / smsOptOut equals true
* ``<noun> created after|before 2024-01-31`` → createdAt greater_than / less_than
* ``emails ending in @example.com`` → email ends_with
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterable
from typing import Any

from reach.domain.segment_conditions import Condition

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_NOUNS = ("customers", "customer", "users", "user", "contacts", "contact", "people", "members")
_HELP = (
    "Try one of: 'customers named Ada', 'customers with a phone', 'customers without an "
    "email', 'customers whose birthday is in March', 'customers whose city is Paris', "
    "'customers who opted out of email', 'customers created after 2024-01-31', "
    "'emails ending in @example.com'."
)

Rule = Callable[[re.Match[str]], list[Condition] | str]


def _named(m: re.Match[str]) -> list[Condition] | str:
    parts = m["name"].split()
    found = [Condition("firstName", "equals", [parts[0]])]
    if len(parts) == 2:
        found.append(Condition("lastName", "equals", [parts[1]]))
    elif len(parts) > 2:
        return "a name is one or two words (first name, last name)"
    return found


def _with(m: re.Match[str]) -> list[Condition] | str:
    operator = "not_exists" if m["with"].lower() == "without" else "exists"
    return [Condition(_field(m["field"]), operator, [])]


def _month(m: re.Match[str]) -> list[Condition] | str:
    month = _MONTHS.get(m["month"].lower())
    if month is None:
        return f"{m['month']!r} is not a month"
    last = calendar.monthrange(2000, month)[1]  # a leap year: February ends on the 29th
    return [
        Condition(
            _field(m["field"]), "between_month_day", [f"{month:02d}-01", f"{month:02d}-{last:02d}"]
        )
    ]


def _is(m: re.Match[str]) -> list[Condition] | str:
    return [Condition(_field(m["field"]), "equals", [_typed(m["value"])])]


def _opted_out(m: re.Match[str]) -> list[Condition] | str:
    field = "smsOptOut" if m["channel"].lower() in ("sms", "text", "texts") else "emailOptOut"
    return [Condition(field, "equals", [True])]


def _created(m: re.Match[str]) -> list[Condition] | str:
    operator = "greater_than" if m["when"].lower() == "after" else "less_than"
    return [Condition("createdAt", operator, [f"{m['date']}T00:00:00Z"])]


def _ending(m: re.Match[str]) -> list[Condition] | str:
    return [Condition("email", "ends_with", [m["suffix"]])]


def _field(words: str) -> str:
    """'phone' → phone, 'email address' → email, 'first name' → firstName."""
    words = words.strip().lower().removesuffix(" address").removesuffix(" number")
    head, *rest = words.split()
    return head + "".join(w.capitalize() for w in rest)


def _typed(text: str) -> Any:
    text = text.strip().strip("\"'")
    if text.lower() in ("true", "yes"):
        return True
    if text.lower() in ("false", "no"):
        return False
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    if re.fullmatch(r"-?[0-9]+\.[0-9]+", text):
        return float(text)
    return text


def _rules(nouns: Iterable[str]) -> list[tuple[re.Pattern[str], Rule]]:
    noun = "(?:" + "|".join(re.escape(n) for n in nouns) + ")"
    table: list[tuple[str, Rule]] = [
        (rf"(?:all )?{noun} named (?P<name>[\w' -]+)", _named),
        (rf"(?:all )?{noun} (?P<with>with|without) (?:an? )?(?P<field>[a-z][\w ]*)", _with),
        (
            rf"(?:all )?{noun} whose (?P<field>[a-z][\w ]*?) (?:is|falls) in (?P<month>[a-z]+)",
            _month,
        ),
        (rf"(?:all )?{noun} whose (?P<field>[a-z][\w ]*?) (?:is|equals) (?P<value>.+)", _is),
        (
            rf"(?:all )?{noun} who (?:have )?opted out of (?P<channel>email|emails|sms|texts?)",
            _opted_out,
        ),
        (
            rf"(?:all )?{noun} created (?P<when>after|before) (?P<date>\d{{4}}-\d{{2}}-\d{{2}})",
            _created,
        ),
        (
            rf"(?:{noun} with )?emails? (?:address(?:es)? )?ending (?:in|with) (?P<suffix>\S+)",
            _ending,
        ),
    ]
    return [(re.compile(pattern, re.IGNORECASE), rule) for pattern, rule in table]


def translate(text: str, verb: str, known_fields: Iterable[str]) -> dict[str, Any]:
    """The documented answer: ``{success, failureReason, conditions, title, description}``."""
    verb = verb.strip().lower() or "user"
    nouns = sorted({*_NOUNS, verb, verb + "s"}, key=len, reverse=True)
    cleaned = " ".join(text.strip().rstrip(".!?").split())
    known = set(known_fields)
    for pattern, rule in _rules(nouns):
        match = pattern.fullmatch(cleaned)
        if match is None:
            continue
        found = rule(match)
        if isinstance(found, str):
            return _failure(found)
        # Field names match ignoring case ("createdat" is createdAt).
        by_lower = {name.lower(): name for name in known}
        found = [
            Condition(by_lower.get(c.field.lower(), c.field), c.operator, c.value) for c in found
        ]
        unknown = [c.field for c in found if c.field not in known]
        if unknown:
            return _failure(
                f"{unknown[0]!r} is not a segment field of this tenant's contacts "
                f"(one of: {', '.join(sorted(known))})"
            )
        title = cleaned[:1].upper() + cleaned[1:]
        return {
            "success": True,
            "failureReason": None,
            "conditions": [
                {"field": c.field, "operator": c.operator, "value": c.value} for c in found
            ],
            "title": title[:200],
            "description": f"{verb.capitalize()}s matching: "
            + "; ".join(f"{c.field} {c.operator.replace('_', ' ')} {c.value}" for c in found),
        }
    return _failure(f"This phrasing is not understood. {_HELP}")


def _failure(reason: str) -> dict[str, Any]:
    return {
        "success": False,
        "failureReason": reason,
        "conditions": [],
        "title": None,
        "description": None,
    }
