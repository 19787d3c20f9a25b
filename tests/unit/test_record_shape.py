"""A record made by RecordShape.row_maker (the typed tables' straight-line maker) is the record
RecordShape.make makes of the same values: the same fields in the same order, the same fields-set,
every pydantic attribute in place — for every model, full and partial shapes, any column order."""
from __future__ import annotations

import datetime as dt
import random
import sys

import pytest

from kam_xl.domain.models import MODELS, RecordShape


def _value(i: int, key: str):
    return (f"值{i}-{key}", i * 1.5, dt.date(2026, 1, 1) + dt.timedelta(days=i), None, True)[i % 5]


def _same(a, b) -> None:
    assert type(a) is type(b)
    assert list(a.__dict__.items()) == list(b.__dict__.items())
    assert a.__pydantic_fields_set__ == b.__pydantic_fields_set__
    assert a.__pydantic_extra__ is None and b.__pydantic_extra__ is None
    assert a.__pydantic_private__ is None and b.__pydantic_private__ is None
    assert sys.getsizeof(a.__dict__) == sys.getsizeof(b.__dict__)  # both share the class's keys


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("partial", [False, True])
def test_row_maker_makes_what_make_makes(name: str, partial: bool) -> None:
    model = MODELS[name]
    rnd = random.Random(f"{name}{partial}")
    fields = [k for k in model.model_fields if k != "rid"]
    for trial in range(4):
        keys = rnd.sample(fields, rnd.randint(1, len(fields)))
        shape = RecordShape(model, keys, partial)
        make_row = shape.row_maker(keys)
        for rid in range(3):
            vals = tuple(_value(rid * 7 + j + trial, k) for j, k in enumerate(keys))
            made = make_row(vals, rid)
            _same(made, shape.make(dict(zip(keys, vals)) | {"rid": rid}))
            assert made.rid == rid and all(getattr(made, k) == v for k, v in zip(keys, vals))
            if not partial:  # the fields not read take their defaults
                for k in fields:
                    if k not in keys:
                        assert getattr(made, k) == model.model_fields[k].default


def test_records_of_one_shape_share_their_keys() -> None:
    """The records of a shape keep a dict whose keys are the class's (PEP 412): as small as
    the same record made field by field."""
    model = MODELS["Visits"]
    keys = [k for k in model.model_fields if k != "rid"]
    shape = RecordShape(model, keys, True)
    a, b = (shape.row_maker(keys)(tuple(_value(i, k) for k in keys), i) for i in range(2))
    by_field = model.__new__(model)
    for k in [*keys, "rid"]:
        object.__setattr__(by_field, k, None)
    assert sys.getsizeof(a.__dict__) == sys.getsizeof(b.__dict__) == sys.getsizeof(by_field.__dict__)
