"""The one loader of a config section: a frozen dataclass with a :class:`Section` base.

``Cls.from_params(values, name)`` checks the keys of section ``name`` against the dataclass's fields (an unknown
key, or a field without a default that ``values`` lacks, raises :class:`ConfigKeyError` naming it:
``missing config key sparsify.k_end``, ``unknown config key model.foo (section model has ...)``), builds the
dataclass's nested sections (``NESTED``) and checks its enum-like keys (``CHOICES``). The values are kept as given
(no type coercion: the workflow's schema already validated them), with lists turned into tuples so that nothing in a
config can change after it is built.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import fields
from typing import Any, ClassVar, TypeVar

S = TypeVar("S", bound="Section")


class ConfigKeyError(ValueError):
    """A ``--params`` key that is missing or unknown; the message names it (``sparsify.k_end``)."""


class Section:
    """Base of a typed config section (subclasses are ``@dataclass(frozen=True)``).

    SECTION:  the section's name in ``--params`` (the default ``name`` of :meth:`from_params`)
    CHOICES:  enum-like keys, {key: the values it may take}
    NESTED:   keys that hold a section of their own, {key: its Section class}; ``None`` gives its defaults
    """

    SECTION: ClassVar[str] = ""
    CHOICES: ClassVar[dict[str, tuple]] = {}
    NESTED: ClassVar[dict[str, type[Section]]] = {}

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))

    @classmethod
    def key_names(cls) -> tuple[str, ...]:
        """Every key of the section, in declaration order."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def required(cls) -> tuple[str, ...]:
        """The keys without a default."""
        missing = dataclasses.MISSING
        return tuple(f.name for f in fields(cls) if f.default is missing and f.default_factory is missing)

    @classmethod
    def from_params(cls: type[S], values: Any, name: str | None = None, require: tuple[str, ...] = ()) -> S:
        """The section ``name`` (default ``SECTION``) of ``--params``, checked: no unknown key, every key without a
        default present (and every key of ``require``), nested sections built, enum-like keys within their choices."""
        name = name or cls.SECTION
        if not isinstance(values, Mapping):
            raise ConfigKeyError(f"config section {name} must be a mapping, got {type(values).__name__}")
        known = cls.key_names()
        unknown = [key for key in values if key not in known]
        if unknown:
            raise ConfigKeyError(f"unknown config key {name}.{unknown[0]} (section {name} has {', '.join(known)})")
        for key in dict.fromkeys((*cls.required(), *require)):
            if key not in values:
                raise ConfigKeyError(f"missing config key {name}.{key}")
        values = dict(values)
        for key, nested in cls.NESTED.items():
            value = values.get(key)
            if not isinstance(value, nested):
                values[key] = nested.from_params({} if value is None else value, f"{name}.{key}")
        section = cls(**values)
        for key, choices in cls.CHOICES.items():
            value = getattr(section, key)
            if value not in choices:
                raise ConfigKeyError(f"config key {name}.{key} must be {' or '.join(map(repr, choices))}, "
                                     f"got {value!r}")  # fmt: skip
        return section

    def as_dict(self) -> dict:
        """The section's keys and values as a plain dict (what a checkpoint stores)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
