"""Recipes: named, typed, complete configurations that serialise to canonical JSON and hash.

A recipe is a frozen dataclass whose fields are its options (every LIMA threshold is one), and
which knows how to scan its source and which steps to run. Recipes are written in TOML or YAML
as a ``recipe = "<named recipe>"`` to start from plus the fields to change; unknown fields and
wrong types are refused with the file and the field named. There is no global registry of step
names: a recipe class builds its steps in code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Literal

import polars as pl

from curation.errors import CurationError


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Fields every recipe has. Subclasses add their options and implement ``scan`` and ``steps``."""

    name: str = "recipe"
    seed: int = 0
    size: int = 400
    notes: tuple[str, ...] = ()

    #: The source the recipe reads (``stackexchange``, ``reddit``, ``wikihow``, ``kocot``).
    source: ClassVar[str] = ""
    #: The split the built rows are published as.
    split: ClassVar[str] = "train"

    def scan(self, paths: list[str | Path], **options) -> tuple[pl.LazyFrame, dict]:
        """Candidates and what the source saw (inputs with fingerprints, counts)."""
        raise NotImplementedError

    def steps(self) -> list:
        raise NotImplementedError

    def publish_columns(self) -> list[str]:
        """Source columns published beside the canonical ones (attribution, scores)."""
        return []

    def card_languages(self) -> list[str]:
        """Languages of the published text (the card's `language` metadata)."""
        return ["en"]

    def format_info(self) -> dict | None:
        """How prompt and response are formatted, when the recipe has a choice (manifest ``format``)."""
        return None

    # -- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict:
        data = {"recipe_type": type(self).__name__, "source": self.source}
        for f in dataclasses.fields(self):
            data[f.name] = _plain(getattr(self, f.name))
        return data

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no spaces, UTF-8."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def hash(self) -> str:
        return "sha256:" + hashlib.sha256(self.to_json().encode()).hexdigest()

    def replace(self, **changes) -> "Recipe":
        return dataclasses.replace(self, **coerce_fields(type(self), changes, where="options"))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def coerce_fields(cls: type, values: dict, *, where: str) -> dict:
    """Check ``values`` against the dataclass ``cls``'s field types; convert lists to tuples."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    out = {}
    for key, value in values.items():
        if key not in names:
            known = ", ".join(sorted(names))
            raise CurationError(f"unknown recipe option {key!r} (known: {known})", path=where)
        out[key] = _coerce(hints[key], value, key, where)
    return out


def _coerce(hint: Any, value: Any, key: str, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, key, where)
            except CurationError as exc:
                errors.append(str(exc))
        raise CurationError(f"option {key!r}: {value!r} is not {_name(hint)}", path=where)
    if origin is Literal:
        if value in args:
            return value
        raise CurationError(f"option {key!r}: {value!r} is not one of {list(args)}", path=where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise CurationError(f"option {key!r}: expected a list, got {value!r}", path=where)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, key, where) for v in value)
        if len(value) != len(args):
            raise CurationError(f"option {key!r}: expected {len(args)} items, got {value!r}", path=where)
        return tuple(_coerce(a, v, key, where) for a, v in zip(args, value))
    if origin is dict:
        if not isinstance(value, dict):
            raise CurationError(f"option {key!r}: expected a table/mapping, got {value!r}", path=where)
        return {_coerce(args[0], k, key, where): _coerce(args[1], v, key, where) for k, v in value.items()}
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    else:
        return value
    raise CurationError(f"option {key!r}: {value!r} is not {_name(hint)}", path=where)


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def load_recipe_file(path: str | Path, named: dict[str, Recipe]) -> Recipe:
    """Read a TOML or YAML recipe: ``recipe = "<named>"`` to start from, plus fields to change."""
    path = Path(path)
    if not path.is_file():
        raise CurationError("no such recipe file", path=path)
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        elif path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise CurationError("recipe files are .toml, .yaml/.yml or .json", path=path)
    except CurationError:
        raise
    except Exception as exc:
        raise CurationError(f"cannot parse recipe: {exc}".splitlines()[0], path=path) from None
    if not isinstance(data, dict):
        raise CurationError("a recipe file holds a table of options", path=path)
    data = dict(data)
    base_name = data.pop("recipe", None) or data.pop("base", None)
    data.pop("recipe_type", None)
    data.pop("source", None)
    if base_name is None:
        raise CurationError(f"say which recipe to start from: recipe = one of {sorted(named)}", path=path)
    if base_name not in named:
        raise CurationError(f"unknown recipe {base_name!r}: choose one of {sorted(named)}", path=path)
    base = named[base_name]
    return dataclasses.replace(base, **coerce_fields(type(base), data, where=str(path)))


def named_or_file(spec, named: dict[str, Recipe]) -> Recipe:
    """A named recipe, or a TOML/YAML/JSON file starting from one (each source's ``load``)."""
    if str(spec) in named:
        return named[str(spec)]
    return load_recipe_file(spec, named)
