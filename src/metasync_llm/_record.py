"""``Record``: the base of the frozen value types, cheap to define (no ``dataclasses`` import).

These types sit on the discovery path, which runs at every process start; ``dataclasses``
costs ~1 ms to import and ~0.3 ms per class. A subclass lists its fields in ``__slots__``
and writes ``__init__`` with the same parameters in the same order (setting each with
``set_field``); a slot whose name starts with ``_`` is a private cache, not a field.
``Record`` adds a field-wise ``repr``, equality, hashing, pickling,
immutability and the dataclass protocol, so ``dataclasses.fields``, ``replace`` and
``asdict`` work on every record (their field table is built on first use).
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

#: How a record's ``__init__`` sets a field, past the ``__setattr__`` that refuses to.
set_field = object.__setattr__


class _FieldTable:
    """``__dataclass_fields__``, which ``dataclasses`` reads from the class and the instance."""

    def __get__(self, instance: object, owner: type[Record]) -> dict[str, Any]:
        return _dataclass_fields(owner)


class Record:
    """A frozen, slotted value type whose fields are its ``__slots__``, in order."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    __match_args__: ClassVar[tuple[str, ...]] = ()
    __dataclass_fields__: ClassVar[_FieldTable] = _FieldTable()
    _dataclass_table: ClassVar[dict[str, Any] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._fields = tuple(
            name
            for klass in reversed(cls.__mro__)
            for name in klass.__dict__.get("__slots__", ())
            if not name.startswith("_")  # a private cache, e.g. something built on first use
        )
        cls.__match_args__ = cls._fields  # type: ignore[misc]  # per class, by design

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def _asdict(self) -> dict[str, Any]:
        """Every field by name, records within converted too (like ``dataclasses.asdict``)."""
        return {
            name: value._asdict() if isinstance(value, Record) else value
            for name, value in zip(self._fields, self._values(), strict=True)
        }

    def _replace(self, **changes: Any) -> Self:
        """A copy with some fields changed (like ``dataclasses.replace``, without its cost)."""
        values = dict(zip(self._fields, self._values(), strict=True))
        unknown = changes.keys() - values.keys()
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        values.update(changes)
        return type(self)(**values)

    def __setattr__(self, name: str, value: object) -> None:
        raise _frozen(self, name)

    def __delattr__(self, name: str) -> None:
        raise _frozen(self, name)

    def __repr__(self) -> str:
        shown = (f"{n}={getattr(self, n)!r}" for n in self._fields)
        return f"{type(self).__name__}({', '.join(shown)})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._values() == other._values()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __reduce__(self) -> tuple[Any, ...]:
        # copy and pickle rebuild through __init__: __setattr__ refuses to.
        return (self.__class__, self._values())


def _frozen(record: Record, name: str) -> AttributeError:
    from dataclasses import FrozenInstanceError  # noqa: PLC0415 - only when misused

    return FrozenInstanceError(f"cannot assign to field {name!r} of frozen {type(record).__name__}")


def _dataclass_fields(cls: type[Record]) -> dict[str, Any]:
    table: dict[str, Any] | None = cls.__dict__.get("_dataclass_table")
    if table is None:
        import dataclasses  # noqa: PLC0415 - only for dataclasses.fields/replace/asdict
        import inspect  # noqa: PLC0415

        params = inspect.signature(cls).parameters
        spec = [
            (name, Any)
            if params[name].default is params[name].empty
            else (name, Any, dataclasses.field(default=params[name].default))
            for name in cls._fields
        ]
        made = dataclasses.make_dataclass(cls.__name__, spec, frozen=True)
        table = made.__dict__["__dataclass_fields__"]
        cls._dataclass_table = table  # on the class: only instances are frozen
    return table
