"""Field helpers shared by every app: money is NUMERIC(38,18), codes are upper-case; and one
INSERT for append-only rows on hot paths."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import connection, models
from django.db.models.fields import NOT_PROVIDED

AMOUNT_DIGITS = 38
AMOUNT_PLACES = 18
CODE_REGEX = r"^[A-Z0-9][A-Z0-9_.-]{0,31}$"


def amount_field(**kwargs) -> models.DecimalField:
    """NUMERIC(38,18): amounts, prices, rates, haircuts and LTVs (style.md)."""
    return models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, **kwargs)


code_validator = RegexValidator(
    CODE_REGEX,
    "Use 1-32 upper-case letters, digits, '.', '_' or '-', starting with a letter or digit.",
)
iso2_validator = RegexValidator(r"^[A-Z]{2}$", "Use the two-letter ISO 3166 country code, e.g. GB.")


def code_check(field: str, name: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=models.Q(**{f"{field}__regex": CODE_REGEX}), name=name)


def columns(model: type[models.Model], alias: str) -> str:
    """The model's concrete columns as `alias."col", ...`, in field order (what Model.from_db and
    RawQuerySet expect). Hand-written SELECTs list them rather than `*`: a statement prepared
    on a connection (DB_PREPARED_STATEMENTS) fails once a migration adds a column under `*`."""
    qn = connection.ops.quote_name
    return ", ".join(f"{alias}.{qn(f.column)}" for f in model._meta.concrete_fields)


def insert_row(model: type[models.Model], **values) -> int:
    """INSERT one row of an append-only model and return its id: every concrete field, given
    (by name or attname; an instance for a foreign key) or else its default, adapted as the
    ORM's save adapts it (get_db_prep_save), without the per-instance machinery. For rows
    written on every API call (token use, request events): no signals are sent, so never use
    it for a model with history or save hooks (fields set by save() or by a database default
    are refused)."""
    names, params = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            raise TypeError(f"{model.__name__}.{field.name} is set by save(): use the ORM")
        if field.db_default is not NOT_PROVIDED:
            raise TypeError(f"{model.__name__}.{field.name} has a database default: use the ORM")
        if field.name in values:
            value = values.pop(field.name)
        elif field.attname in values:
            value = values.pop(field.attname)
        else:
            value = field.get_default()
        if field.is_relation and isinstance(value, models.Model):
            value = value.pk
        names.append(connection.ops.quote_name(field.column))
        params.append(field.get_db_prep_save(value, connection))
    if values:
        raise TypeError(f"{model.__name__} has no field {', '.join(values)}")
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} "
            f"({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))}) RETURNING "
            f"{connection.ops.quote_name(model._meta.pk.column)}",
            params,
        )
        return cur.fetchone()[0]


def insert_instance(obj: models.Model) -> models.Model:
    """Save a new instance of an append-only model with one INSERT (insert_row, same limits):
    its pk is set and it is marked saved, as create() leaves it."""
    obj.pk = insert_row(
        type(obj),
        **{
            f.attname: getattr(obj, f.attname)
            for f in obj._meta.concrete_fields
            if not f.primary_key
        },
    )
    obj._state.adding = False
    obj._state.db = connection.alias
    return obj


def get_by_pk(model: type[models.Model], pk):
    """One row by primary key, written out (no ORM compilation), or None."""
    qn = connection.ops.quote_name
    rows = model._default_manager.raw(
        f"SELECT {columns(model, 'm')} FROM {qn(model._meta.db_table)} m "
        f"WHERE m.{qn(model._meta.pk.column)} = %s",
        [pk],
    )
    return next(iter(rows), None)
