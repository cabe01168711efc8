"""Every controller is reachable from the facade, and every model module is registered.

A new domain's controller that nobody wires into ``Database`` is dead code a
user cannot reach; a model module that ``guildbase.models`` does not import
has tables that migrations' autogenerate and ``truncate_all`` never see. Both
checks find their subjects by walking the packages, so a new module joins
them without editing this file, and each check is shown once to catch a
deliberately broken case.
"""

import importlib
import inspect
import pkgutil
from types import ModuleType

import guildbase.controllers
import guildbase.models
from guildbase import Database, Settings
from guildbase.controllers.base import Controller
from guildbase.db.metadata import metadata


def _modules(package: ModuleType) -> list[ModuleType]:
    return [
        importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_")
    ]


def _controller_classes() -> set[type[Controller]]:
    found: set[type[Controller]] = set()
    for module in _modules(guildbase.controllers):
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, Controller) and value is not Controller and value.__module__ == module.__name__:
                found.add(value)
    return found


def unreachable(classes: set[type[Controller]], db: Database) -> set[str]:
    """The controller classes of which ``db`` exposes no instance as a public attribute."""
    wired = {type(value) for name, value in vars(db).items() if not name.startswith("_")}
    return {cls.__qualname__ for cls in classes if not any(issubclass(kind, cls) for kind in wired)}


def unregistered(modules: list[ModuleType], registered: ModuleType) -> set[str]:
    """Model modules defining tables that ``registered`` (the models package) does not import."""
    imported = {value for value in vars(registered).values() if isinstance(value, ModuleType)}
    missing = set()
    for module in modules:
        defines_tables = any(
            getattr(value, "__table__", None) is not None and getattr(value, "__module__", None) == module.__name__
            for value in vars(module).values()
        )
        if defines_tables and module not in imported:
            missing.add(module.__name__)
    return missing


def test_every_controller_is_reachable_from_the_facade() -> None:
    db = Database(Settings(database_url="postgresql://unused@127.0.0.1:1/unused"))
    classes = _controller_classes()
    assert len(classes) >= 10
    assert unreachable(classes, db) == set()


def test_a_controller_missing_from_the_facade_is_caught() -> None:
    class PollController(Controller):  # a new domain somebody forgot to wire in
        pass

    db = Database(Settings(database_url="postgresql://unused@127.0.0.1:1/unused"))
    assert unreachable({PollController}, db) == {PollController.__qualname__}


def test_every_model_module_is_registered_in_models_init() -> None:
    modules = _modules(guildbase.models)
    assert unregistered(modules, guildbase.models) == set()
    tables = {table for module in modules for table in vars(module).values() if hasattr(table, "__table__")}
    assert {t.__table__.name for t in tables if t.__table__ is not None} <= set(metadata.tables)


def test_an_unregistered_model_module_is_caught() -> None:
    throwaway = ModuleType("guildbase.models.polls")

    class Poll:  # stands in for a table model class
        __table__ = object()
        __module__ = "guildbase.models.polls"

    throwaway.Poll = Poll  # type: ignore[attr-defined]
    assert unregistered([throwaway], guildbase.models) == {"guildbase.models.polls"}
