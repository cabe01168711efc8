"""What a bot imports: ``from guildbase import …`` covers every enum and read model."""

import dataclasses
import enum
import importlib
import inspect
import pkgutil

from pydantic import BaseModel

import guildbase
import guildbase.models


def _model_modules() -> list[object]:
    names = [info.name for info in pkgutil.iter_modules(guildbase.models.__path__)]
    return [importlib.import_module(f"guildbase.models.{name}") for name in names]


def test_every_public_name_is_importable_from_guildbase() -> None:
    missing = [name for name in guildbase.__all__ if not hasattr(guildbase, name)]
    assert missing == []
    assert sorted(guildbase.__all__) == guildbase.__all__


def test_the_names_a_bot_needs_are_exported() -> None:
    from guildbase import (  # noqa: PLC0415
        Board,
        BoardEntry,
        CaseRead,
        CaseType,
        Feature,
        GuildConfigRead,
        Period,
    )
    from guildbase.models.core import Feature as FeatureInModels  # noqa: PLC0415
    from guildbase.models.moderation import CaseType as CaseTypeInModels  # noqa: PLC0415
    from guildbase.services.leaderboard import Period as PeriodInServices  # noqa: PLC0415

    assert (CaseType, Feature, Period) == (CaseTypeInModels, FeatureInModels, PeriodInServices)
    assert {field.name for field in dataclasses.fields(Board)} >= {"entries", "source"}
    assert BoardEntry(rank=1, user_id=2, xp=3).xp == 3
    assert issubclass(CaseRead, BaseModel)
    assert issubclass(GuildConfigRead, BaseModel)


def test_every_model_enum_and_read_model_is_exported() -> None:
    wanted = set()
    for module in _model_modules():
        for name, value in inspect.getmembers(module, inspect.isclass):
            if value.__module__ != module.__name__ or name.startswith("_"):  # type: ignore[attr-defined]
                continue  # imported, or a private alias
            if issubclass(value, enum.Enum) or name.endswith("Read"):
                wanted.add(name)
    assert wanted, "found no enums or read models: the scan is broken"
    assert sorted(wanted - set(guildbase.__all__)) == []
    for name in wanted:
        assert getattr(guildbase, name).__name__ == name
