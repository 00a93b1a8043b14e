"""The store's view of the models agrees with what Tortoise describes publicly."""

from __future__ import annotations

import pytest
from tortoise import Tortoise
from tortoise.models import Model

from runcast.models import ApiToken, Execution, ExecutionEvent, StepRun, Workflow, Workspace
from runcast.store import tables

MODELS = (ApiToken, Execution, ExecutionEvent, StepRun, Workflow, Workspace)


@pytest.fixture(autouse=True)
def _models() -> None:
    Tortoise.init_models(["runcast.models"], "runcast")


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_tables_and_columns_match_the_models_description(model: type[Model]) -> None:
    described = model.describe(serializable=False)
    stored = [described["pk_field"], *described["data_fields"]]
    stored += [
        {"name": f["raw_field"], "db_column": f["raw_field"]} for f in described["fk_fields"]
    ]
    assert tables.table(model) == described["table"]
    assert tables.projection(model) == {f["name"]: f["db_column"] for f in stored}


def test_values_convert_as_the_orm_stores_and_loads_them() -> None:
    stored = tables.to_db(Execution, "trigger_data", {"a": [1, 2]})
    assert isinstance(stored, str)
    assert tables.to_python(Execution, "trigger_data", stored) == {"a": [1, 2]}
