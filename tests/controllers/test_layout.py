"""The shape rules every controller and read model follows, checked over the whole package."""

import importlib
import pkgutil

import pydantic
import pytest
from sqlmodel import SQLModel

import guildbase.controllers
import guildbase.models
from guildbase.models.core import GuildConfigRead
from guildbase.testing import ids

CONTROLLER_MODULES = sorted(
    info.name for info in pkgutil.iter_modules(guildbase.controllers.__path__, "guildbase.controllers.")
)


def _read_models() -> list[type[SQLModel]]:
    found: dict[str, type[SQLModel]] = {}
    for info in pkgutil.iter_modules(guildbase.models.__path__, "guildbase.models."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if name.endswith("Read") and isinstance(value, type) and issubclass(value, SQLModel):
                found[f"{value.__module__}.{name}"] = value
    return [found[key] for key in sorted(found)]


@pytest.mark.parametrize("name", CONTROLLER_MODULES)
def test_every_controller_module_declares_its_public_names(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported, f"{name} declares no __all__"
    assert all(hasattr(module, attribute) for attribute in exported)


@pytest.mark.parametrize("model", _read_models(), ids=lambda model: model.__name__)
def test_every_read_model_is_frozen(model: type[SQLModel]) -> None:
    assert model.model_config.get("frozen") is True, f"{model.__name__} is not frozen"


BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base


def test_a_shared_cached_config_cannot_be_changed_by_a_caller() -> None:
    config = GuildConfigRead.model_construct(guild_id=BLOCK + 1, prefix="$")
    with pytest.raises(pydantic.ValidationError):
        config.prefix = "!"  # type: ignore[misc]
    assert config.prefix == "$"
