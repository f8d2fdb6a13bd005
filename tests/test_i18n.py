"""Every catalog is complete in every language, compiled, and every key the code uses exists."""
import ast
from dataclasses import dataclass
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from shared.domain.owners import SUPPORTED_LANGUAGES
from shared.i18n import LOCALE_DIR, t

ROOT = Path(__file__).resolve().parents[1]


def _po_files(lang):
    return sorted((LOCALE_DIR / lang / "LC_MESSAGES").glob("*.po"))


def _messages(path, reader):
    with open(path, "rb") as fp:
        return {m.id: m.string for m in reader(fp) if m.id}


def test_every_language_has_the_same_complete_catalogs():
    names = {lang: [p.name for p in _po_files(lang)] for lang in SUPPORTED_LANGUAGES}
    assert names["ru"] and all(n == names["ru"] for n in names.values())
    keys = None
    for lang in SUPPORTED_LANGUAGES:
        merged = {}
        for po in _po_files(lang):
            merged.update(_messages(po, read_po))
        assert all(value.strip() for value in merged.values()), f"empty translations in {lang}"
        keys = keys or set(merged)
        assert set(merged) == keys, f"{lang} differs: {set(merged) ^ keys}"


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_compiled_catalogs_match_their_sources(lang):
    for po in _po_files(lang):
        assert _messages(po.with_suffix(".mo"), read_mo) == _messages(po, read_po), (
            f"{po} changed: run `pybabel compile -d shared/i18n/locales -D {po.stem}`")


def test_every_key_the_code_uses_is_in_every_catalog():
    used, unresolved = used_keys()
    assert not unresolved, "cannot tell which keys these use; resolve them in used_keys() or add to TEMPLATES:\n" + (
        "\n".join(unresolved))
    assert len(used) > 300 and {"ask.dy_notes", "diary.kind.flea_tick", "triage.likely.very_likely",
                                "diary.basis.puppy_young", "err.name_too_long", "command.help"} <= used
    for lang in SUPPORTED_LANGUAGES:
        catalog = {}
        for po in _po_files(lang):
            catalog.update(_messages(po, read_po))
        missing = sorted(used - set(catalog))
        assert not missing, f"{lang} lacks {missing}"


# ---- the keys the code uses ---------------------------------------------------------------------
# Translation calls: t(lang, KEY), tr(KEY) and context.t(KEY). A KEY is a literal, a conditional of keys,
# a local variable assigned keys, an error's `.code` (every code an InvalidInput or PhotoRejected is built
# with), or a template - an f-string or "prefix." + value - whose placeholders range over what a
# comprehension around the call iterates (`for k in Kind`), or over TEMPLATES below. Anything else is
# reported, so that no way of building a key goes unchecked.

def _templates() -> dict[str, set[tuple[str, ...]]]:
    """Placeholder values of templates whose values come from data at run time."""
    from shared.bot.handlers import vet_application, vet_schedule
    from shared.domain import bookings, conclusions, nutrition, pet_form, pets, triage, vets
    from shared.domain.diary import Kind
    from shared.domain.photos import Area

    def values(*enums):
        return {(member.value,) for enum in enums for member in enum}

    bases = {nutrition.life_stage_factor(species, age, neutered, activity)
             for species in pets.Species for age in (None, 0.1, 0.5, 1, 3, 8, 12) for neutered in pets.Neutered
             for activity in nutrition.Activity} - {None}
    return {
        "ask.{}": {(step,) for step in (*pet_form.ADD_STEPS, *pets.EDITABLE_FIELDS,  # the pet form's steps
                                        *vet_application.STEPS, *vet_schedule.TYPED_STEPS)},  # the vets' dialogs
        "breed.{}": {(breed,) for breeds in pet_form.COMMON_BREEDS.values() for breed in breeds},
        "skip.{}": {(field,) for field in pet_form.SKIPPABLE},
        "field.{}": {(field,) for field in (*pet_form.ADD_STEPS, *pets.EDITABLE_FIELDS)},  # render.answered
        "{}.{}": {(field, member.value) for field, enum in pet_form.CHOICE_FIELDS.items() for member in enum},
        "species.{}": values(pets.Species), "species_icon.{}": values(pets.Species),
        "sex.{}": values(pets.Sex), "neutered.{}": values(pets.Neutered),
        "err.{}_empty": {("name",), ("breed",)}, "err.{}_too_long": {("name",), ("breed",)},  # _bounded_text
        "diary.kind.{}": values(Kind),
        "diary.basis.{}": {(basis,) for _, basis in bases},
        "triage.area.{}": values(Area),
        "triage.likely.{}": {(triage.likelihood_word(p / 100),) for p in range(101)},
        "triage.urgency.{}": values(triage.Urgency), "triage.quality.{}": values(triage.QualityIssue),
        "triage.outcome.{}": values(triage.Outcome) - {("findings",)},  # findings are told label by label
        "triage.{}.unknown": {("meaning",), ("todo",)},
        "vet.area.{}": values(vets.Area), "vet.lang.{}": {(code,) for code in vets.LANGUAGES},
        "vet.status.{}": values(vets.VetStatus), "vet.action.{}": values(vets.Action),
        "vet.day.{}": {(str(day),) for day in range(7)},
        "vet.you_are.{}": {(status.value,) for status in vets.SCHEDULE_STATUSES},
        # after the call (domain.conclusions, handlers.conclusion)
        "conclusion.err.{}_empty": {(f,) for f in ("summary", "recommendations", "comment", "message")},
        "conclusion.err.{}_too_long": {(f,) for f in ("summary", "recommendations", "comment", "message")},
        "conclusion.class.{}.{}": {(area.value, c) for area, classes in conclusions.LABEL_CLASSES.items() for c in classes},
        "conclusion.labels.privacy.{}": {("on",), ("off",), ("unasked",)},
        # after booking (handlers.bookings): who cancelled, and the vet's reasons
        "bk.vet.cancelled_by_{}": values(bookings.Party), "bk.reason.{}": values(bookings.VetCancelReason),
    }


def test_russian_and_english_differ_and_format():
    assert t("ru", "pet.added", name="Мурка") == "Готово! Питомец «Мурка» добавлен."
    assert t("en", "pet.added", name="Rex") == "Done! Rex has been added."
    assert t("xx", "pets.empty") == t("ru", "pets.empty")


_ERRORS = ("InvalidInput", "PhotoRejected")  # exceptions whose `code` is a message key


@dataclass
class Errors:
    codes: list      # (path, the first argument of an _ERRORS exception: its code)
    api_keys: list   # (path, the key= of an ApiError, the function raising it)


def used_keys() -> tuple[set[str], list[str]]:
    """Every key the code can ask for, and the calls whose key could not be worked out."""
    modules = {path: ast.parse(path.read_text()) for folder in ("shared", "infra", "functions")
               for path in sorted((ROOT / folder).rglob("*.py"))}
    templates = _templates()
    error_codes = [(path, call.args[0]) for path, tree in modules.items() for call in ast.walk(tree)
                   if isinstance(call, ast.Call) and _name(call.func) in _ERRORS and call.args]
    # the Mini App API's errors carry a message key (`ApiError(..., key=...)`, told as `err.key`): a literal,
    # an error's code, or a local variable of the function raising it
    api_keys = [(path, keyword.value, function) for path, tree in modules.items()
                for function in ast.walk(tree) if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
                for call in ast.walk(function) if isinstance(call, ast.Call) and _name(call.func) == "ApiError"
                for keyword in call.keywords if keyword.arg == "key"]
    errors = Errors(error_codes, api_keys)
    used, unresolved = set(), []
    for path, tree in modules.items():
        for call, scopes in _translation_calls(tree):
            keys = _keys(call, scopes, path, templates, errors)
            if keys is None:
                unresolved.append(f"{path.relative_to(ROOT)}:{call.lineno}: {ast.unparse(call)}")
            else:
                used |= keys
    return used, unresolved


def _name(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _translation_calls(tree: ast.Module):
    """(call, the nodes around it, innermost last) for t(lang, key), tr(key) and x.t(key)."""
    def visit(node, scopes):
        if isinstance(node, ast.Call):
            func = node.func
            if ((isinstance(func, ast.Name) and func.id == "t" and len(node.args) >= 2)
                    or (isinstance(func, ast.Name) and func.id == "tr" and node.args)
                    or (isinstance(func, ast.Attribute) and func.attr == "t" and node.args)):
                yield node, scopes
        for child in ast.iter_child_nodes(node):
            yield from visit(child, scopes + [node])
    yield from visit(tree, [])


def _key_arg(call: ast.Call) -> ast.expr:
    return call.args[1] if isinstance(call.func, ast.Name) and call.func.id == "t" else call.args[0]


def _keys(call, scopes, path, templates, errors: "Errors") -> set[str] | None:
    function = next((s for s in reversed(scopes) if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    key = _key_arg(call)
    if isinstance(key, ast.Name) and function is not None:
        params = {a.arg for a in (*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs)}
        if key.id in params and function.name in ("t", "tr"):
            return set()  # a wrapper: its callers are checked
        if any(isinstance(node, ast.Compare) and isinstance(node.ops[0], (ast.Eq, ast.NotEq))
               and key.id in {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
               for node in ast.walk(function)):
            return set()  # looked up with a fallback (`text == key`): a missing key is expected
    return _resolve(key, scopes + [call], function, path, templates, errors)


def _resolve(expr, scopes, function, path, templates, errors: "Errors") -> set[str] | None:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return {expr.value}
    if isinstance(expr, ast.IfExp):
        a, b = (_resolve(e, scopes, function, path, templates, errors) for e in (expr.body, expr.orelse))
        return None if a is None or b is None else a | b
    if isinstance(expr, ast.Attribute) and expr.attr == "key":
        keys = set()
        for where, value, raiser in errors.api_keys:
            got = _resolve(value, [], raiser, where, templates, errors)
            if got is None:
                return None
            keys |= got
        return keys
    if isinstance(expr, ast.Attribute) and expr.attr == "code":
        codes = set()
        for where, arg in errors.codes:
            got = _resolve(arg, [], None, where, templates, Errors([], []))
            if got is None:
                return None
            codes |= got
        return codes
    if isinstance(expr, ast.Name) and function is not None:  # a local variable: what it is assigned
        values = [node.value for node in ast.walk(function) if isinstance(node, ast.Assign)
                  and any(isinstance(t_, ast.Name) and t_.id == expr.id for t_ in node.targets)]
        keys = set() if values else None  # none: a loop's target, perhaps (below)
        for value in values:
            got = _resolve(value, scopes, function, path, templates, errors)
            if got is None:
                return None
            keys |= got
        if keys is not None:
            return keys
    parts = _template_parts(expr)
    if parts is None:
        return None
    template = "".join("{}" if isinstance(p, ast.expr) else p for p in parts)
    placeholders = [p for p in parts if isinstance(p, ast.expr)]
    combos = _iterated(placeholders, scopes, path)
    if combos is None:
        combos = templates.get(template)
    if combos is None:
        return None
    return {template.format(*combo) for combo in combos}


def _template_parts(expr) -> list | None:
    """An f-string or a "+" of strings as literal text and placeholder expressions; None otherwise."""
    if isinstance(expr, ast.JoinedStr):
        return [v.value for v in expr.values]  # literal text (str) or a FormattedValue's expression
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        left, right = _template_parts(expr.left), _template_parts(expr.right)
        return None if left is None or right is None else left + right
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return [expr.value]
    return [expr]


def _iterated(placeholders, scopes, path) -> set[tuple[str, ...]] | None:
    """Placeholder values where each placeholder depends only on the target of a `for` (statement or
    comprehension) around the call whose iterable the module can evaluate, e.g. `for k in Kind`."""
    import importlib

    loops = {}
    for scope in scopes:
        generators = scope.generators if isinstance(scope, (ast.ListComp, ast.SetComp, ast.GeneratorExp,
                                                            ast.DictComp)) else [scope] if isinstance(
            scope, (ast.For, ast.AsyncFor)) else []
        for loop in generators:
            if isinstance(loop.target, ast.Name):
                loops[loop.target.id] = loop.iter
    names = [{n.id for n in ast.walk(p) if isinstance(n, ast.Name)} for p in placeholders]
    if not placeholders or not all(len(n) == 1 and n <= set(loops) for n in names):
        return None
    module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
    combos = [()]
    for placeholder, (name,) in zip(placeholders, names):
        try:
            items = list(eval(ast.unparse(loops[name]), vars(module)))  # noqa: S307 - our own source
            values = [str(eval(ast.unparse(placeholder), vars(module), {name: item})) for item in items]  # noqa: S307
        except Exception:  # noqa: BLE001 - iterates something only known at run time
            return None
        combos = [c + (v,) for c in combos for v in values]
    return set(combos)
